"""Where a crawl's waiting requests wait: in memory up to a bound, then on disk.

A site's sitemaps name every article at once, faster than they are fetched, and Scrapy's
scheduler keeps each request it has not sent yet. In memory, that grew a first crawl's
process by some 100 MiB at 50,000 articles (docs/performance.md), and it grows with the
site. Scrapy's disk queue (its `JOBDIR`) holds any number, but pickling every request to disk
is work a crawl that never has many waiting would do for nothing. So the first
`settings.queue_memory()` waiting requests stay in memory, and only those beyond wait on disk.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request, Spider
from scrapy.core.scheduler import Scheduler

from config import settings


class SpillingScheduler(Scheduler):
    """Scrapy's scheduler, which sends a request to its disk queue only when its memory queue
    holds `settings.queue_memory()` already. It takes from memory first, as Scrapy's does."""

    memory_requests = settings.DEFAULT_QUEUE_MEMORY

    def open(self, spider: Spider) -> Any:
        self.memory_requests = settings.queue_memory()
        return super().open(spider)

    def _dqpush(self, request: Request) -> bool:
        if len(self.mqs) < self.memory_requests:
            return False  # to memory
        return super()._dqpush(request)
