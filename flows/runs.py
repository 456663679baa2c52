"""Run bookkeeping shared by the flows: run ids, global limits, summaries, failures."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact
from prefect.concurrency.sync import concurrency

from flows import quality, settings
from flows.summary import markdown_summary
from reports import data_docs
from warehouse.db import WarehouseBusyError
from warehouse.load import RunInfo, record_failed_run


def new_run_id(now: datetime, prefix: str = "") -> str:
    """A run id; under Prefect, the same for every retry of one flow run, so a retried run
    finds its finished crawl (and, when it got that far, its completed load) and goes on."""
    flow_run = runtime.flow_run.id
    scheduled = runtime.flow_run.scheduled_start_time if flow_run else None
    if flow_run and scheduled:
        return f"{prefix}{scheduled:%Y%m%dT%H%M%SZ}-{str(flow_run).replace('-', '')[:6]}"
    return f"{prefix}{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@contextmanager
def global_limit(name: str) -> Iterator[None]:
    """Hold one slot of a Prefect global concurrency limit, when running against a server.

    `newscorpus deploy` creates the limits on the server. A local run (Prefect's temporary
    server, no PREFECT_API_URL) has none; there DuckDB's lock and lock wait serialize writers.
    """
    if not os.environ.get("PREFECT_API_URL"):
        yield
        return
    with concurrency(name, occupy=1, timeout_seconds=3600):
        yield


def publish(summary: dict[str, Any], started: datetime, db: Path,
            data_dir: str | None = None) -> dict[str, Any]:
    """Add the timing, refresh the data docs, publish the summary as a Prefect artifact."""
    docs = data_docs.build(db, settings.data_dir(data_dir) / "docs")
    summary = {**summary, "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
               "db": str(db), "data_docs": str(docs)}
    create_markdown_artifact(key="run-summary", markdown=markdown_summary(summary),
                             description=f"newscorpus {summary.get('mode')} run "
                                         f"{summary.get('run_id')}")
    get_run_logger().info("Run %s: %s", summary.get("run_id"), json.dumps(summary, default=str))
    return summary


def record_failure(db: Path, run: RunInfo, error: BaseException,
                   data_dir: str | None = None) -> None:
    """Record the failed run (drift is recorded by process_archive) and refresh the docs."""
    try:
        if not isinstance(error, quality.DriftError):
            get_run_logger().error("Run %s failed: %s", run.run_id, error)
            record_failed_run(db, run, datetime.now(UTC), f"{type(error).__name__}: {error}")
        data_docs.build(db, settings.data_dir(data_dir) / "docs")
    except WarehouseBusyError:
        get_run_logger().warning("Could not record the failed run: the database is busy")


def flow_run_id() -> str | None:
    return str(runtime.flow_run.id) if runtime.flow_run.id else None
