"""Pages from files, for `newscorpus extract`: HTML (.html, .html.gz) or WARC (.warc, .warc.gz).

A WARC that a crawl of this project wrote sits in its run's folder, beside the manifest that
says what each response was (an article, a listing page, a sitemap) and under
`<data dir>/archive/<site>/`, which names the site: `crawl_of` reads both, so that the
crawl's listing pages are not extracted as articles with a profile guessed from the URL.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from spiders.archive_reader import responses
from spiders.manifest import Fetched, read_manifest


def pages(path: Path, url: str | None = None) -> Iterator[tuple[str, bytes, str | None, int]]:
    """(url, body, Content-Type, HTTP status) per page; a WARC gives each HTML answer with its
    URL and status (a crawl's WARC also holds its redirects, errors and retried answers), an
    HTML file is a page of status 200.

    A WARC record that is not whole raises `ArchiveReadError` once the pages before it are out.
    """
    name = path.name.lower()
    if is_warc(path):
        for response in responses(path):
            # Not robots.txt, sitemaps, feeds (a page may lack a Content-Type), nor 304s.
            if response.rec_type == "response" and "html" in (response.content_type or "html"):
                yield response.url, response.body, response.content_type, response.status or 0
        return
    body = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    yield url or path.resolve().as_uri(), body, None, 200


def is_warc(path: Path) -> bool:
    return path.name.lower().endswith((".warc", ".warc.gz"))


@dataclass(frozen=True)
class Crawl:
    """What a crawl's own files say of a WARC it wrote."""

    site: str | None  # the folder under `archive/`, when the WARC is in the archive's layout
    fetched: dict[str, tuple[str, int]]  # final URL -> (kind, HTTP status), from the manifest

    def left_out(self, url: str) -> str | None:
        """Why the page at `url` is no article to extract ("listing", "HTTP 404"), or None."""
        kind, status = self.fetched.get(url, ("other", 0))
        if kind != "article":
            return kind
        return None if status == 200 else f"HTTP {status}"


def crawl_of(path: Path) -> Crawl | None:
    """The crawl that wrote the WARC at `path`, when its manifest is beside it and names it."""
    fetched = {event.url: (event.kind, event.status) for event in read_manifest(path.parent)
               if isinstance(event, Fetched) and event.warc == path.name}
    if not fetched:
        return None
    parts = path.resolve().parts[:-1]
    at = len(parts) - 1 - parts[::-1].index("archive") if "archive" in parts else None
    return Crawl(parts[at + 1] if at is not None and at + 1 < len(parts) else None, fetched)
