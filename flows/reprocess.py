"""The `reprocess` flow: re-extract archived responses with the current code, offline.

It reads the WARC files that earlier runs left, never the network, and loads the result as a
run of mode "reprocess". With unchanged code nothing changes; after a parser fix exactly the
affected articles get a new version (the old text goes to `article_versions`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
from prefect import flow

from config import settings
from flows.fanout import not_completed, run_on_pool
from flows.process import process_archive
from flows.runs import flow_run_id, new_run_id, publish, recorded
from sites import load_profile
from spiders.fetches import FetchRow, fetch_frame
from warehouse import state
from warehouse.db import Target, one_lock_wait, target
from warehouse.load import COUNTS, RunInfo, add_counts


class NothingToReprocessError(LookupError):
    """No archived response matches the selection."""


@flow(name="reprocess")
def reprocess(site: str = "demo", base_url: str | None = None, run: str | None = None,
              since: date | None = None, until: date | None = None,
              urls: list[str] | None = None, db: str | None = None,
              data_dir: str | None = None, warehouse: str | None = None,
              lake_data: str | None = None, fan_out: bool = False,
              batch_pages: int = 5000, run_id: str | None = None) -> dict[str, Any]:
    """Re-extract the newest archived page of each selected article and load the result.

    Args:
        site: the site profile whose archives to reprocess.
        base_url: the base URL the archives were crawled from (the demo default for "demo").
        run: only the pages archived by this run id.
        since: only articles published on or after this day (site time).
        until: only articles published on or before this day (site time).
        urls: only these pages (how `newscorpus quarantine release` retries held-back pages).
        db: the DuckDB file (default `data/corpus.duckdb`).
        warehouse: `duckdb` (the default: the file `db`) or `ducklake:postgres:<libpq
            string>`, a lake whose catalog is in PostgreSQL ($NEWSCORPUS_WAREHOUSE).
        lake_data: a lake's data folder (default `<data_dir>/lake`, $NEWSCORPUS_LAKE_DATA).
        data_dir: where archives live (default `data/`); with `fan_out`, a folder that every
            worker sees.
        fan_out: reprocess the selection in batches of `batch_pages` pages, each a flow run
            of the `reprocess-batch` deployment that the work pool's workers share, and
            wait for them.
        batch_pages: pages per batch, with `fan_out`.
        run_id: the run's id instead of a new one; a run that completed is not redone (how
            a fanned-out reprocess names its batches).
    """
    started = datetime.now(UTC)
    corpus = target(db, data_dir, warehouse, lake_data)
    profile = load_profile(site, base_url or (settings.demo_base_url() if site == "demo"
                                              else None))
    if run_id and state.completed(corpus, run_id):
        return state.run_summary(corpus, run_id)
    start = datetime.combine(since, time(), profile.tz) if since else None
    end = datetime.combine(until + timedelta(days=1), time(), profile.tz) if until else None
    with one_lock_wait():  # the selection's read and the run's, together
        responses = state.archived_responses(corpus, profile, run, start, end, urls)
        if responses.empty:
            raise NothingToReprocessError(
                f"no archived page of {profile.name} matches (run={run}, since={since}, "
                f"until={until}, urls={len(urls) if urls else None}) in {corpus}")
        run_id = run_id or new_run_id(started, "reprocess-")
        if fan_out:
            return _fan_out(profile.name, profile.base_url, run_id,
                            batches(responses, batch_pages), started, corpus, data_dir,
                            db=db, warehouse=warehouse, lake_data=lake_data)
        fetches = fetch_frame([
            FetchRow(url=r.url, kind="article", final_url=r.url, status=200,
                     fetched_at=str(r.fetched_at), warc_file=r.warc_file,
                     warc_offset=int(r.warc_offset), etag=r.etag, last_modified=r.last_modified,
                     content_type=r.content_type)
            for r in responses.itertuples(index=False)])
        run_info = RunInfo(run_id=run_id, site=profile.name,
                           base_url=profile.base_url, mode="reprocess", started_at=started,
                           timezone=profile.timezone, archive_dir="", flow_run_id=flow_run_id())
        with recorded(run_info, corpus, data_dir):
            summary = process_archive(profile, run_info, fetches, corpus)
            return publish(summary, started, corpus, data_dir)


def batches(responses: pd.DataFrame, size: int) -> list[list[str]]:
    """The selected pages' URLs in batches of at most `size`, in archive order, so that a
    batch reads few WARC files, each from front to back."""
    if size < 1:
        raise ValueError(f"batch_pages must be at least 1, got {size}")
    ordered = responses.sort_values(["warc_file", "warc_offset"])["url"].tolist()
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


BATCH_DEPLOYMENT = "reprocess/reprocess-batch"


class BatchesFailedError(RuntimeError):
    """Batches of a fanned-out reprocess did not complete; a rerun redoes their pages."""


def _fan_out(site: str, base_url: str, run_id: str, parts: list[list[str]], started: datetime,
             corpus: Target, data_dir: str | None, **params: Any) -> dict[str, Any]:
    """One `reprocess-batch` flow run per batch, as the runs `<run_id>-<n>`, on the work pool
    (flows/fanout.py); their counts added up, published as the reprocess's summary."""
    names = {f"{run_id}-{n:03d}": urls for n, urls in enumerate(parts, 1)}
    ended = run_on_pool(BATCH_DEPLOYMENT, {
        name: {**params, "site": site, "base_url": base_url, "urls": urls, "run_id": name,
               "data_dir": data_dir}
        for name, urls in names.items()})
    if failed := not_completed(ended):
        raise BatchesFailedError(f"{len(failed)} of {len(ended)} batches did not complete: "
                                 + ", ".join(failed))
    totals = dict.fromkeys(COUNTS, 0)
    for name in names:
        add_counts(totals, state.run_summary(corpus, name))
    return publish({"run_id": run_id, "mode": "reprocess", "status": "completed",
                    "batches": len(names), **totals}, started, corpus, data_dir)
