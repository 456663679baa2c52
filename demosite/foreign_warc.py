"""The demo site's pages in a WARC file as another crawler would have written it (in the
shape of Common Crawl's CC-NEWS): what `newscorpus import` is tested and measured on.

It is written with warcio's own writer, not with this project's archive code: gzip per
record, a warcinfo record, request records, many hosts, pages that are no HTML, answers other
than 200, URLs fetched twice and a revisit record. Each host serves demo pages with the demo's
base URL replaced by its own, as a site of that layout at that host would.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# The espreso profile's own host: `--site auto` extracts its pages with that profile.
ESPRESO = "https://global.espreso.tv"
# Hosts that no profile knows: the generic path.
FOREIGN = ("https://kyiv-daily.example", "https://news.example.org", "https://www.example.net",
           "https://daily.example.com", "https://wire.example.co.uk")
_DROPPED = ("content-length", "transfer-encoding", "connection")
Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass(frozen=True)
class ForeignWarc:
    path: Path
    kinds: Counter[str] = field(default_factory=Counter)  # response and revisit records, by kind
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)  # truth, by URL here

    @property
    def records(self) -> int:
        """Response and revisit records: what an import gives one state each."""
        return sum(self.kinds.values())


def fetch(url: str) -> Answer:
    """The demo site's answer, whatever its status."""
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, list(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as answer:
        return answer.code, list(answer.headers.items()), answer.read()


def write_foreign_warc(path: Path, base: str,
                       hosts: list[tuple[str, list[dict[str, Any]]]]) -> ForeignWarc:
    """Write the file: each host with its truth articles (of the demo site at `base`), then
    on each host robots.txt, an image, a PDF, a 404, a 301 and a 503; the first three
    articles of every host but the first once more; a revisit record of the second host."""
    pages = {a["url"]: fetch(a["url"]) for _, served in hosts for a in served}
    warc = ForeignWarc(path)
    with open(path, "wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        writer.write_record(writer.create_warcinfo_record(
            path.name, {"software": "newscorpus demosite/foreign_warc.py", "format": "WARC/1.0"}))

        def page(host: str, article: dict[str, Any], kind: str | None = None) -> None:
            status, headers, body = pages[article["url"]]
            url = article["url"].replace(base, host)
            _response(writer, url, status, headers, body.replace(base.encode(), host.encode()))
            warc.kinds[kind or ("html 200" if status == 200 else f"HTTP {status}")] += 1
            warc.expected[url] = article

        for host, served in hosts:
            for article in served:
                page(host, article)
            for suffix, status, headers, body, kind, request in _OTHERS:
                _response(writer, host + suffix, status,
                          [(k, v.format(host=host)) for k, v in headers], body, request)
                warc.kinds[kind] += 1
        for host, served in hosts[1:]:  # fetched twice, as a crawler that found two feeds
            for article in served[:3]:
                page(host, article, "repeated")
        again = hosts[1][1][0]["url"].replace(base, hosts[1][0])
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        writer.write_record(writer.create_revisit_record(
            again, digest="sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", refers_to_uri=again,
            refers_to_date="2025-01-01T00:00:00Z", http_headers=http))
        warc.kinds["revisit"] += 1
    return warc


# What else a news crawl holds, on every host: path, status, headers, body, kind, and
# whether a request record goes with it.
_OTHERS: list[tuple[str, int, list[tuple[str, str]], bytes, str, bool]] = [
    ("/robots.txt", 200, [("Content-Type", "text/plain")],
     b"User-agent: *\nDisallow: /private/\n", "not html", True),
    ("/images/photo.jpg", 200, [("Content-Type", "image/jpeg")],
     b"\xff\xd8\xff\xe0" + bytes(200), "not html", False),
    ("/report.pdf", 200, [("Content-Type", "application/pdf")],
     b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "not html", True),
    ("/gone", 404, [("Content-Type", "text/html")], b"<html><body>Not found</body></html>",
     "HTTP 404", True),
    ("/old-path", 301, [("Location", "{host}/"), ("Content-Type", "text/html")], b"",
     "HTTP 301", True),
    ("/busy", 503, [("Content-Type", "text/html"), ("Retry-After", "5")], b"busy",
     "HTTP 503", True),
]


def _response(writer: WARCWriter, url: str, status: int, headers: list[tuple[str, str]],
              body: bytes, request: bool = True) -> None:
    """A response record, and the request record concurrent to it."""
    kept = [(k, v) for k, v in headers if k.lower() not in _DROPPED]
    http = StatusAndHeaders(f"{status} X", [*kept, ("Content-Length", str(len(body)))],
                            protocol="HTTP/1.1")
    record = writer.create_warc_record(url, "response", payload=BytesIO(body),
                                       http_headers=http)
    writer.write_record(record)
    if request:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        asked = StatusAndHeaders(f"GET {target} HTTP/1.1",
                                 [("Host", parts.netloc), ("User-Agent", "a news crawler")],
                                 is_http_request=True)
        writer.write_record(writer.create_warc_record(
            url, "request", http_headers=asked,
            warc_headers_dict={"WARC-Concurrent-To": record.rec_headers.get_header(
                "WARC-Record-ID")}))
