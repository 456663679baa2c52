"""The `reprocess` flow: re-extract archived responses with the current code, offline.

It reads the WARC files that earlier runs left, never the network, and loads the result as a
run of mode "reprocess". With unchanged code nothing changes; after a parser fix exactly the
affected articles get a new version (the old text goes to `article_versions`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from prefect import flow

from config import settings
from flows.process import process_archive
from flows.runs import flow_run_id, new_run_id, publish, recorded
from sites import load_profile
from spiders.fetches import FetchRow, fetch_frame
from warehouse import state
from warehouse.db import one_lock_wait, target
from warehouse.load import RunInfo


class NothingToReprocessError(LookupError):
    """No archived response matches the selection."""


@flow(name="reprocess")
def reprocess(site: str = "demo", base_url: str | None = None, run: str | None = None,
              since: date | None = None, until: date | None = None,
              urls: list[str] | None = None, db: str | None = None,
              data_dir: str | None = None, warehouse: str | None = None,
              lake_data: str | None = None) -> dict[str, Any]:
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
        data_dir: where archives live (default `data/`).
    """
    started = datetime.now(UTC)
    corpus = target(db, data_dir, warehouse, lake_data)
    profile = load_profile(site, base_url or (settings.demo_base_url() if site == "demo"
                                              else None))
    start = datetime.combine(since, time(), profile.tz) if since else None
    end = datetime.combine(until + timedelta(days=1), time(), profile.tz) if until else None
    with one_lock_wait():  # the selection's read and the run's, together
        responses = state.archived_responses(corpus, profile, run, start, end, urls)
        if responses.empty:
            raise NothingToReprocessError(
                f"no archived page of {profile.name} matches (run={run}, since={since}, "
                f"until={until}, urls={len(urls) if urls else None}) in {corpus}")
        fetches = fetch_frame([
            FetchRow(url=r.url, kind="article", final_url=r.url, status=200,
                     fetched_at=str(r.fetched_at), warc_file=r.warc_file,
                     warc_offset=int(r.warc_offset), etag=r.etag, last_modified=r.last_modified,
                     content_type=r.content_type)
            for r in responses.itertuples(index=False)])
        run_info = RunInfo(run_id=new_run_id(started, "reprocess-"), site=profile.name,
                           base_url=profile.base_url, mode="reprocess", started_at=started,
                           timezone=profile.timezone, archive_dir="", flow_run_id=flow_run_id())
        with recorded(run_info, corpus, data_dir):
            summary = process_archive(profile, run_info, fetches, corpus)
            return publish(summary, started, corpus, data_dir)
