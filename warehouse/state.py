"""What the corpus already holds: read before a run to plan its crawl, and by the commands that
re-check stored articles. Every function here opens the database read-only, and a database
that does not exist yet holds nothing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from sites import SiteProfile
from spiders.plan import KnownUrls
from warehouse import queries
from warehouse.db import Target, WarehouseMissingError, reading


def _frame(db: Target, name: str, **params: Any) -> pd.DataFrame:
    try:
        with reading(db) as con:
            return queries.run(con, name, **params).df()
    except WarehouseMissingError:  # one open, not a check and then an open (a lake's costs)
        return pd.DataFrame()


def high_water_mark(db: Target, profile: SiteProfile) -> datetime | None:
    frame = _frame(db, "high_water_mark", site=profile.name)
    value = frame.iloc[0, 0] if len(frame) else None
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def known_urls(db: Target, profile: SiteProfile) -> KnownUrls:
    """Every URL of the site that needs no blind re-fetch, as the crawl plan takes it: as
    Arrow columns, not a Python object per row (seconds at 200k URLs)."""
    try:
        with reading(db) as con:
            return KnownUrls(queries.run(con, "known_urls", site=profile.name,
                                         base_url=profile.base_url + "/").to_arrow_table())
    except WarehouseMissingError:
        return KnownUrls()


def staged_runs(db: Target) -> int:
    """How many runs wait in the staging tables for a merge (runs killed after staging)."""
    try:
        return len(_frame(db, "pending_stages"))
    except duckdb.CatalogException:  # a database from before the staging tables holds none
        return 0


def completed(db: Target, run_id: str) -> bool:
    return len(_frame(db, "completed_run", run_id=run_id)) > 0


def run_summary(db: Target, run_id: str) -> dict[str, Any]:
    """A run's counts as `crawl_runs` holds them (empty when it holds no such run)."""
    frame = _frame(db, "run_summary", run_id=run_id)
    return frame.iloc[0].to_dict() if len(frame) else {}


def archived_responses(db: Target, profile: SiteProfile, run_id: str | None,
                       since: datetime | None, until: datetime | None,
                       urls: list[str] | None = None) -> pd.DataFrame:
    """The newest archived 200 answer of each selected article: what reprocessing reads."""
    return _frame(db, "archived_responses", run_id=run_id, since=since, until=until, urls=urls,
                  base_url=profile.base_url + "/")


def recent_volume(db: Target, site: str, mode: str) -> float | None:
    """The median size of the site's last 10 completed runs of `mode` (None: no such run)."""
    frame = _frame(db, "recent_volume", site=site, mode=mode)
    value = frame.iloc[0, 0] if len(frame) else None
    return None if value is None or pd.isna(value) else float(value)


def stored_articles(db: Target, site: str, run_id: str | None = None) -> tuple[str, pd.DataFrame]:
    """The base URL the site was last crawled from, and its stored articles (or those a run
    last touched); LookupError when there are none."""
    with reading(db) as con:
        base = queries.run(con, "latest_base_url", site=site).fetchone()
        articles = queries.run(con, "stored_articles", site=site, run_id=run_id).df()
    if base is None or articles.empty:
        raise LookupError(f"no stored articles of site {site!r}"
                          + (f" from run {run_id}" if run_id else ""))
    articles["tags"] = articles["tags"].map(list)
    return str(base[0]), articles


def recent_archives(db: Target, site: str, since: datetime) -> list[Path]:
    """The archive folders of the site's completed runs that started since `since`."""
    frame = _frame(db, "recent_archives", site=site, since=since)
    return [Path(folder) for folder in frame["archive_dir"]] if len(frame) else []
