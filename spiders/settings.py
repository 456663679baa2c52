"""Scrapy settings shared by every crawl; per-site values come from the site profile."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sites import SiteProfile

BOT_NAME = "newscorpus"
SPIDER_MODULES = ["spiders.news"]
NEWSPIDER_MODULE = "spiders"

ROBOTSTXT_OBEY = True
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19 turns on a code-execution endpoint on loopback by default; a crawl listens on
# no port (tests/test_hardening.py checks).
EXTENSIONS = {"scrapy.extensions.remote_control.RemoteControl": None}
RETRY_ENABLED = True
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "spiders.retry.BackoffRetryMiddleware": 550,
    "spiders.redirects.RedirectGuardMiddleware": 650,  # sees each 3xx before RedirectMiddleware
    "spiders.capture.CaptureMiddleware": 950,  # every answer as received, for the archive
}
REDIRECT_MAX_TIMES = 5
LOG_LEVEL = "INFO"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
# Callbacks yield no items (responses are archived from a signal). Scrapy starts this many
# asyncio tasks per response regardless (scrapy/scrapy#5182): at the default 100, a quarter of
# a crawl's CPU on loopback.
CONCURRENT_ITEMS = 8
# Waiting requests beyond a bound go to a disk queue in the crawl's JOBDIR (spiders/queue.py,
# spiders/crawl.py).
SCHEDULER = "spiders.queue.SpillingScheduler"


LOOPBACK = ("127.", "localhost", "[::1]")


def for_profile(profile: SiteProfile) -> dict[str, Any]:
    """The settings a crawl of `profile` adds to the defaults above.

    Politeness (delay, AutoThrottle, few connections) is for other people's servers; a site
    on this machine's loopback (the demo site, under any profile) is crawled at full speed.
    """
    crawl = profile.crawl
    if profile.host.startswith(LOOPBACK):
        crawl = replace(crawl, autothrottle=False, download_delay=0.0,
                        concurrent_requests=max(16, crawl.concurrent_requests))
    return {
        "USER_AGENT": crawl.user_agent,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "CONCURRENT_REQUESTS": crawl.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_requests,
        "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
        "DOWNLOAD_WARNSIZE": crawl.max_page_bytes // 2,
        "DOWNLOAD_TIMEOUT": crawl.download_timeout,
        "RETRY_TIMES": crawl.retries,
        "RETRY_BACKOFF_BASE": crawl.retry_backoff,
        "RETRY_AFTER_MAX": crawl.retry_after_max,
    }
