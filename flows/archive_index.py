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
                 "warc_length", "etag", "last_modified", "content_type", "attempts", "final_url",
                 "article_id", "outcome"]
HTML_TYPES = ("text/html", "application/xhtml+xml")


def is_html(content_type: str | None) -> bool:
    """Whether an answer is a page to extract; no Content-Type at all gets the benefit."""
    return not content_type or content_type.split(";")[0].strip().lower() in HTML_TYPES


def fetch_table(run_dir: Path) -> pd.DataFrame:
    """One row per requested URL; article rows answered 200 get outcome None (to extract).

    A 304 answer to a conditional re-fetch gets outcome "not_modified": the stored version
    stands, and the load counts it as unchanged.
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    discovered: list[str] = []
    for event in read_manifest(run_dir):
        if event["event"] == "discovered":
            discovered.append(event["url"])
            continue
        requested = event.get("requested") or event["url"]
        row = {"url": requested, "kind": event["kind"], "status": event.get("status"),
               "error": event.get("error"), "fetched_at": event.get("at"),
               "warc_file": str(run_dir / event["warc"]) if event.get("warc") else None,
               "warc_offset": event.get("offset"), "warc_length": event.get("length"),
               "etag": event.get("etag"), "last_modified": event.get("last_modified"),
               "content_type": event.get("content_type"), "attempts": event.get("attempts"),
               "final_url": event["url"], "article_id": None, "outcome": None}
        if row["kind"] == "article":
            if event["event"] == "failed":
                row["outcome"] = "failed"
            elif row["status"] == 304:
                row["outcome"] = "not_modified"
            elif row["status"] != 200:
                note = f" ({event['note']})" if event.get("note") else ""
                row["outcome"], row["error"] = "failed", f"HTTP {row['status']}{note}"
            elif not is_html(row["content_type"]):
                row["outcome"] = "failed"
                row["error"] = f"not an HTML page ({row['content_type']})"
        rows[(row["kind"], requested)] = row  # a later event for the same URL wins
    for url in discovered:
        rows.setdefault(("article", url), {
            "url": url, "kind": "article", "status": None,
            "error": "not fetched: the crawl ended before requesting it, or it redirected to "
                     "a URL this run had already fetched",
            "fetched_at": None, "warc_file": None, "warc_offset": None, "warc_length": None,
            "etag": None, "last_modified": None, "content_type": None, "attempts": 0,
            "final_url": url, "article_id": None, "outcome": "failed"})
    frame = pd.DataFrame(list(rows.values()), columns=FETCH_COLUMNS)
    return frame.astype({"status": "Int64", "warc_offset": "Int64", "warc_length": "Int64",
                         "attempts": "Int64"})
