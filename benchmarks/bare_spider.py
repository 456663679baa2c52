"""The raw fetch limit: a Scrapy spider that only downloads the given URLs.

Same Scrapy settings as newscorpus's crawls (concurrency, robots.txt), no archive, no parsing:
`scrapy runspider benchmarks/bare_spider.py -a urls=FILE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import scrapy


class BareSpider(scrapy.Spider):
    name = "bare"
    custom_settings: ClassVar[dict[str, Any]] = {
        "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False, "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 16, "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False,
        "ROBOTSTXT_OBEY": True, "COOKIES_ENABLED": False, "CONCURRENT_ITEMS": 8,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor"}

    def __init__(self, urls: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = Path(urls).read_text(encoding="utf-8").split()

    async def start(self) -> Any:
        for url in self.urls:
            yield scrapy.Request(url, callback=self.parse, meta={"handle_httpstatus_all": True})

    def parse(self, response: Any) -> None:
        """Download only."""
