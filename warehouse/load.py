"""The load protocol: stage a run's batch, then merge staged runs into the corpus.

- **Stage.** The run appends its whole batch to the staging tables (migrations/006), in one
  transaction, insert-only and without the write lock, so many writers stage at once; a
  commit conflict is retried. The articles are read from the Parquet parts the extraction
  wrote (extract/parts.py), not from the flow's memory.
- **Merge.** One merge step at a time (the write lock of `warehouse.db.writing`, and under
  Prefect the global concurrency limit of flows/runs.py) publishes every staged run, oldest
  first, each in one transaction: articles merged by id (replaced texts kept in
  `article_versions`), tags, quarantine and releases, the fetches, the validation results
  and the run's row. Then the search index takes the run's new and changed articles, in
  transactions of its own, and the run's stage is deleted. DuckLake has no keys, and
  concurrent MERGEs duplicate rows; one merge lane is what keeps ids unique.

It is idempotent by run id: a completed run is neither staged nor merged again. A run killed
after staging is not lost: the next merge, whoever runs it, publishes it (each run begins with
one, flows/runs.py). The same protocol runs on a DuckDB file and on a lake.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from config import settings
from extract.parts import Parts
from warehouse import queries
from warehouse.db import Target, load_fts, rollback, writing

OUTCOMES = ("new", "updated", "unchanged", "quarantined", "failed")
# A run summary's counts: what a flow of many runs (a backfill, an import) adds up.
COUNTS = ("discovered", "fetched", *OUTCOMES, "not_modified")
# The statements of warehouse/sql/load.sql that merge one staged run, in order.
MERGE_STEPS = ("forget_run", "classify", "keep_replaced_versions",
              "delete_replaced_articles", "touch_seen_articles", "record_unknown_precision",
              "insert_articles", "touch_not_modified", "refresh_tags", "record_fetches",
              "record_quarantine", "release_quarantine", "record_validation", "record_run",
              "record_site_zone")
# Merge steps that read the corpus, and the outcome whose articles they act on: the copy of
# replaced versions and the updates of list columns (tags, labels, authors), which DuckDB
# makes by rewriting the row, read every row whole, text included, even when no row
# qualifies: at 200k articles, 0.2-0.5 s and some 200 MiB of DuckDB's buffers each (by hand),
# at every chunk of a backfill, where every article is new. They run only when some do, and
# so does the delete of the rows that changed articles replace.
WHOLE_ROW_STEPS = {"keep_replaced_versions": "updated", "delete_replaced_articles": "updated",
                   "touch_seen_articles": "unchanged"}
# Threads DuckDB reads the batch's Parquet parts with while it stages them: with two, their
# readers' buffers grew the process by 110 MiB at 10k articles against 80 with one, for
# 0.2 s more (by hand; docs/performance.md, "The batch in parts on disk").
STAGE_THREADS = 1
# Threads of the merge's transaction: merging 48,257 new articles grew the process by 184 MiB
# on one against 214-221 on two, in as long. Not of its search index's slices: with those on
# one thread too, that merge took 16 s against 11 (by hand; docs/performance.md, "The
# merge's transaction on one thread").
MERGE_THREADS = 1
# The merge indexes INDEX_SLICE for search at once, each slice in a transaction of its own:
# 1,000 took 15-22 MiB off a 10k run's peak against 2,500, and 500 took no more off ("The
# search index after the merge", "Two heaps and smaller index slices").
INDEX_SLICE = 1000
# Before a run's merge, its changed articles leave the search index UNINDEX_SLICE at a time,
# each slice in a transaction of its own followed, on a DuckDB file, by a checkpoint: what
# deletes mark stayed in DuckDB's memory until a checkpoint. Deleting the index of
# the 193,028 changed articles of a 200k corpus (19.5 million rows) in the merge's one
# transaction failed at 512MB; in slices of 20,000 with a checkpoint each, it took 5.8 s
# under 128MB (by hand; docs/performance.md, "A whole corpus changed").
UNINDEX_SLICE = 20_000
# How often a transaction is tried while its commit conflicts with another writer's (a lake).
COMMIT_ATTEMPTS = 8


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    site: str
    base_url: str
    mode: str
    started_at: datetime
    archive_dir: str
    timezone: str  # the site profile's: how people read this site's times
    flow_run_id: str | None = None
    window_since: datetime | None = None  # a backfill chunk's publication window
    window_until: datetime | None = None

    def params(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "flow_run_id": self.flow_run_id, "site": self.site,
                "base_url": self.base_url, "mode": self.mode, "started_at": self.started_at,
                "archive_dir": self.archive_dir, "window_since": self.window_since,
                "window_until": self.window_until, "timezone": self.timezone}


@dataclass(frozen=True)
class Batch:
    articles: Parts           # cleaned rows that passed every critical expectation
    fetches: pd.DataFrame     # one row per requested URL, outcome loaded/quarantined/failed/None
    quarantine: pd.DataFrame  # article_id, url, reasons, record (JSON text)
    validation: pd.DataFrame  # expectations.validate.RESULT_COLUMNS


class AccountingError(RuntimeError):
    """The run's counts do not add up: some discovered URL has no state, or two."""


def add_counts(totals: dict[str, int], summary: dict[str, Any]) -> dict[str, int]:
    """`totals` with one run's summary counts added (in place)."""
    for key in COUNTS:
        totals[key] = totals.get(key, 0) + int(summary.get(key) or 0)
    return totals


def _summary(con: Any, run_id: str) -> dict[str, Any]:
    found = queries.rows(con, "run_summary", run_id=run_id)
    return found[0] if found else {}


def _check_accounting(summary: dict[str, Any]) -> None:
    total = sum(summary[o] for o in OUTCOMES)
    if total != summary["discovered"]:
        raise AccountingError(
            f"run {summary['run_id']}: discovered {summary['discovered']} URLs but "
            + ", ".join(f"{o} {summary[o]}" for o in OUTCOMES) + f" add up to {total}")


def load_run(db_path: Target, run: RunInfo, batch: Batch,
             finished_at: datetime) -> dict[str, Any]:
    """Stage the batch, then merge; returns the run's row of `crawl_runs` as a dict."""
    if (done := stage_run(db_path, run, batch, finished_at)) is not None:
        return done
    return merge_staged(db_path, own=run.run_id)[run.run_id]


def stage_run(db_path: Target, run: RunInfo, batch: Batch,
              finished_at: datetime) -> dict[str, Any] | None:
    """Append the run's batch to the staging tables, in one transaction; returns the run's
    summary instead when it has completed already (nothing is staged then)."""
    params = {**run.params(), "finished_at": finished_at}
    with writing(db_path, lock=False, memory=settings.STAGE_MEMORY) as con:
        if _completed(con, run.run_id):
            return _summary(con, run.run_id)
        for name, frame in (("batch_fetches", batch.fetches),
                            ("batch_quarantine", batch.quarantine),
                            ("batch_validation", batch.validation),
                            ("batch_rows", batch.articles.keys[["part_file", "part_row"]])):
            con.register(name, frame)
        stage_id = uuid.uuid4().hex

        def statements() -> None:
            queries.run(con, "stage_run", **params, stage_id=stage_id)
            if len(batch.articles):
                queries.run(con, "stage_articles", **params, stage_id=stage_id,
                            parts=batch.articles.files)
        with threads(con, STAGE_THREADS):
            _transaction(con, statements)
    return None


@contextmanager
def threads(con: duckdb.DuckDBPyConnection, count: int) -> Iterator[None]:
    """DuckDB's threads on `con` for a `with` block, then its default again."""
    con.execute("SET threads = ?", [count])
    try:
        yield
    finally:
        con.execute("RESET threads")


@dataclass(frozen=True)
class StagedRun:
    """A run waiting in the staging tables: one row of `staged_runs`, read by the merge."""

    run: RunInfo
    stage_id: str
    finished_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StagedRun:
        row = dict(row)
        stage_id, finished_at = row.pop("stage_id"), row.pop("finished_at")
        return cls(RunInfo(**row), stage_id, finished_at)


def merge_staged(db_path: Target, own: str | None = None) -> dict[str, dict[str, Any]]:
    """Publish every staged run, oldest first, each in one transaction; returns the merged
    runs' summaries by run id (and `own`'s, when it had completed before).

    Before a run's merge, its changed articles leave the search index (`unindex_changed`, a
    transaction per slice). After its merge commits, its new and changed articles join the
    index (`index_backlog`, a transaction per slice), so that the merge's transaction does not
    hold their words as well (docs/performance.md, "The search index after the merge"). A
    merge that dies in between leaves them out of the index; the next merge indexes them.

    A run's stage is deleted after its merge commits, in a transaction of its own: a DELETE
    in the merge's transaction would conflict with the inserts of runs staging meanwhile
    (DuckLake refuses a delete from a table that another transaction inserted into). A stage
    whose run completed is only deleted, so a merge never publishes a run twice.

    A staged run whose counts do not add up is recorded as failed, with the reason, and its
    stage dropped: it must not stop the runs behind it. When it is the caller's own run
    (`own`), the AccountingError is raised as well.
    """
    merged: dict[str, dict[str, Any]] = {}
    with writing(db_path) as con:
        load_fts(con)  # the search index's stemmer
        for staged in map(StagedRun.from_row, queries.rows(con, "pending_stages")):
            run_id = staged.run.run_id
            unindex_changed(con, staged.stage_id, checkpoint=isinstance(db_path, Path))
            try:
                with threads(con, MERGE_THREADS):
                    summary = _transaction(con, partial(_merge, con, staged))
            except AccountingError as error:
                _transaction(con, partial(_record_failed, con, staged.run, staged.finished_at,
                                          str(error)))
                _transaction(con, partial(queries.run, con, "unstage", run_id=run_id))
                if run_id == own:
                    raise
                continue
            if summary is not None:
                merged[run_id] = summary
            index_backlog(con, staged.stage_id,
                          summary["new"] + summary["updated"] if summary else 0)
            _transaction(con, partial(queries.run, con, "unstage", run_id=run_id))
        if own is not None and own not in merged:  # it completed before: a retried run
            merged[own] = _summary(con, own)
    return merged


def _merge(con: duckdb.DuckDBPyConnection, staged: StagedRun) -> dict[str, Any] | None:
    """Merge one staged run (inside a transaction); None when it had completed already."""
    run = staged.run
    if _completed(con, run.run_id):
        return None
    params = {**run.params(), "stage_id": staged.stage_id, "seen_at": run.started_at,
              "finished_at": staged.finished_at}
    outcomes: dict[str, int] = {}
    for step in MERGE_STEPS:
        if step not in WHOLE_ROW_STEPS or outcomes.get(WHOLE_ROW_STEPS[step]):
            queries.run(con, step, **params)
        if step == "classify":  # what the run's articles are: new, updated or unchanged
            outcomes = {row["outcome"]: row["articles"]
                        for row in queries.rows(con, "outcome_counts")}
    summary = _summary(con, run.run_id)
    _check_accounting(summary)
    return summary


def unindex_changed(con: duckdb.DuckDBPyConnection, stage_id: str, checkpoint: bool) -> None:
    """Take the staged run's changed articles out of the search index, UNINDEX_SLICE at a
    time, each slice in a transaction of its own (and a CHECKPOINT after it when
    `checkpoint`: on a DuckDB file, not on a lake, where CHECKPOINT is a maintenance run).

    Until the merge commits and its index step runs, those articles are missing from search
    results, as they are between the merge and its index step. If the merge fails, they are
    missing until the next merge's index step, which indexes every article the index lacks,
    with the text the corpus holds.
    """
    def unindex_slice() -> int:
        return queries.count(con, "unindex_slice", stage_id=stage_id, articles=UNINDEX_SLICE)

    while _transaction(con, unindex_slice):
        if checkpoint:
            con.execute("CHECKPOINT")


def index_backlog(con: duckdb.DuckDBPyConnection, stage_id: str | None = None,
                  staged_articles: int = 0) -> None:
    """Put every article that is not in the search index into it, INDEX_SLICE at a time,
    each slice in a transaction of its own.

    Each indexed article has one `search_docs` row, so the backlog is as large as the articles
    outnumber those rows: a load with nothing to index does not look for it. When the backlog
    is the staged run's new and updated articles (`stage_id`, `staged_articles` of them: none
    is indexed yet), they are read from the staging table. Otherwise (a merge that died
    before its index, a migration that emptied it) the corpus is searched for the articles
    the index lacks: at 200k articles, each search reads the corpus's text (0.15-0.43 s, and
    some 200 MiB of DuckDB's buffers).
    """
    backlog = queries.count(con, "index_backlog_size")
    staged = stage_id is not None and backlog == staged_articles
    query, params = ("staged_backlog", {"stage_id": stage_id}) if staged else ("corpus_backlog", {})

    def index_slice() -> int:
        queries.run(con, query, **params, articles=INDEX_SLICE)
        return queries.count(con, "index_slice")

    while backlog > 0:
        indexed = _transaction(con, index_slice)
        if indexed == 0:  # fewer articles to index than the counts said: all are indexed
            break
        backlog -= indexed


T = TypeVar("T")


def _transaction(con: duckdb.DuckDBPyConnection, statements: Callable[[], T]) -> T:
    """`statements` in one transaction; again, after a pause, while its commit conflicts with
    another writer's (on a lake: a stage beside a merge's deletes), up to COMMIT_ATTEMPTS."""
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            result = statements()
            con.execute("COMMIT")
            return result
        except duckdb.TransactionException as error:
            rollback(con)
            if "conflict" not in str(error).lower() or attempt == COMMIT_ATTEMPTS:
                raise
        except BaseException:
            rollback(con)
            raise
        time.sleep(random.uniform(0.05, 0.1) * 2 ** attempt)
    raise AssertionError("unreachable")


def _completed(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    status = queries.run(con, "run_status", run_id=run_id).fetchone()
    return bool(status and status[0] == "completed")


def record_failed_run(db_path: Target, run: RunInfo, finished_at: datetime, error: str,
                      validation: pd.DataFrame | None = None) -> None:
    """Leave a trace of a run that failed before its load (with its validation results, when
    validation stopped it), unless the run already completed."""
    with writing(db_path) as con:
        if not _completed(con, run.run_id):
            _transaction(con, partial(_record_failed, con, run, finished_at, error, validation))


def _record_failed(con: duckdb.DuckDBPyConnection, run: RunInfo, finished_at: datetime,
                   error: str, validation: pd.DataFrame | None = None) -> None:
    queries.run(con, "forget_run", run_id=run.run_id)
    queries.run(con, "record_failed_run", **run.params(), finished_at=finished_at,
                error=error[:2000])
    if validation is not None:
        con.register("batch_validation", validation)
        queries.run(con, "record_failed_validation", run_id=run.run_id)
