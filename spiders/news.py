"""The news spider: discover article URLs, fetch them, archive every response.

Modes (`CrawlPlan.mode`, spiders/plan.py):
- `full`: every listing page, then every article they link (a profile without a listing:
  every article of its sitemaps);
- `incremental`: listing pages until entries already in the corpus and older than the cutoff,
  plus the sitemaps changed since the cutoff; known articles are re-fetched only when the
  listing newly labels them "Updated" or their sitemap `<lastmod>` is newer than what the
  corpus holds, and then conditionally (ETag / If-Modified-Since);
- `discover`: list the articles published in a window (sitemaps, or listing pages when the
  site has no sitemap) without fetching them;
- `urls`: fetch the plan's URLs.

When the first listing page has no entry that the profile's selectors match (the listing was
redesigned, or the selectors were never right), discovery goes on through the sitemaps and the
RSS feed; each discovered URL records which of them found it (`Discovered.via`).

Links are canonicalized before they are requested, so an article linked twice (say once with
`?utm_source=…`) is discovered and fetched once.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import scrapy
from parsel import Selector
from scrapy import signals
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import IGNORED_EXTENSIONS
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from sites import SiteProfile, load_profile
from sites.dates import parse_date_line, parse_iso
from sites.urls import canonicalize, on_site
from spiders.archive import ArchiveError, ArchiveProcess
from spiders.capture import archived
from spiders.failures import failure_reason
from spiders.listing import ListingReader
from spiders.plan import CrawlPlan

LISTING_PRIORITY = 10
FLUSH_SECONDS = 0.5  # the archive's pending calls are sent at least this often


class NewsSpider(scrapy.Spider):
    name = "news"

    def __init__(self, site: str, base_url: str | None, out_dir: str, run_id: str,
                 max_pages: int | str = 0, plan: str = "", **kwargs: Any) -> None:
        """`plan`: the path of the run's plan.json (none: a full crawl)."""
        super().__init__(**kwargs)
        self.profile: SiteProfile = load_profile(site, base_url)
        # Scrapy's offsite filter drops requests (redirects included) to any other host.
        self.allowed_domains = [urlsplit(self.profile.base_url).hostname or ""]
        self.max_pages = int(max_pages)
        self.out_dir = out_dir
        self.run_id = run_id
        self.plan = CrawlPlan.read(Path(plan)) if plan else CrawlPlan()
        self.mode = self.plan.mode
        self.known = self.plan.known
        self.cutoff, self.since, self.until = self.plan.cutoff, self.plan.since, self.plan.until
        self.seen: set[str] = set()
        self.listing = ListingReader(self.profile.listing) if self.profile.listing.url else None
        self._feeds_requested: set[str] = set()
        self.archive: ArchiveProcess | None = None
        self._flushing: LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> NewsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.archive = ArchiveProcess(Path(spider.out_dir), spider.run_id,
                                        crawler.settings.get("USER_AGENT"),
                                        on_failure=spider._archive_failed)
        crawler.signals.connect(spider._start_flushing, signal=signals.spider_opened)
        crawler.signals.connect(spider._archive_response, signal=signals.response_received)
        crawler.signals.connect(spider._close_archive, signal=signals.spider_closed)
        return spider

    async def start(self) -> Any:
        if self.mode == "urls":
            for url in self.plan.urls:
                if request := self._article(canonicalize(url), "plan", "plan"):
                    yield request
            return
        sitemap = self.profile.sitemap_url
        first: list[scrapy.Request] = []
        if sitemap and self.mode in ("incremental", "discover"):
            first += self._feed_requests(rss=False)
        if not self.profile.listing.url:  # the sitemaps and the feed are all there is
            first += self._feed_requests()
        elif self.mode in ("full", "incremental") or not sitemap:
            first.append(self._listing_request(self.profile.listing_url(1), page=1))
        for request in first:
            yield request

    def _feed_requests(self, rss: bool = True) -> Iterator[scrapy.Request]:
        """The sitemap index, and with `rss` the RSS feed, unless already requested."""
        feeds = [(self.profile.sitemap_url, self.parse_sitemap, "sitemap")]
        if rss:
            feeds.append((self.profile.rss_url, self.parse_rss, "rss"))
        for url, callback, kind in feeds:
            if url and url not in self._feeds_requested:
                self._feeds_requested.add(url)
                yield scrapy.Request(url, callback=callback, errback=self._failed,
                                     priority=LISTING_PRIORITY, meta={"kind": kind})

    # -- listing pages ---------------------------------------------------------------------

    def _listing_request(self, url: str, page: int) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse_listing, errback=self._failed,
                              priority=LISTING_PRIORITY, meta={"kind": "listing", "page": page})

    def _entries(self, response: Response) -> Iterator[tuple[str, datetime | None, list[str]]]:
        """(url, listed time, labels) per entry of a listing page."""
        assert self.listing is not None
        for entry in self.listing.entries(_root(response)):
            listed = parse_date_line(entry.day, entry.clock, self.profile.dates,
                                     self.profile.tz) if entry.clock and entry.day else None
            yield canonicalize(entry.href, response.url), listed, entry.labels

    def parse_listing(self, response: Response) -> Iterator[scrapy.Request]:
        reached_known = False
        entries = list(self._entries(response))
        self.known.meet(url for url, _, _ in entries)
        if not entries and response.meta["page"] == 1:
            what = ("the listing found nothing: no entry matches the profile's selectors; "
                    "articles were discovered through the sitemaps and the RSS feed")
            self.logger.warning("%s (%s)", what, response.url)
            assert self.archive is not None
            self.archive.notice(what, response.url)
            yield from self._feed_requests()
            return
        for url, listed, labels in entries:
            if not self._article_link(url):
                continue
            known = self.known.get(url)
            if known and listed and self.cutoff and listed < self.cutoff:
                reached_known = True
            if self.mode == "discover":
                if listed and self._in_window(listed):
                    self._discover(url, "listing", listing_url=response.url, labels=labels,
                                   published=listed.isoformat())
                reached_known = reached_known or bool(listed and self.since and
                                                      listed < self.since)
                continue
            newly_updated = known is not None and "Updated" in labels and \
                "Updated" not in known.labels
            if known is None or newly_updated or self.mode == "full":
                if request := self._article(url, "listing", response.url, labels=labels,
                                            listed_time=listed.isoformat() if listed else None):
                    yield request
        page = response.meta["page"]
        assert self.listing is not None
        next_href = self.listing.next_href(_root(response))
        if reached_known and self.mode in ("incremental", "discover"):
            self.logger.info("Listing page %d reaches known articles; stopping there", page)
        elif next_href and (self.max_pages <= 0 or page < self.max_pages):
            yield self._listing_request(response.urljoin(next_href), page + 1)

    # -- sitemaps --------------------------------------------------------------------------

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        body = Selector(text=response.text, type="xml")
        body.remove_namespaces()
        tz = self.profile.tz
        for entry in body.xpath("/sitemapindex/sitemap"):
            loc = (entry.xpath("loc/text()").get() or "").strip()
            lastmod = parse_iso(entry.xpath("lastmod/text()").get(), tz)
            if loc and on_site(loc, self.profile.host) and self._month_wanted(loc, lastmod):
                yield scrapy.Request(loc, callback=self.parse_sitemap, errback=self._failed,
                                     priority=LISTING_PRIORITY, meta={"kind": "sitemap"})
        links = []
        for entry in body.xpath("/urlset/url"):
            url = canonicalize((entry.xpath("loc/text()").get() or "").strip())
            if self._article_link(url):
                links.append((url, entry))
        self.known.meet(url for url, _ in links)
        for url, entry in links:
            lastmod = parse_iso(entry.xpath("lastmod/text()").get(), tz)
            published = parse_iso(entry.xpath(".//publication_date/text()").get(), tz)
            if request := self._dated_link(url, "sitemap", response.url, published, lastmod):
                yield request

    def parse_rss(self, response: Response) -> Iterator[scrapy.Request]:
        """An RSS 2.0 or Atom feed of the latest articles."""
        body = Selector(text=response.text, type="xml")
        body.remove_namespaces()
        links = []
        for item in body.xpath("//item | //entry"):
            link = item.xpath("link/text()").get() or item.xpath("link/@href").get() or ""
            url = canonicalize(link.strip(), response.url)
            if url and self._article_link(url):
                links.append((url, item))
        self.known.meet(url for url, _ in links)
        for url, item in links:
            published = _feed_date(item.xpath("pubDate/text() | published/text()").get(),
                                   self.profile)
            if request := self._dated_link(url, "rss", response.url, published, None):
                yield request

    def _dated_link(self, url: str, via: str, source: str, published: datetime | None,
                    lastmod: datetime | None) -> scrapy.Request | None:
        """Discover, or request, an article a sitemap or feed lists with these dates."""
        if self.mode == "discover":
            if published is None or self._in_window(published):
                self._discover(url, via, listing_url=source,
                               published=published.isoformat() if published else None)
            return None
        known = self.known.get(url)
        stored = known.changed_at if known else None
        dated = published or lastmod
        fresh = self.cutoff is None or (dated is not None and dated >= self.cutoff)
        changed = known is not None and lastmod is not None and (stored is None
                                                                 or lastmod > stored)
        if self.mode == "full" or (known is None and fresh) or changed:
            return self._article(url, via, source)
        return None

    def _month_wanted(self, loc: str, lastmod: datetime | None) -> bool:
        if self.mode == "discover":
            month = re.search(r"(\d{4})-(\d{2})", loc)
            if not month or not (self.since and self.until):
                return True
            key = (int(month.group(1)), int(month.group(2)))
            return (self.since.year, self.since.month) <= key <= (self.until.year,
                                                                  self.until.month)
        return lastmod is None or self.cutoff is None or lastmod >= self.cutoff

    def _article_link(self, url: str) -> bool:
        """On the site and not a file (PDF, image, …): worth requesting as an article."""
        extension = posixpath.splitext(urlsplit(url).path)[1].lstrip(".").lower()
        if on_site(url, self.profile.host) and extension not in IGNORED_EXTENSIONS:
            return True
        self.logger.debug("Not an article link, not requested: %s", url)
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("newscorpus/ignored_links")
        return False

    def _in_window(self, moment: datetime) -> bool:
        return (self.since is None or moment >= self.since) and \
            (self.until is None or moment < self.until)

    # -- articles and the archive ----------------------------------------------------------

    def _discover(self, url: str, via: str, **listing: Any) -> bool:
        if url in self.seen:
            return False
        self.seen.add(url)
        assert self.archive is not None
        self.archive.discovered(url, via=via, **listing)
        return True

    def _article(self, url: str, via: str, source: str,
                 **listing: Any) -> scrapy.Request | None:
        if not self._discover(url, via, listing_url=source, **listing):
            return None
        headers = {}
        if known := self.known.get(url):
            if known.etag:
                headers["If-None-Match"] = known.etag
            if known.last_modified:
                headers["If-Modified-Since"] = known.last_modified
        return scrapy.Request(url, callback=self.parse_article, errback=self._failed,
                              headers=headers, meta={"kind": "article"})

    def parse_article(self, response: Response) -> None:
        """Nothing to do: the response is archived by `_archive_response`."""

    def _start_flushing(self, spider: scrapy.Spider) -> None:
        assert self.archive is not None
        self._flushing = LoopingCall(self.archive.flush)
        self._flushing.start(FLUSH_SECONDS, now=False)

    def _archive_response(self, response: Response, request: scrapy.Request,
                          spider: scrapy.Spider) -> None:
        """The URL's final answer: its exchange (spiders/capture.py) is the last archived."""
        assert self.archive is not None
        requested = (request.meta.get("redirect_urls") or [request.url])[0]
        kind = request.meta.get("kind", "other")
        if not (records := archived(request)):  # an answer no download made: none so far
            self.archive.failed(requested, kind, "the answer was not archived", [])
            return
        *hops, record = records
        self.archive.fetched(response.url, requested, kind, record, hops, size=len(response.body),
                             attempts=request.meta.get("retry_times", 0) + 1,
                             note=request.meta.get("give_up_reason"))

    def _failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        response = getattr(failure.value, "response", None)
        if response is not None and response.status is not None:
            return  # archived, with its status, by _archive_response
        assert self.archive is not None
        requested = (request.meta.get("redirect_urls") or [request.url])[0]
        self.archive.failed(requested, request.meta.get("kind", "other"),
                            failure_reason(failure), archived(request),
                            attempts=request.meta.get("retry_times", 0) + 1)

    def _archive_failed(self, error: ArchiveError) -> None:
        """Stop crawling what can no longer be archived."""
        self.logger.error("%s; stopping the crawl", error)
        assert self.crawler.engine is not None
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="archive_failed"))

    def _close_archive(self, spider: scrapy.Spider) -> None:
        """Wait for the archive; a failed one fails the crawl (see spiders/crawl.py)."""
        if self._flushing is not None and self._flushing.running:
            self._flushing.stop()
        if self.archive is not None:
            try:
                self.archive.close()
            except ArchiveError as error:
                self.logger.error("%s", error)
                assert self.crawler.stats is not None
                self.crawler.stats.set_value("newscorpus/archive_error", str(error))


def _feed_date(value: str | None, profile: SiteProfile) -> datetime | None:
    """An RSS pubDate (RFC 2822) or an Atom date (ISO 8601)."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return parse_iso(value, profile.tz)
    return moment if moment.tzinfo else moment.replace(tzinfo=profile.tz)


def _root(response: Response) -> Any:
    """The lxml tree of an HTML answer (a listing page is one; Scrapy types it loosely)."""
    return cast(TextResponse, response).selector.root
