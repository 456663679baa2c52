"""The news spider: listing pages first, then the article pages they link.

Links are canonicalized before they are requested, so an article linked twice (say once with
`?utm_source=…`) is discovered and fetched once.
"""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import scrapy
from scrapy import signals
from scrapy.http import Response
from twisted.python.failure import Failure

from sites import SiteProfile, load_profile
from sites.urls import canonicalize, on_site
from spiders.archive import CrawlArchive

LISTING_PRIORITY = 10


class NewsSpider(scrapy.Spider):
    name = "news"

    def __init__(self, site: str = "espreso", base_url: str | None = None, out_dir: str = "",
                 run_id: str = "manual", max_pages: int | str = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.profile: SiteProfile = load_profile(site, base_url)
        self.max_pages = int(max_pages)
        self.out_dir = out_dir
        self.run_id = run_id
        self.seen: set[str] = set()
        self.archive: CrawlArchive | None = None

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> NewsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.archive = CrawlArchive(Path(spider.out_dir or f"data/runs/{spider.run_id}"),
                                      spider.run_id, crawler.settings.get("USER_AGENT"))
        crawler.signals.connect(spider._archive_response, signal=signals.response_received)
        crawler.signals.connect(spider._close_archive, signal=signals.spider_closed)
        return spider

    async def start(self) -> Any:
        yield self._listing_request(self.profile.listing_url(1), page=1)

    def _listing_request(self, url: str, page: int) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse_listing, errback=self._failed,
                              priority=LISTING_PRIORITY, meta={"kind": "listing", "page": page})

    def parse_listing(self, response: Response) -> Iterator[scrapy.Request]:
        listing = self.profile.listing
        for entry in response.css(listing["entry"]):
            href = entry.css(f"{listing['link']}::attr(href)").get()
            if not href:
                continue
            url = canonicalize(href, response.url)
            if not on_site(url, self.profile.host) or url in self.seen:
                continue
            self.seen.add(url)
            labels = [t.strip() for t in entry.css(f"{listing['label']}::text").getall()]
            assert self.archive is not None
            self.archive.discovered(url, listing_url=response.url, labels=labels,
                                    listed_time=entry.css(f"{listing['time']}::text").get())
            yield scrapy.Request(url, callback=self.parse_article, errback=self._failed,
                                 meta={"kind": "article", "handle_httpstatus_all": True})
        page = response.meta["page"]
        next_href = response.css(f"{listing['next']}::attr(href)").get()
        if next_href and (self.max_pages <= 0 or page < self.max_pages):
            yield self._listing_request(response.urljoin(next_href), page + 1)

    def parse_article(self, response: Response) -> None:
        """Nothing to do: the response is archived by `_archive_response`."""

    def _archive_response(self, response: Response, request: scrapy.Request,
                          spider: scrapy.Spider) -> None:
        assert self.archive is not None
        requested = (request.meta.get("redirect_urls") or [request.url])[0]
        self.archive.fetched(response.url, requested, request.meta.get("kind", "other"),
                             response.status,
                             _reason(response.status), list(_header_pairs(response)),
                             response.body)

    def _failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        response = getattr(failure.value, "response", None)
        if response is not None and response.status is not None:
            return  # archived, with its status, by _archive_response
        assert self.archive is not None
        requested = (request.meta.get("redirect_urls") or [request.url])[0]
        self.archive.failed(requested, request.meta.get("kind", "other"),
                            f"{failure.type.__name__}: {failure.getErrorMessage()}")

    def _close_archive(self, spider: scrapy.Spider) -> None:
        if self.archive is not None:
            self.archive.close()


def _header_pairs(response: Response) -> Iterator[tuple[bytes, bytes]]:
    for key, values in response.headers.items():
        for value in values:
            yield key, value


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
