"""The demo site's loopback HTTP server.

It binds 127.0.0.1 only. `start()` runs it on a daemon thread (port 0 picks a free port), which
is how the default run and the tests use it; `newscorpus demo-site` serves in the foreground.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from demosite import faults, render
from demosite.corpus import DemoSite

HOST = "127.0.0.1"
# Where the `offsite_redirect` and `links` faults point: another host name for this machine,
# on the discard port, so that a crawler that wrongly follows them still stays on loopback.
DEFAULT_OFFSITE = "http://localhost:9"
NOT_FOUND = "<!DOCTYPE html><title>Not found</title><h1>Page not found</h1>"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: str | bytes = "",
              content_type: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        headers = {"Content-Type": content_type, **(headers or {})}
        if status == 304:
            del headers["Content-Type"]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        site, base = self.server.site, self.server.base_url
        parts = urlsplit(self.path)
        path = unquote(parts.path).rstrip("/") or "/"
        query = parse_qs(parts.query)
        xml = "application/xml; charset=utf-8"
        self.server.count(path)
        hop = next((p for p in faults.HOPS if path.startswith(p)), None)
        if path in ("/", "/news"):
            page = query.get("page", ["1"])[0]
            html = render.listing(site, int(page), self.server.offsite_url) \
                if page.isdigit() and int(page) >= 1 else None
        elif path == "/robots.txt":
            return self._send(200, render.robots(base), "text/plain; charset=utf-8")
        elif path == "/__truth__":
            since = _moment(query.get("since", [""])[0])
            bodies = query.get("bodies", [""])[0] == "1"
            return self._send(200, json.dumps(render.truth(site, base, since,
                                                           self.server.offsite_url, bodies),
                                              ensure_ascii=False), "application/json")
        elif path == "/sitemap.xml":
            return self._send(200, self.server.sitemaps.get(path)
                              or render.sitemap_index(site, base), xml)
        elif match := re.fullmatch(r"/sitemap-(\d{4}-\d{2})\.xml", path):
            html = self.server.sitemaps.get(path) or render.sitemap(site, base, match.group(1))
            if html is not None:
                return self._send(200, html, xml)
        elif path == "/rss":
            return self._send(200, render.rss(site, base), "application/rss+xml; charset=utf-8")
        elif path.startswith("/tag/"):
            html = render.tag_page(site, path.removeprefix("/tag/"))
        elif hop is not None:
            status, target = faults.HOPS[hop]
            return self._send(status, headers={"Location": target + path.removeprefix(hop)})
        elif path.startswith("/out/"):
            return self._send(302, headers={
                "Location": self.server.offsite_url + path.removeprefix("/out")})
        elif path.startswith("/private/"):
            return self._article(site, base, path.removeprefix("/private/"))
        elif path.startswith(("/files/", "/images/")):
            return self._send(200, b"\0" * 64, "application/octet-stream")
        else:
            return self._article(site, base, path.lstrip("/"))
        if html is None:
            return self._send(404, NOT_FOUND)
        self._send(200, html)

    def _article(self, site: DemoSite, base: str, slug: str) -> None:
        article = site.article(slug)
        if article is None or article.state == "not_found":
            return self._send(404, NOT_FOUND)
        etag, modified = render.validators(site, article)
        headers = {"ETag": etag, "Last-Modified": format_datetime(modified.astimezone(UTC),
                                                                  usegmt=True)}
        if self.headers.get("If-None-Match") == etag or _not_modified_since(
                self.headers.get("If-Modified-Since"), modified):
            self.server.not_modified += 1
            return self._send(304, headers=headers)
        mode = site.faults.get(slug)
        attempt = self.server.count(slug)
        if mode == "slow":
            time.sleep(faults.SLOW_SECONDS)
        elif mode == "hang" or (mode == "timeout" and attempt == 1):
            time.sleep(faults.HANG_SECONDS)  # the client has given up by now
            self.close_connection = True
            return None
        elif mode == "reset" and attempt == 1:
            return self._reset()
        elif (mode == "5xx" and attempt <= 2) or mode == "500":
            return self._send(503 if mode == "5xx" else 500, "<h1>Server error</h1>")
        elif mode == "429" and attempt == 1:
            return self._send(429, "<h1>Too many requests</h1>",
                              headers={"Retry-After": str(faults.RETRY_AFTER_SECONDS)})
        html = self.server.pages.get(slug) or render.article(site, article, base)
        data, fault_headers = faults.payload(mode, html)
        self._send(200, data, fault_headers.pop("Content-Type"),
                   headers={**headers, **fault_headers})

    def _reset(self) -> None:
        """Drop the connection with a TCP reset, before any answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


def _moment(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _not_modified_since(header: str | None, modified: datetime) -> bool:
    if not header:
        return False
    try:
        return modified.replace(microsecond=0) <= parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: DemoSite, port: int, verbose: bool,
                 offsite_url: str = DEFAULT_OFFSITE) -> None:
        super().__init__((HOST, port), _Handler)
        self.site = site
        self.verbose = verbose
        self.offsite_url = offsite_url.rstrip("/")
        self.not_modified = 0  # 304 answers, for tests of conditional requests
        self.requests: Counter[str] = Counter()  # requests per path, and per article slug
        self.times: defaultdict[str, list[float]] = defaultdict(list)  # when (monotonic)
        self._lock = threading.Lock()
        self.pages: dict[str, str] = {}  # pre-rendered article pages, by slug
        self.sitemaps: dict[str, str] = {}  # pre-rendered sitemaps, by path
        self.base_url = f"http://{HOST}:{self.server_address[1]}"

    def count(self, key: str) -> int:
        """Count a request for `key`; returns how many there have been, this one included."""
        with self._lock:
            self.requests[key] += 1
            self.times[key].append(time.monotonic())
            return self.requests[key]

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away (after a timeout, say) is no server error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    def prerender(self) -> None:
        """Render every article page once, up front, so serving costs no rendering (for
        benchmarks: the site then answers faster than any crawler asks)."""
        self.pages = {a.slug: render.article(self.site, a, self.base_url)
                      for a in self.site.visible if a.state != "not_found"}
        # Rendering a sitemap goes over every article: at 200k articles, a crawl that asked
        # for the months' sitemaps at once waited past its 4 s timeout for them.
        self.sitemaps = {"/sitemap.xml": render.sitemap_index(self.site, self.base_url)}
        for month in render.months(self.site):
            if (xml := render.sitemap(self.site, self.base_url, month)) is not None:
                self.sitemaps[f"/sitemap-{month}.xml"] = xml


@dataclass
class RunningSite:
    base_url: str
    server: _Server
    thread: threading.Thread

    def travel(self, moment: datetime) -> None:
        """Serve the site as it stood at `moment` from now on, at the same address."""
        self.server.site = self.server.site.at(moment)
        self.server.pages, self.server.sitemaps = {}, {}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start(site: DemoSite, port: int = 0, verbose: bool = False,
          offsite_url: str = DEFAULT_OFFSITE) -> RunningSite:
    """Serve `site` on a background thread and return its base URL."""
    server = _Server(site, port, verbose, offsite_url)
    thread = threading.Thread(target=server.serve_forever, name="demo-site", daemon=True)
    thread.start()
    return RunningSite(server.base_url, server, thread)


def serve_forever(site: DemoSite, port: int, verbose: bool = True,
                  prerender: bool = False) -> None:
    server = _Server(site, port, verbose)
    if prerender:
        server.prerender()
    print(f"Demo site on {server.base_url} (as of {site.as_of.isoformat()}); Ctrl-C stops it.",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
