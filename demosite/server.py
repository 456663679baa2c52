"""The demo site's loopback HTTP server.

It binds 127.0.0.1 only. `start()` runs it on a daemon thread (port 0 picks a free port), which
is how the default run and the tests use it; `newscorpus demo-site` serves in the foreground.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from demosite import render
from demosite.corpus import DemoSite

HOST = "127.0.0.1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8") -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
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
        if path in ("/", "/news"):
            pages = parse_qs(parts.query).get("page", ["1"])
            page = int(pages[0]) if pages[0].isdigit() else 0
            html = render.listing(site, page) if page >= 1 else None
        elif path == "/robots.txt":
            return self._send(200, render.robots(), "text/plain; charset=utf-8")
        elif path == "/__truth__":
            return self._send(200, json.dumps(render.truth(site, base), ensure_ascii=False),
                              "application/json")
        elif path.startswith("/tag/"):
            html = render.tag_page(site, path.removeprefix("/tag/"))
        else:
            article = site.article(path.lstrip("/"))
            html = (render.article(site, article, base)
                    if article is not None and article.state != "not_found" else None)
        if html is None:
            return self._send(404, "<!DOCTYPE html><title>Not found</title><h1>Page not found</h1>")
        self._send(200, html)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: DemoSite, port: int, verbose: bool) -> None:
        super().__init__((HOST, port), _Handler)
        self.site = site
        self.verbose = verbose
        self.base_url = f"http://{HOST}:{self.server_address[1]}"


@dataclass
class RunningSite:
    base_url: str
    server: _Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start(site: DemoSite, port: int = 0, verbose: bool = False) -> RunningSite:
    """Serve `site` on a background thread and return its base URL."""
    server = _Server(site, port, verbose)
    thread = threading.Thread(target=server.serve_forever, name="demo-site", daemon=True)
    thread.start()
    return RunningSite(server.base_url, server, thread)


def serve_forever(site: DemoSite, port: int, verbose: bool = True) -> None:
    server = _Server(site, port, verbose)
    print(f"Demo site on {server.base_url} (as of {site.as_of.isoformat()}); Ctrl-C stops it.",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
