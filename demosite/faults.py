"""Fault modes of the demo site: the trouble a crawl meets on the open web, served on purpose.

A fault is a property of some articles, chosen from the seed like everything else, so the
same flags always fault the same pages. The truth document names each faulted article with
the outcome a correct pipeline records for it; the server applies the fault when it answers.
`links` is the one site-wide mode: the first listing page also links off the site, to a PDF
and to an image, none of which a crawler of articles should request.
"""

from __future__ import annotations

import gzip
import random
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Fault:
    expected: str       # the state the article must end in: loaded, failed or quarantined
    reason: str | None  # a phrase the recorded error (or quarantine reason) contains
    about: str
    # The HTTP statuses the site answers, in order, from the link to the last answer: what a
    # faithful archive holds for the article. With `every_attempt`, each attempt the crawler
    # makes gets these answers (a crawler's retries are its own to set).
    answers: tuple[int, ...] = (200,)
    every_attempt: bool = False


SLOW_SECONDS = 1.0
HANG_SECONDS = 15.0    # longer than any crawler timeout the tests set
RETRY_AFTER_SECONDS = 2
OVERSIZE_BYTES = 6_000_000  # over the espreso profile's max_page_bytes (5 MB)
BOMB_BYTES = 64 * 2**20     # what the gzip bomb inflates to

FAULTS: dict[str, Fault] = {
    "slow": Fault("loaded", None, f"answers after {SLOW_SECONDS:g} s"),
    "timeout": Fault("loaded", None, "the first request hangs past the crawler's timeout"),
    "hang": Fault("failed", "timed out", "every request hangs", (), every_attempt=True),
    "reset": Fault("loaded", None, "the first connection is reset"),
    "5xx": Fault("loaded", None, "the first two requests answer 503", (503, 503, 200)),
    "500": Fault("failed", "HTTP 500", "every request answers 500", (500,), every_attempt=True),
    "429": Fault("loaded", None,
                 f"the first request answers 429 with Retry-After: {RETRY_AFTER_SECONDS}",
                 (429, 200)),
    "redirect": Fault("loaded", None, "linked through a chain of two redirects", (301, 302, 200)),
    "redirect_loop": Fault("failed", "too many redirects", "linked into a redirect loop",
                           (302, 302)),
    "offsite_redirect": Fault("failed", "off the site", "redirects to another host", (302,)),
    "oversized": Fault("failed", "too large", f"a page of {OVERSIZE_BYTES:,} bytes", ()),
    "gzip_bomb": Fault("failed", "too large",
                       f"gzip that inflates to {BOMB_BYTES // 2**20} MiB"),
    "cp1251": Fault("loaded", None, "windows-1251, declared in the Content-Type header"),
    "cp1251_meta": Fault("loaded", None, "windows-1251, declared only in <meta charset>"),
    "broken_utf8": Fault("loaded", None, "invalid UTF-8 bytes in the text"),
    "malformed": Fault("loaded", None, "unclosed, misnested and stray tags"),
    "truncated": Fault("quarantined", "the page is truncated", "the document stops mid-text"),
    "pdf": Fault("failed", "not an HTML page", "answers with a PDF"),
    "robots": Fault("failed", "robots.txt", "linked under /private/, which robots.txt disallows",
                    ()),
    "gzip": Fault("loaded", None, "sent gzip-compressed (Content-Encoding: gzip), as most "
                                  "servers send pages"),
}
LINKS = "links"
MODES = (*FAULTS, LINKS)
# Faults that live in the URL the site links to, rather than in the answer.
LINK_PREFIXES = {"redirect": "/go/", "redirect_loop": "/loop/", "offsite_redirect": "/out/",
                 "robots": "/private/"}
# Where redirects hop to; each hop's answer, by prefix: (status, next prefix).
HOPS = {"/go/": (301, "/moved/"), "/moved/": (302, "/"), "/loop/": (302, "/loop-back/"),
        "/loop-back/": (302, "/loop/")}
PER_MODE_WITH_ALL = 2  # "all" faults this many articles per mode


def parse_spec(text: str) -> dict[str, float]:
    """"all", or "5xx=0.05,timeout=0.02,hang=3": shares of the articles (below 1) or counts."""
    if text.strip() == "all":
        return {mode: float(PER_MODE_WITH_ALL) for mode in MODES}
    spec: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        mode, _, amount = part.partition("=")
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of all, {', '.join(MODES)}")
        try:
            spec[mode] = float(amount) if amount else 1.0
        except ValueError:
            raise ValueError(f"fault {mode!r}: {amount!r} is not a number") from None
        if spec[mode] < 0:
            raise ValueError(f"fault {mode!r}: the amount cannot be negative")
    return spec


def assign(candidates: Iterable[tuple[str, str]], spec: dict[str, float], seed: int,
           size: int) -> dict[str, str]:
    """slug -> fault mode, for (slug, lang) candidates; each article gets at most one fault.

    A share is of the whole site (`size` articles). The windows-1251 modes prefer Ukrainian
    articles, whose Cyrillic shows a wrong decoding.
    """
    rng = random.Random(f"faults-{seed}")
    pool = sorted(candidates)
    rng.shuffle(pool)
    chosen: dict[str, str] = {}
    for mode in FAULTS:
        amount = spec.get(mode, 0.0)
        count = min(len(pool), round(amount * size) if amount < 1 else int(amount))
        if mode.startswith("cp1251"):
            pool.sort(key=lambda c: c[1] != "uk")  # stable: Ukrainian first, order kept
        for slug, _lang in pool[:count]:
            chosen[slug] = mode
        pool = pool[count:]
    return chosen


def payload(mode: str | None, html: str) -> tuple[bytes, dict[str, str]]:
    """The bytes of an article page under `mode`, and the headers that go with them."""
    headers = {"Content-Type": "text/html; charset=utf-8"}
    if mode == "cp1251":
        body = html.encode("cp1251", errors="xmlcharrefreplace")
        return body, {"Content-Type": "text/html; charset=windows-1251"}
    if mode == "cp1251_meta":
        html = html.replace('<meta charset="utf-8">', '<meta charset="windows-1251">', 1)
        return html.encode("cp1251", errors="xmlcharrefreplace"), {"Content-Type": "text/html"}
    if mode == "broken_utf8":
        data = html.encode("utf-8")
        cut = data.index(b"<p>", data.index(b"article__text")) + 3
        return data[:cut] + b"\xff\xfe\xc3(" + data[cut:], headers
    if mode == "malformed":
        return _malform(html).encode("utf-8"), headers
    if mode == "truncated":
        data = html.encode("utf-8")
        text = data.index(b"article__text")
        return data[:data.index(b"</p>", text) + 2], headers  # inside the first paragraph's end tag
    if mode == "oversized":
        padding = "<!-- " + "x" * OVERSIZE_BYTES + " -->"
        return html.replace("</body>", padding + "</body>", 1).encode("utf-8"), headers
    if mode == "gzip_bomb":
        return gzip_bomb(), {**headers, "Content-Encoding": "gzip"}
    if mode == "gzip":
        return gzip.compress(html.encode("utf-8")), {**headers, "Content-Encoding": "gzip"}
    if mode == "pdf":
        return b"%PDF-1.4\n% not an article\n%%EOF\n", {"Content-Type": "application/pdf"}
    return html.encode("utf-8"), headers


def _malform(html: str) -> str:
    """Markup browsers forgive: upper-case tags, end tags left out, stray and misnested tags."""
    html = re.sub(r"</(p|li|span)>", "", html)
    html = html.replace("<h1 ", "<H1 ").replace("</h1>", "</H1><b><i>")
    html = html.replace('<div class="article__subtitle">', '</i></b></span></em><div '
                        'class="article__subtitle"><font>')
    return html.replace("</article>", "<div><table><tr><td></article>", 1)


@cache
def gzip_bomb() -> bytes:
    """A small gzip stream of zeros that inflates to BOMB_BYTES."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(2**20)
    parts = [packer.compress(chunk) for _ in range(BOMB_BYTES // len(chunk))]
    return b"".join(parts) + packer.flush()
