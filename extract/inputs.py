"""Pages from files, for `newscorpus extract`: HTML (.html, .html.gz) or WARC (.warc, .warc.gz)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator


def pages(path: Path, url: str | None = None) -> Iterator[tuple[str, bytes, str | None]]:
    """(url, body, Content-Type) per page; a WARC gives each response record with its URL."""
    name = path.name.lower()
    if name.endswith((".warc", ".warc.gz")):
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                headers = record.http_headers
                content_type = headers.get_header("Content-Type") if headers else None
                if record.rec_type != "response" or "html" not in (content_type or "html"):
                    continue  # robots.txt, sitemaps, feeds: not articles
                yield (record.rec_headers.get_header("WARC-Target-URI"),
                       record.content_stream().read(), content_type)
        return
    body = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    yield url or path.resolve().as_uri(), body, None
