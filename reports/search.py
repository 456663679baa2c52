"""Full-text search (BM25, over the index the loads keep), with snippets around the first hit."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from warehouse import queries
from warehouse.db import load_fts, reading

SNIPPET = 90  # characters either side of the first matching word


def snippet(body: str, query: str) -> str:
    """The body around the first word that shares a stem-like prefix with a query word."""
    words = [w for w in re.findall(r"\w+", query.lower()) if len(w) > 2]
    stems = [w[:max(4, len(w) - 3)] for w in words]
    match = next((m for m in re.finditer(r"\w+", body) if any(
        m.group(0).lower().startswith(s) for s in stems)), None)
    start = max(0, match.start() - SNIPPET) if match else 0
    return " ".join(body[start:start + 2 * SNIPPET].split())


def search(db: Path, query: str, since: date | None = None, limit: int = 10,
           tz: str = "Europe/Kyiv") -> list[dict[str, Any]]:
    start = datetime.combine(since, time(), ZoneInfo(tz)) if since else None
    with reading(db, wait=0) as con:
        load_fts(con)  # the index's stemmer
        rows = queries.run(con, "search", query=query, since=start, limit=limit).fetchall()
    return [{"url": url, "title": title, "published_at": published, "score": score,
             "snippet": snippet(body or "", query)} for url, title, published, score, body in rows]
