"""Every HTTP exchange of a crawl, archived as it crossed the wire.

Scrapy's own middlewares rewrite what the server sent before a spider sees it: the body is
decoded (`Content-Encoding`), a 3xx becomes a new request, and a 5xx or 429 that is retried
is never seen again. This middleware sits next to the downloader (priority 950, past all of
them), so it meets every answer first, as received, and hands it to the archive with the
request that was sent: one request record and one response record (a revisit record for a
304) per exchange.

Each exchange gets its WARC-Record-ID here, and the request carries the ids of its exchanges
(`meta["archived"]`) through Scrapy's retries and redirects, which copy it. When the URL
reaches its final state, the spider names the last of them as the answer and the others as its
hops (spiders/news.py), so the manifest links every redirect hop and retried answer to it.
"""

from __future__ import annotations

import uuid
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response

ARCHIVED = "archived"  # the request's meta key: the WARC-Record-IDs of its exchanges so far


def archived(request: Request) -> list[str]:
    """The record ids of the exchanges behind this request, oldest first."""
    return list(request.meta.get(ARCHIVED, []))


class CaptureMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CaptureMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        record = f"<urn:uuid:{uuid.uuid4()}>"
        spider: Any = self.crawler.spider
        spider.archive.exchange(
            record=record, url=response.url, method=request.method,
            request_headers=_pairs(request.headers), request_body=request.body,
            status=response.status, headers=_pairs(response.headers),
            body=response.body)
        # A new list: Scrapy copies meta shallowly into the retried or redirected request.
        request.meta[ARCHIVED] = [*archived(request), record]
        return response


def _pairs(headers: Any) -> list[tuple[bytes, bytes]]:
    return [(key, value) for key, values in headers.items() for value in values]
