"""The load step: publish one run's batch into the corpus, in one transaction.

Idempotent by run id: a run that is already recorded as completed is not loaded again, and a
load that fails leaves nothing behind (the transaction rolls back). Articles are merged by
article id, keeping replaced texts in `article_versions`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from warehouse import queries
from warehouse.db import Target, load_fts, rollback, writing

OUTCOMES = ("new", "updated", "unchanged", "quarantined", "failed")
# The statements of warehouse/sql/load.sql, in the order one transaction runs them.
LOAD_STEPS = ("forget_run", "stage_articles", "classify", "keep_replaced_versions",
              "update_changed_articles", "touch_seen_articles", "insert_new_articles",
              "touch_not_modified", "refresh_tags", "unindex_changed",
              "index_backlog", "record_fetches",
              "record_quarantine", "release_quarantine", "record_validation", "record_run",
              "record_site_zone", "unstage")


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
    articles: pd.DataFrame    # cleaned rows that passed every critical expectation
    fetches: pd.DataFrame     # one row per requested URL, outcome loaded/quarantined/failed/None
    quarantine: pd.DataFrame  # article_id, url, reasons, record (JSON text)
    validation: pd.DataFrame  # expectations.validate.RESULT_COLUMNS


class AccountingError(RuntimeError):
    """The run's counts do not add up: some discovered URL has no state, or two."""


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
    """Load the batch, and index it for search, in one transaction; returns the run's row of
    `crawl_runs` as a dict."""
    with writing(db_path) as con:
        status = queries.run(con, "run_status", run_id=run.run_id).fetchone()
        if status and status[0] == "completed":
            return _summary(con, run.run_id)
        articles = batch.articles.assign(
            provenance=batch.articles["provenance"].map(json.dumps))
        for name, frame in (("batch_articles", articles), ("batch_fetches", batch.fetches),
                            ("batch_quarantine", batch.quarantine),
                            ("batch_validation", batch.validation)):
            con.register(name, frame)
        params = {**run.params(), "seen_at": run.started_at, "finished_at": finished_at}
        load_fts(con)  # the search index's stemmer
        con.execute("BEGIN TRANSACTION")
        try:
            for step in LOAD_STEPS:
                queries.run(con, step, **params)
            summary = _summary(con, run.run_id)
            _check_accounting(summary)
            con.execute("COMMIT")
        except BaseException:
            rollback(con)
            raise
        return summary


def record_failed_run(db_path: Target, run: RunInfo, finished_at: datetime, error: str,
                      validation: pd.DataFrame | None = None) -> None:
    """Leave a trace of a run that failed before its load (with its validation results, when
    validation stopped it), unless the run already completed."""
    with writing(db_path) as con:
        status = queries.run(con, "run_status", run_id=run.run_id).fetchone()
        if status and status[0] == "completed":
            return
        con.execute("BEGIN TRANSACTION")
        queries.run(con, "forget_run", run_id=run.run_id)
        queries.run(con, "record_failed_run", **run.params(), finished_at=finished_at,
                    error=error[:2000])
        if validation is not None:
            con.register("batch_validation", validation)
            queries.run(con, "record_validation", run_id=run.run_id)
        con.execute("COMMIT")
