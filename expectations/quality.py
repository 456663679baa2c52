"""Validation around the suites: the computed columns, the per-run parameters, the drift alarm.

Pure functions of frames and profiles; the flows read the database and pass what they read.
"""

from __future__ import annotations

import math
import os
import re
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from expectations.validate import Validation, validate
from sites import SiteProfile
from sites.dates import weekday_agrees

DEFAULT_DRIFT_THRESHOLD = 0.5
DRIFT_MIN_ROWS = 10


class DriftError(RuntimeError):
    """A critical expectation failed for most of the batch: the site's layout has likely changed.

    It carries the batch's validation results, so that the failed run records them."""

    def __init__(self, message: str, results: pd.DataFrame | None = None) -> None:
        super().__init__(message)
        self.results = results


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


def volume_bounds(median: float | None, mode: str) -> tuple[int, int]:
    """Bounds for a batch's size: a fifth to five times the median of the last runs of its
    mode. An incremental run has no lower bound: an hour with nothing new is normal, and a
    warning at every quiet run would teach people to ignore the warning."""
    if median is None:
        return 0, 10**9
    return (0 if mode == "incremental" else math.floor(median / 5)), math.ceil(median * 5) + 50


def validation_params(profile: SiteProfile, now: datetime,
                      volume: tuple[int, int] = (0, 10**9)) -> dict[str, Any]:
    """The suite's parameters for a batch of the site. A profile without a base URL (the
    generic one, importing pages of many hosts) takes any HTTP URL as on its site."""
    site = f"^{re.escape(profile.base_url)}/" if profile.base_url else "^https?://"
    return {"url_pattern": site,
            "founded": datetime.combine(profile.founded, datetime.min.time(), UTC).isoformat(),
            "now": now.isoformat(), "languages": list(profile.languages),
            "volume_min": volume[0], "volume_max": volume[1]}


def held_back(articles: pd.DataFrame, profile: SiteProfile, now: datetime) -> dict[str, list[str]]:
    """Why each article of a batch would be quarantined (by article id), as a run's
    validation says, for `newscorpus extract`. Two checks are a run's and are left out: the
    batch's volume, and whether a URL is on the crawled site (saved pages come from
    anywhere, and the base URL the crawl used is not known here)."""
    params = {**validation_params(profile, now), "url_pattern": "^https?://"}
    return validate(validation_frame(articles, profile), params).reasons


def check_drift(validation: Validation, articles: pd.DataFrame, threshold: float,
                site: str) -> None:
    """Stop the run when a critical expectation fails for more than `threshold` of the batch.

    The message offers recalibration; nothing is recalibrated without the user."""
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
        f"{threshold:.0%}): " + "; ".join(lines) + f". If the site was redesigned, "
        f"`newscorpus sites calibrate --site {site}` shows what its pages teach (and --save "
        "keeps it)", results)


def validate_stored(articles: pd.DataFrame, profile: SiteProfile) -> pd.DataFrame:
    """The current suites' results on articles as the corpus stores them."""
    return validate(validation_frame(articles, profile),
                    validation_params(profile, datetime.now(UTC))).results


def failing_markdown(results: pd.DataFrame) -> str:
    failed = results[~results["success"]]
    if failed.empty:
        return "Every expectation passed."
    lines = ["| severity | expectation | column | unexpected | reason |", "|---|---|---|---|---|"]
    lines += [f"| {r.severity} | {r.expectation} | {r.column} | {r.unexpected_count} | "
              f"{r.reason} |" for r in failed.itertuples()]
    return "\n".join(lines)
