"""Retries that wait: the server's Retry-After when it sends one, else exponential backoff.

Scrapy's own RetryMiddleware re-sends at once, which meets a 5xx burst or a rate limit with
more of the same. This one pauses first (only the retried request waits; the rest of the
crawl goes on), and gives up on a Retry-After longer than RETRY_AFTER_MAX, which a crawl
should not sit out.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response
from scrapy.settings import BaseSettings


def retry_after(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 0.5)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 30.0)
        self.retry_after_max = settings.getfloat("RETRY_AFTER_MAX", 60.0)

    def _backoff(self, request: Request) -> float:
        tries = request.meta.get("retry_times", 0)
        return min(self.backoff_max, self.backoff_base * 2 ** tries)

    async def process_response(self, request: Request,  # type: ignore[override]
                               response: Response) -> Request | Response:
        asked = retry_after(response.headers.get(b"Retry-After"))
        if asked is not None and asked > self.retry_after_max:
            request.meta["give_up_reason"] = (f"Retry-After {asked:.0f} s is over the "
                                              f"{self.retry_after_max:.0f} s limit")
            return response
        result = super().process_response(request, response)
        if isinstance(result, Request):
            await asyncio.sleep(asked if asked is not None else self._backoff(request))
        return result

    async def process_exception(self, request: Request,  # type: ignore[override]
                                exception: Exception) -> Request | Response | None:
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await asyncio.sleep(self._backoff(request))
        return result
