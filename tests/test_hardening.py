"""What an attacker would try: a crawl opens no listening port."""

from __future__ import annotations

import os
import time
from pathlib import Path

from test_crash import start_crawl

from demosite.corpus import build_site
from demosite.server import start
from spiders.plan import CrawlPlan


def _listening_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:["):-1])
    return found


def test_a_crawl_listens_on_no_port(tmp_path):
    """Scrapy 2.19's remote-control endpoint and the telnet console are off."""
    site = start(build_site(300))
    try:
        crawl = start_crawl(site.base_url, tmp_path, "ports", CrawlPlan(mode="full"))
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while crawl.poll() is None and time.monotonic() < deadline:
            try:
                seen |= _socket_inodes(crawl.pid)
            except FileNotFoundError:
                break
            listening = seen & _listening_inodes()
            assert not listening, f"the crawl listens on sockets {listening}"
            time.sleep(0.05)
        assert crawl.wait(timeout=120) == 0
        assert seen, "no socket of the crawl was seen: the check saw nothing"
    finally:
        site.stop()
    assert not list(tmp_path.glob("*.token")) and not list(Path.cwd().glob("*.token"))
