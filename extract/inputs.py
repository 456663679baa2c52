"""Pages from files, for `newscorpus extract`: HTML (.html, .html.gz) or WARC (.warc, .warc.gz)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

from spiders.archive_reader import responses


def pages(path: Path, url: str | None = None) -> Iterator[tuple[str, bytes, str | None]]:
    """(url, body, Content-Type) per page; a WARC gives each HTML response record with its URL.

    A WARC record that is not whole raises `ArchiveReadError` once the pages before it are out.
    """
    name = path.name.lower()
    if name.endswith((".warc", ".warc.gz")):
        for response in responses(path):
            if "html" in (response.content_type or "html"):  # not robots.txt, sitemaps, feeds
                yield response.url, response.body, response.content_type
        return
    body = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    yield url or path.resolve().as_uri(), body, None
