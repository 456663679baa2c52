"""From a crawl's manifest to one row per requested URL, ready for the `fetches` table.

Every discovered article URL gets exactly one row: fetched (with its status), failed (with the
error), or failed because the crawl ended before requesting it. Nothing is left unaccounted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from spiders.archive import read_manifest

FETCH_COLUMNS = ["url", "kind", "status", "error", "fetched_at", "warc_file", "warc_offset",
                 "warc_length", "final_url", "article_id", "outcome"]


def fetch_table(run_dir: Path) -> pd.DataFrame:
    """One row per requested URL; article rows answered 200 get outcome None (to extract)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    discovered: list[str] = []
    for event in read_manifest(run_dir):
        if event["event"] == "discovered":
            discovered.append(event["url"])
            continue
        requested = event.get("requested") or event["url"]
        row = {"url": requested, "kind": event["kind"], "status": event.get("status"),
               "error": event.get("error"), "fetched_at": event.get("at"),
               "warc_file": event.get("warc"), "warc_offset": event.get("offset"),
               "warc_length": event.get("length"), "final_url": event["url"],
               "article_id": None, "outcome": None}
        if row["kind"] == "article":
            if event["event"] == "failed":
                row["outcome"] = "failed"
            elif row["status"] != 200:
                row["outcome"], row["error"] = "failed", f"HTTP {row['status']}"
        rows[(row["kind"], requested)] = row  # a later event for the same URL wins
    for url in discovered:
        rows.setdefault(("article", url), {
            "url": url, "kind": "article", "status": None,
            "error": "not fetched: the crawl ended before this URL was requested",
            "fetched_at": None, "warc_file": None, "warc_offset": None, "warc_length": None,
            "final_url": url, "article_id": None, "outcome": "failed"})
    frame = pd.DataFrame(list(rows.values()), columns=FETCH_COLUMNS)
    return frame.astype({"status": "Int64", "warc_offset": "Int64", "warc_length": "Int64"})
