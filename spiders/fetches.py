"""The fetch row: one requested URL and how it ended, as the `fetches` table stores it.

A crawl's rows come from its manifest (`fetch_rows`); a reprocessing run builds them from
archived responses the corpus already lists. Every discovered article URL gets exactly one
row: fetched (with its status), failed (with the error), or failed because the crawl ended
before requesting it. Nothing is left unaccounted. (A discovery crawl, which lists articles
for a backfill's chunks and requests none, is checked on the pages it requested alone.)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from spiders.manifest import Discovered, Failed, Fetched, Notice, read_manifest

HTML_TYPES = ("text/html", "application/xhtml+xml")
NOT_FETCHED = ("not fetched: the crawl ended before requesting it, or it redirected to a URL "
               "this run had already fetched")


@dataclass(frozen=True, slots=True)  # slots: a crawl's rows are held until its frame is made
class FetchRow:
    url: str  # the URL requested (the first of its redirects)
    kind: str  # "article", "listing", "sitemap", "other"
    final_url: str  # where the redirects ended
    status: int | None = None
    error: str | None = None
    fetched_at: str | None = None
    warc_file: str | None = None  # path of the WARC file holding the response
    warc_offset: int | None = None
    warc_length: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    attempts: int | None = None
    article_id: str | None = None  # set by the load's assembly, for extracted pages
    # None: an article page to extract. Else "failed", "not_modified" (a 304: the stored
    # version stands), "quarantined" (an imported record whose URL an earlier one holds; the
    # error says which), and after assembly "loaded" or "quarantined".
    outcome: str | None = None


FETCH_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(FetchRow))
_INTEGERS = {"status": "Int64", "warc_offset": "Int64", "warc_length": "Int64",
             "attempts": "Int64"}


def is_html(content_type: str | None) -> bool:
    """Whether an answer is a page to extract; no Content-Type at all gets the benefit."""
    return not content_type or content_type.split(";")[0].strip().lower() in HTML_TYPES


def is_article_page(event: Fetched) -> bool:
    """An archived article answer to extract (before the fetch table's final word)."""
    return event.kind == "article" and event.status == 200 and is_html(event.content_type)


def _row(event: Fetched | Failed, warc_file: str | None) -> FetchRow:
    if isinstance(event, Failed):
        return FetchRow(url=event.url, kind=event.kind, final_url=event.url, error=event.error,
                        fetched_at=event.at, attempts=event.attempts,
                        outcome="failed" if event.kind == "article" else None)
    outcome, error = None, None
    if event.kind == "article":
        if event.status == 304:
            outcome = "not_modified"
        elif event.status != 200:
            note = f" ({event.note})" if event.note else ""
            outcome, error = "failed", f"HTTP {event.status}{note}"
        elif not is_html(event.content_type):
            outcome, error = "failed", f"not an HTML page ({event.content_type})"
    return FetchRow(url=event.requested or event.url, kind=event.kind, final_url=event.url,
                    status=event.status, error=error, fetched_at=event.at,
                    warc_file=warc_file, warc_offset=event.offset,
                    warc_length=event.length, etag=event.etag,
                    last_modified=event.last_modified,
                    content_type=None if event.content_type is None
                    else sys.intern(event.content_type),
                    attempts=event.attempts, outcome=outcome)


def fetch_rows(run_dir: Path, unfetched: bool = True) -> list[FetchRow]:
    """One row per URL the crawl in `run_dir` requested; a later answer for a URL wins.

    `unfetched`: an article URL the crawl discovered and never requested is a row too, failed
    as not fetched, so that nothing discovered goes unrecorded. A discovery crawl requests no
    article by design, and its caller wants only the pages it fetched (at 200k articles, the
    other rows took 150 MiB).

    The manifest is read an event at a time, and the rows share the WARC file's path and the
    Content-Type: making a 50k crawl's table grew the process by 102-105 MiB at its highest,
    against 166-169 with the events read whole and each row's strings its own.
    """
    rows: dict[tuple[str, str], FetchRow] = {}
    discovered: list[str] = []
    warc_files: dict[str, str] = {}
    for event in read_manifest(run_dir):
        if isinstance(event, Discovered):
            if unfetched:
                discovered.append(event.url)
            continue
        if isinstance(event, Notice):
            continue
        warc_file = None if isinstance(event, Failed) else warc_files.setdefault(
            event.warc, str(run_dir / event.warc))
        row = _row(event, warc_file)
        rows[(row.kind, row.url)] = row
    for url in discovered:
        rows.setdefault(("article", url), FetchRow(
            url=url, kind="article", final_url=url, error=NOT_FETCHED, attempts=0,
            outcome="failed"))
    return list(rows.values())


def fetch_frame(rows: list[FetchRow]) -> pd.DataFrame:
    """The rows as the load takes them: one column per field, nullable integers."""
    frame = pd.DataFrame({name: [getattr(row, name) for row in rows] for name in FETCH_COLUMNS},
                         columns=list(FETCH_COLUMNS))
    return frame.astype(_INTEGERS)


def fetch_table(run_dir: Path, unfetched: bool = True) -> pd.DataFrame:
    """The fetch rows of the crawl in `run_dir`, as a frame (`fetch_rows`)."""
    return fetch_frame(fetch_rows(run_dir, unfetched))
