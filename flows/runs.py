"""What every flow shares: run ids, the global concurrency limits, and the frame of a run
(a failure recorded with its cause, the data docs refreshed, the summary published).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import pandas as pd
from prefect import get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE as NO_CACHE
from prefect.concurrency.sync import concurrency
from prefect.utilities.annotations import quote

from config import settings
from expectations.quality import DriftError
from reports import data_docs
from reports.summary import markdown_summary
from warehouse import journal, state
from warehouse.db import (
    Target,
    WarehouseBusyError,
    WarehouseReadOnlyError,
    WarehouseStorageError,
    one_lock_wait,
)
from warehouse.lake import Lake
from warehouse.load import RunInfo, merge_staged, record_failed_run

# Global concurrency limits, created on the server by `newscorpus deploy` (flows/deploy.py).
WAREHOUSE_LIMIT = "newscorpus-warehouse"  # one merge at a time
CRAWLS_PER_SITE = 2
# A slot's lease, renewed while its holder lives: a killed worker's slot is free again after
# at most this long (Prefect's shortest lease; its default is 300 s).
LEASE_SECONDS = 60


T = TypeVar("T")


def unwalked(value: T) -> T:
    """`value` as a task argument that Prefect does not walk for futures: a crawl plan of
    200k known URLs, or a batch of extracted rows, took it seconds. Typed as the value."""
    return cast(T, quote(value))


def crawl_limit(site: str) -> str:
    """The limit that keeps the crawls of one site to CRAWLS_PER_SITE at once."""
    return f"newscorpus-crawl-{site}"


def site_limit(site: str) -> str:
    """The limit of one slot that keeps two `news_pipeline` runs of one site apart."""
    return f"newscorpus-run-{site}"


def new_run_id(now: datetime, prefix: str = "") -> str:
    """A run id; under Prefect, the same for every retry of one flow run, so a retried run
    finds its finished crawl (and, when it got that far, its completed load) and goes on."""
    flow_run = runtime.flow_run.id
    scheduled = runtime.flow_run.scheduled_start_time if flow_run else None
    if flow_run and scheduled:
        return f"{prefix}{scheduled:%Y%m%dT%H%M%SZ}-{str(flow_run).replace('-', '')[:6]}"
    return f"{prefix}{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def flow_run_id() -> str | None:
    return str(runtime.flow_run.id) if runtime.flow_run.id else None


@contextmanager
def global_limit(name: str) -> Iterator[None]:
    """Hold one slot of a Prefect global concurrency limit, when running against a server.

    `newscorpus deploy` and `newscorpus server start` create the limits on the server. A
    command's temporary server (config/server.py) has none; there the warehouse's own lock and
    lock wait serialize writers.
    """
    if not os.environ.get("PREFECT_API_URL") or settings.on_temporary_server():
        yield
        return
    with concurrency(name, occupy=1, timeout_seconds=3600, lease_duration=LEASE_SECONDS):
        yield


@task(cache_policy=NO_CACHE)
def merge(db: Target, run_id: str | None = None) -> dict[str, dict[str, Any]]:
    """Publish every staged run (warehouse/load.py); the merged runs' summaries by run id.

    One merge at a time: merges into a lake queue on the global concurrency limit
    WAREHOUSE_LIMIT, where `newscorpus deploy` created it, and on the lake's write lock
    without a server. Into a DuckDB file, the file's lock is the queue (one writer at a time,
    stages included): the limit added only a request to the server, which a busy SQLite
    server answered with a 2 s retry (docs/performance.md, Start-up). Not retried: opening
    the database waits what is left of the run's lock wait (warehouse/db.py,
    `one_lock_wait`), and a retry would wait again.
    """
    with global_limit(WAREHOUSE_LIMIT) if isinstance(db, Lake) else nullcontext():
        merged = merge_staged(db, own=run_id)
    if earlier := [other for other in merged if other != run_id]:
        get_run_logger().info("Published %d runs staged earlier and not merged: %s",
                              len(earlier), ", ".join(earlier))
    return merged


@contextmanager
def recorded(run: RunInfo, db: Target, data_dir: str | None) -> Iterator[None]:
    """The frame of one run: its opens of the database share one lock wait; it begins by
    publishing runs that earlier processes staged and did not merge (killed in the merge), so
    that this run plans on the corpus as they left it; when the block raises, the run is
    recorded as failed with its cause (a drift alarm with the validation results that raised
    it), then the error is re-raised.

    A failure the database cannot take now (busy, read-only, or its disk full) is kept in the
    journal, and recorded by the next run that ends here."""
    journal_dir = settings.data_dir(data_dir) / "journal"
    with one_lock_wait():
        try:
            if state.staged_runs(db):
                merge(db)
            yield
        except Exception as error:
            # For the server's log and a worker's console: the command that started the run
            # prints the error itself, once (`console` is read by newscorpus/cli.py).
            get_run_logger().error("Run %s failed: %s", run.run_id, error,
                                   extra={"console": False})
            results = error.results if isinstance(error, DriftError) else None
            failure = journal.FailedRun(
                run=run, finished_at=datetime.now(UTC), error=_cause(error),
                validation=None if results is None else results.to_dict("records"))
            if _record(db, journal_dir, failure, results):
                data_docs.build(db, settings.data_dir(data_dir) / "docs")
            raise
        _replay(db, journal_dir)


def _record(db: Target, journal_dir: Path, failure: journal.FailedRun,
            results: pd.DataFrame | None) -> bool:
    """Record the failed run, and the journal's runs after it; False if it could not be
    recorded now (it went to the journal, or, if even that failed, only to the log)."""
    try:
        record_failed_run(db, failure.run, failure.finished_at, failure.error, results)
    except (WarehouseBusyError, WarehouseStorageError, WarehouseReadOnlyError) as unrecorded:
        try:
            kept = journal.keep(journal_dir, failure)
        except OSError as lost:  # the data dir is full or read-only too
            get_run_logger().error("Could not record the failed run (%s), nor keep it in %s "
                                   "(%s)", unrecorded, journal_dir, lost)
            return False
        get_run_logger().warning("Could not record the failed run (%s); kept in %s for the "
                                 "next run to record", unrecorded, kept)
        return False
    _replay(db, journal_dir)
    return True


def _replay(db: Target, journal_dir: Path) -> None:
    if replayed := journal.replay(db, journal_dir):
        get_run_logger().info("Recorded %d failed runs kept in %s: %s", len(replayed),
                              journal_dir, ", ".join(replayed))


def _cause(error: BaseException) -> str:
    return str(error) if isinstance(error, DriftError) else f"{type(error).__name__}: {error}"


def publish(summary: dict[str, Any], started: datetime, db: Target,
            data_dir: str | None = None) -> dict[str, Any]:
    """Add the timing, refresh the data docs (the run's own page among them), publish the
    summary as a Prefect artifact that links to both."""
    folder = settings.data_dir(data_dir) / "docs"
    docs = data_docs.build(db, folder)
    page = data_docs.run_page(folder, summary["run_id"])  # none for a backfill's whole window
    summary = {**summary, "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
               "db": str(db), "data_docs": str(docs),
               **({"run_page": str(page)} if page.is_file() else {})}
    create_markdown_artifact(key="run-summary", markdown=markdown_summary(summary),
                             description=f"newscorpus {summary.get('mode')} run "
                                         f"{summary.get('run_id')}")
    get_run_logger().info("Run %s: %s", summary.get("run_id"), json.dumps(summary, default=str))
    return summary
