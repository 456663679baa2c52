"""Full-text search (BM25, over the index the loads keep), with snippets around the first hit."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from warehouse import queries
from warehouse.db import Target, load_fts, reading

SNIPPET = 90  # characters either side of the first matching word


def snippet(body: str, query: str) -> str:
    """The body around the first word that shares a stem-like prefix with a query word."""
    words = [w for w in re.findall(r"\w+", query.lower()) if len(w) > 2]
    stems = [w[:max(4, len(w) - 3)] for w in words]
    match = next((m for m in re.finditer(r"\w+", body) if any(
        m.group(0).lower().startswith(s) for s in stems)), None)
    start = max(0, match.start() - SNIPPET) if match else 0
    return " ".join(body[start:start + 2 * SNIPPET].split())


def search(db: Target, query: str, since: date | None = None,
           limit: int = 10) -> list[dict[str, Any]]:
    """The best `limit` articles for `query`, published on or after the day `since` (of each
    article's site time); each with its time in UTC and in its site's zone."""
    with reading(db, wait=0) as con:
        load_fts(con)  # the index's stemmer
        hits = queries.rows(con, "search", query=query, since=since, limit=limit)
    for hit in hits:
        hit["snippet"] = snippet(hit.pop("body") or "", query)
    return hits
