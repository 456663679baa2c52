"""Validation around the suites: the computed columns, the per-run parameters, the drift alarm."""

from __future__ import annotations

import math
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from expectations.validate import Validation
from sites import SiteProfile
from sites.dates import weekday_agrees
from warehouse import queries
from warehouse.db import connect

DEFAULT_DRIFT_THRESHOLD = 0.5
DRIFT_MIN_ROWS = 10


class DriftError(RuntimeError):
    """A critical expectation failed for most of the batch: the site's layout has likely changed."""


def drift_threshold() -> float:
    """Share of a batch that may fail one critical expectation before the run is stopped."""
    return float(os.environ.get("NEWSCORPUS_DRIFT_THRESHOLD") or DEFAULT_DRIFT_THRESHOLD)


def validation_frame(articles: pd.DataFrame, profile: SiteProfile) -> pd.DataFrame:
    """The batch plus the columns the suites check but the corpus does not store."""
    agrees = [weekday_agrees(line, None if pd.isna(moment) else moment, profile.dates, profile.tz)
              for line, moment in zip(articles["date_line"], articles["published_at"],
                                      strict=True)]
    # Stored articles were complete pages when they were loaded.
    truncated = articles.get("truncated", False)
    return articles.assign(weekday_agrees=pd.Series(agrees, index=articles.index, dtype=object),
                           tag_count=articles["tags"].map(len), truncated=truncated)


def recent_volume(db: Path, profile: SiteProfile, mode: str) -> tuple[int, int]:
    """Bounds for a batch's size: a fifth to five times the median of the last 10 runs."""
    if not Path(db).exists():
        return 0, 10**9
    con = connect(db, read_only=True)
    try:
        median = queries.run(con, "recent_volume", site=profile.name, mode=mode).fetchone()[0]
    finally:
        con.close()
    if median is None:
        return 0, 10**9
    return math.floor(median / 5), math.ceil(median * 5) + 50


def validation_params(profile: SiteProfile, now: datetime,
                      volume: tuple[int, int] = (0, 10**9)) -> dict[str, Any]:
    return {"url_pattern": f"^{re.escape(profile.base_url)}/",
            "founded": datetime.combine(profile.founded, datetime.min.time(), UTC).isoformat(),
            "now": now.isoformat(), "languages": list(profile.languages),
            "volume_min": volume[0], "volume_max": volume[1]}


def check_drift(validation: Validation, articles: pd.DataFrame, threshold: float) -> None:
    """Stop the run when a critical expectation fails for more than `threshold` of the batch."""
    if len(articles) < DRIFT_MIN_ROWS:
        return
    results = validation.results
    drifted = results[(results["severity"] == "critical") & ~results["success"]
                      & (results["unexpected_percent"] > threshold * 100)]
    if drifted.empty:
        return
    urls = articles.set_index("article_id")["url"]
    lines = []
    for row in drifted.itertuples():
        examples = ", ".join(urls.get(i, i) for i in row.sample_ids[:3])
        lines.append(f"{row.reason} ({row.expectation} on {row.column}): "
                     f"{row.unexpected_percent:.0f}% of {len(articles)} articles, e.g. {examples}")
    raise DriftError(
        f"layout drift suspected, the batch was not published (threshold "
        f"{threshold:.0%}): " + "; ".join(lines))


def validate_stored(db: Path, site: str, run_id: str | None = None) -> pd.DataFrame:
    """Re-validate the stored articles of a site (or those a run last touched)."""
    from expectations.validate import validate
    from sites import load_profile

    con = connect(db, read_only=True)
    try:
        base = queries.run(con, "latest_base_url", site=site).fetchone()
        articles = queries.run(con, "stored_articles", site=site, run_id=run_id).df()
    finally:
        con.close()
    if base is None or articles.empty:
        raise LookupError(f"no stored articles of site {site!r}"
                          + (f" from run {run_id}" if run_id else ""))
    profile = load_profile(site, base[0])
    articles["tags"] = articles["tags"].map(list)
    frame = validation_frame(articles, profile)
    return validate(frame, validation_params(profile, datetime.now(UTC))).results


def failing_markdown(results: pd.DataFrame) -> str:
    failed = results[~results["success"]]
    if failed.empty:
        return "Every expectation passed."
    lines = ["| severity | expectation | column | unexpected | reason |", "|---|---|---|---|---|"]
    lines += [f"| {r.severity} | {r.expectation} | {r.column} | {r.unexpected_count} | "
              f"{r.reason} |" for r in failed.itertuples()]
    return "\n".join(lines)
