"""What the corpus already holds, read before a run to plan its crawl."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sites import SiteProfile
from warehouse import queries
from warehouse.db import connect


def _read(db: Path, name: str, **params: Any) -> pd.DataFrame:
    if not Path(db).exists():
        return pd.DataFrame()
    con = connect(db, read_only=True)
    try:
        return queries.run(con, name, **params).df()
    finally:
        con.close()


def high_water_mark(db: Path, profile: SiteProfile) -> datetime | None:
    frame = _read(db, "high_water_mark", site=profile.name)
    value = frame.iloc[0, 0] if len(frame) else None
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def known_urls(db: Path, profile: SiteProfile) -> dict[str, dict[str, Any]]:
    """URL -> {modified, labels, etag, last_modified}, as the spider's plan expects it."""
    if not Path(db).exists():
        return {}
    con = connect(db, read_only=True)
    try:
        rows = queries.run(con, "known_urls", site=profile.name,
                           base_url=profile.base_url + "/").fetchall()
    finally:
        con.close()
    known: dict[str, dict[str, Any]] = {}
    for url, modified, labels, etag, last_modified in rows:
        known.setdefault(url, {"modified": modified, "labels": labels or [], "etag": etag,
                               "last_modified": last_modified})
    return known


def completed(db: Path, run_id: str) -> bool:
    return len(_read(db, "completed_run", run_id=run_id)) > 0


def archived_responses(db: Path, profile: SiteProfile, run_id: str | None,
                       since: datetime | None, until: datetime | None,
                       urls: list[str] | None = None) -> pd.DataFrame:
    return _read(db, "archived_responses", run_id=run_id, since=since, until=until, urls=urls,
                 base_url=profile.base_url + "/")
