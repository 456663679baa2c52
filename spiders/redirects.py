"""Redirects that are not followed: off the site, or back to a URL already visited.

Scrapy's RedirectMiddleware would hand an off-site target to the offsite filter, and a loop
to the duplicate filter, both of which drop the request without telling its errback: the URL
would end in no state at all. This middleware sees each 3xx first and, for those two cases,
keeps the redirect answer as the final one, with a note that says why; the URL is then
recorded as failed with that reason.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from w3lib.url import safe_url_string

from sites.urls import canonicalize, on_site


class RedirectGuardMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectGuardMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        location = response.headers.get(b"Location")
        if not (300 <= response.status < 400) or not location or \
                request.meta.get("dont_redirect"):
            return response
        target = canonicalize(safe_url_string(location.decode("latin-1")), request.url)
        visited = {canonicalize(u) for u in (*request.meta.get("redirect_urls", []),
                                             request.url)}
        spider: Any = self.crawler.spider
        if not on_site(target, spider.profile.host):
            note = f"redirected off the site, to {target}"
        elif target in visited:
            note = f"too many redirects: a redirect loop back to {target}"
        else:
            return response
        request.meta["dont_redirect"] = True
        request.meta["give_up_reason"] = note
        return response
