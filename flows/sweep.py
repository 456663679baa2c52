"""The `crawl_sites` flow: a run of every site of a list, each a flow run of its own on the
work pool, so that the pool's workers crawl several sites at once.

Each site's run is the `site-run` deployment (the `news_pipeline` flow), with the site's own
profile, and so its own politeness (download delay, concurrency, user agent). Two runs of
one site never overlap: each holds the site's global concurrency limit, of one slot, for its
length (flows/runs.py), where `newscorpus deploy` created it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from prefect import flow, get_run_logger

from flows.fanout import not_completed, run_on_pool
from sites import available_sites
from sites.profile import UnknownSiteError

SITE_DEPLOYMENT = "news_pipeline/site-run"


class SitesFailedError(RuntimeError):
    """Runs of a sweep did not complete; each site's own run says why."""


@flow(name="crawl_sites")
def crawl_sites(sites: list[str], base_urls: dict[str, str] | None = None,
                mode: Literal["incremental", "full"] = "incremental",
                db: str | None = None, data_dir: str | None = None,
                warehouse: str | None = None, lake_data: str | None = None) -> dict[str, Any]:
    """Run each site of `sites` once, as flow runs of `site-run` that the work pool's
    workers share, and wait for them. The sweep fails if a site's run did not complete;
    the others are loaded all the same.

    Args:
        sites: site profiles (see `newscorpus sites`), each crawled once.
        base_urls: a base URL for some of the sites, instead of their profile's.
        mode: "incremental" or "full", for every site (see `news_pipeline`).
        db: the DuckDB file; a sweep over many workers wants a lake (`warehouse`).
        data_dir: where archives live: a folder every worker sees.
        warehouse: `ducklake:postgres:<libpq string>` ($NEWSCORPUS_WAREHOUSE).
        lake_data: the lake's data folder ($NEWSCORPUS_LAKE_DATA).
    """
    known = available_sites()
    if unknown := sorted(set(sites) - set(known)):
        raise UnknownSiteError(f"unknown sites {', '.join(unknown)}; known sites: "
                               + ", ".join(known))
    if stray := sorted(set(base_urls or {}) - set(sites)):
        raise ValueError(f"base URLs for sites not in the sweep: {', '.join(stray)}")
    started = datetime.now(UTC)
    names = {site: f"{site}-{started:%Y%m%dT%H%M%SZ}" for site in sites}  # flow run names
    ended = run_on_pool(SITE_DEPLOYMENT, {
        names[site]: {
            "site": site, "base_url": (base_urls or {}).get(site), "mode": mode, "db": db,
            "data_dir": data_dir, "warehouse": warehouse, "lake_data": lake_data}
        for site in names})
    by_site = {site: ended[name] for site, name in names.items()}
    get_run_logger().info("Sites: %s", ", ".join(f"{s} {e}" for s, e in by_site.items()))
    if failed := not_completed(ended):
        raise SitesFailedError(f"{len(failed)} of {len(ended)} site runs did not complete: "
                               + ", ".join(failed))
    return {"mode": "sweep", "sites": by_site,
            "seconds": round((datetime.now(UTC) - started).total_seconds(), 1)}
