"""The `news_pipeline` flow: plan (incremental by default), crawl, then `process_archive`.

The crawl leaves a WARC archive and a manifest (flows/crawling.py); everything after it reads
only the archive (flows/process.py), so a crawl and a reprocessing of an old archive share one
path. Only the load writes DuckDB. Pages are extracted as they are archived, while the crawl
runs (extract/workers.py), and Great Expectations is imported meanwhile, once the crawl has
found an article (flows/crawling.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from prefect import flow, get_run_logger

from config import settings
from demosite import server as demo_server
from demosite.corpus import build_site
from extract.workers import ArchiveExtraction
from flows.crawling import crawl, require_discovery_pages
from flows.process import process_archive
from flows.runs import (
    flow_run_id,
    global_limit,
    new_run_id,
    publish,
    recorded,
    site_limit,
    unwalked,
)
from sites import SiteProfile, load_profile
from spiders.fetches import fetch_table
from spiders.manifest import discovery_summary
from spiders.plan import CrawlPlan
from warehouse import state
from warehouse.db import Target, require_writable, target
from warehouse.load import RunInfo


def incremental_plan(db: Target, profile: SiteProfile) -> CrawlPlan:
    """Known URLs, and the cutoff: the newest article held minus the overlap window."""
    newest = state.high_water_mark(db, profile)
    overlap = timedelta(minutes=profile.discovery.overlap_minutes)
    return CrawlPlan(mode="incremental", known=state.known_urls(db, profile),
                     cutoff=newest - overlap if newest else None)


@flow(name="news_pipeline", log_prints=True)
def news_pipeline(site: str = "demo", base_url: str | None = None, db: str | None = None,
                  mode: Literal["incremental", "full"] = "incremental", max_pages: int = 0,
                  data_dir: str | None = None,
                  drift_threshold: float | None = None, warehouse: str | None = None,
                  lake_data: str | None = None) -> dict[str, Any]:
    """Crawl a site once and load its new and changed articles into the DuckDB corpus.

    Args:
        site: the site profile (see `newscorpus sites`); "demo" starts the built-in demo site
            unless `base_url` is given.
        base_url: override the profile's base URL.
        db: the DuckDB file (default `data/corpus.duckdb`).
        warehouse: `duckdb` (the default: the file `db`) or `ducklake:postgres:<libpq
            string>`, a lake whose catalog is in PostgreSQL ($NEWSCORPUS_WAREHOUSE).
        lake_data: a lake's data folder (default `<data_dir>/lake`, $NEWSCORPUS_LAKE_DATA).
        mode: "incremental" fetches what is new or changed since the corpus's newest article
            (everything, on an empty corpus); "full" re-crawls every listing page.
        max_pages: listing pages to crawl at most; 0 = no limit.
        data_dir: where archives live (default `data/`).
        drift_threshold: share of the batch that may fail one critical expectation before
            the run is stopped as layout drift (default $NEWSCORPUS_DRIFT_THRESHOLD or 0.5).

    On a server with newscorpus's limits (`newscorpus deploy`), a run of a site waits for
    the one under way to end: two runs of a site at once would both load what is new.
    """
    corpus = target(db, data_dir, warehouse, lake_data)
    with site_profile(site, base_url) as profile, global_limit(site_limit(profile.name)):
        started = datetime.now(UTC)  # after a run of the site that was under way ended
        run_id = new_run_id(started)
        run_dir = settings.data_dir(data_dir) / "archive" / profile.name / run_id
        run = RunInfo(run_id=run_id, site=profile.name, base_url=profile.base_url, mode=mode,
                      timezone=profile.timezone,
                      started_at=started, archive_dir=str(run_dir), flow_run_id=flow_run_id())
        with recorded(run, corpus, data_dir):
            require_writable(corpus)  # before the crawl, not after it
            plan = incremental_plan(corpus, profile) if mode == "incremental" \
                else CrawlPlan(mode=mode)
            with ArchiveExtraction(profile, run_dir) as extraction:
                crawl(profile, run_dir, run_id, unwalked(plan), max_pages, unwalked(extraction))
                fetches = fetch_table(run_dir)
                require_discovery_pages(fetches, profile)
                summary = process_archive(profile, run, fetches, corpus, drift_threshold,
                                          extraction=extraction)
            return publish({**summary, **discovery_summary(run_dir)}, started, corpus,
                           data_dir)


@contextmanager
def site_profile(site: str, base_url: str | None) -> Iterator[SiteProfile]:
    """The site's profile; for "demo" without a base URL, with the demo site running."""
    with ExitStack() as stack:
        if site == "demo" and not base_url:
            base_url = stack.enter_context(demo_site())
        yield load_profile(site, base_url)


@contextmanager
def demo_site() -> Iterator[str]:
    """Serve the built-in demo site for the length of a run, on the fixed demo port."""
    try:
        site = demo_server.start(build_site(), port=settings.demo_port())
    except OSError as error:
        raise RuntimeError(
            f"cannot start the demo site on port {settings.demo_port()} ({error.strerror}); "
            "stop what uses it, or set NEWSCORPUS_DEMO_PORT") from None
    get_run_logger().info("Demo site serving on %s", site.base_url)
    try:
        yield site.base_url
    finally:
        site.stop()
