"""Extraction like for like: the profile path, the generic path, and trafilatura with its
default settings and with `fast=True`, on the same pages of the demo site, each with its
accuracy against the site's truth beside its speed.

    python benchmarks/extraction.py [--articles 2000] [--runs 3] [--json FILE]

The site is served pre-rendered; every article page it lists is fetched once and kept, and
each side reads those same bytes. Each side is a warm function (pages in, their fields out)
timed in a process of its own, so that no side warms another's caches: a pass over 20 of
the site's listing pages comes first, so that imports and lazy set-ups are not a page's
cost. The sides take turns, `--runs` rounds; rates are printed as min–max.

- profile: `extract_article` with the demo profile (selectors, then its fallbacks), then the
  cleaning of the batch (`clean_rows`), as the pipeline loads records;
- generic: the same with the generic profile (no selectors: structured data, the date by
  the headline, htmldate, trafilatura);
- trafilatura, trafilatura fast: `trafilatura.bare_extraction` with metadata (title, date,
  tags and text, the fields compared), default settings and `fast=True`.

Accuracy is over the pages the truth says load (`expected: loaded`), field by field: the
title as the truth has it; the publication time to the minute (trafilatura gives a day, so
its time is right only where that day's midnight is the time) and the day alone; the tags;
and the body, word for word (`\\w+` runs, so that bullets and line breaks do not count),
and as the F1 of its words against the truth's (a near miss scores near 1).
Not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import scratch  # noqa: E402 - after the path is set
from benchmarks.run import report, serve_demo  # noqa: E402

SIDES = ("profile", "generic", "trafilatura", "trafilatura fast")
FIELDS = ("title", "published", "day", "tags", "body", "body F1")
_WARM = 20  # listing pages extracted before the timing
Fields = dict[str, Any]  # title, published (ISO or None), tags, body
Page = tuple[str, bytes]  # URL, body


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as answer:
        return bytes(answer.read())


def _extractor(side: str, base_url: str) -> Callable[[list[Page]], list[Fields]]:
    """One side: pages (URL, bytes) in, the compared fields of each out."""
    if side in ("profile", "generic"):
        from extract.article import extract_article
        from extract.clean import clean_rows
        from sites import load_profile

        profile = load_profile("demo" if side == "profile" else "generic", base_url)

        def ours(pages: list[Page]) -> list[Fields]:
            """Extracted, then cleaned as one batch, as the pipeline loads them (cleaning
            drops leaked template keys, which extraction leaves to it)."""
            rows = clean_rows([extract_article(body, url, profile, "text/html; charset=utf-8")
                               for url, body in pages])
            return [{"title": row.title, "tags": list(row.tags), "body": row.body,
                     "published": None if pd.isna(row.published_at)
                     else row.published_at.isoformat()}
                    for row in rows.itertuples(index=False)]
        return ours
    import trafilatura

    fast = side == "trafilatura fast"

    def theirs(pages: list[Page]) -> list[Fields]:
        found: list[Any] = [
            trafilatura.bare_extraction(body.decode("utf-8"), url=url, fast=fast,
                                        with_metadata=True) for url, body in pages]
        return [{"title": f.title, "body": f.text or "", "published": f.date,
                 "tags": list(f.tags or [])} if f else
                {"title": None, "body": "", "published": None, "tags": []} for f in found]
    return theirs


def _one_side(side: str, pages_file: Path, out: Path) -> None:
    """Time one side in this process; write its fields per page to `out`."""
    data = pickle.loads(pages_file.read_bytes())
    extract = _extractor(side, data["base_url"])
    extract(data["warm"])
    started = time.perf_counter()
    found = extract(data["pages"])
    rate = len(found) / (time.perf_counter() - started)
    out.write_text(json.dumps([found, rate], ensure_ascii=False))


def _words(text: str | None) -> list[str]:
    return re.findall(r"\w+", text or "")


def _f1(got: list[str], want: list[str]) -> float:
    """Words in common (as multisets), against the words extracted and the words wanted."""
    common = sum((Counter(got) & Counter(want)).values())
    return 2 * common / (len(got) + len(want)) if common else 0.0


def _slugs(tags: list[str]) -> list[str]:
    return sorted("-".join(t.lower().split()) for t in tags)


def accuracy(found: list[Fields], truth: list[dict[str, Any]]) -> dict[str, float]:
    """The share of pages with each field right, against the truth's entries."""
    right: dict[str, float] = dict.fromkeys(FIELDS, 0.0)
    for got, want in zip(found, truth, strict=True):
        published = datetime.fromisoformat(want["published_at"])
        moment = datetime.fromisoformat(got["published"]) if got["published"] else None
        if moment is not None and moment.tzinfo is None:  # a bare day: its midnight, there
            moment = moment.replace(tzinfo=published.tzinfo)
        right["title"] += got["title"] == want["title"]
        right["published"] += moment == published
        right["day"] += moment is not None and moment.astimezone(published.tzinfo).date() \
            == published.date()
        right["tags"] += _slugs(got["tags"]) == sorted(want["tags"])
        right["body"] += _words(got["body"]) == _words(want["body"])
        right["body F1"] += _f1(_words(got["body"]), _words(want["body"]))
    return {name: count / len(truth) for name, count in right.items()}


def measure(articles: int, runs: int) -> dict[str, Any]:
    work = scratch.folder("newscorpus-extraction-bench-")
    server, base = serve_demo(articles)
    try:
        truth = json.loads(_get(f"{base}/__truth__?bodies=1"))
        loaded = [a for a in truth["articles"] if a["expected"] == "loaded"]
        pages = [(a["url"], _get(a["url"])) for a in loaded]
        warm = [(f"{base}/news?page={n}", _get(f"{base}/news?page={n}"))
                for n in range(1, min(_WARM, truth["listing_pages"]) + 1)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    pages_file = work / "pages.pickle"
    pages_file.write_bytes(pickle.dumps({"base_url": base, "pages": pages, "warm": warm}))
    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    scores: dict[str, dict[str, float]] = {}
    for _ in range(runs):
        for side in SIDES:
            out = work / "fields.json"
            subprocess.run([sys.executable, __file__, "--side", side, "--pages",
                            str(pages_file), "--out", str(out)], check=True)
            found, rate = json.loads(out.read_text())
            rates[side].append(rate)
            score = accuracy(found, loaded)
            if scores.setdefault(side, score) != score:
                raise SystemExit(f"{side} extracted differently from one round to the next")
    return {"articles": articles, "pages": len(pages), "runs": runs,
            "sides": {side: {"pages_per_s": rates[side], "accuracy": scores[side]}
                      for side in SIDES}}


def table(results: dict[str, Any]) -> str:
    fast = results["sides"]["trafilatura fast"]["pages_per_s"]
    lines = [f"{results['pages']} loadable article pages of a {results['articles']}-article "
             f"demo site, {results['runs']} runs, one core",
             f"{'side':<17} {'pages/s':>11} {'× traf. fast':>12}  "
             + "  ".join(f"{name:>9}" for name in FIELDS)]
    for side, row in results["sides"].items():
        low, high = min(row["pages_per_s"]), max(row["pages_per_s"])
        lines.append(f"{side:<17} {low:>5.0f}–{high:<5.0f} "
                     f"{low / max(fast):>5.1f}–{high / min(fast):<6.1f}"
                     + "  ".join(f"{row['accuracy'][name]:>9.1%}" for name in FIELDS))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # a child
    parser.add_argument("--pages", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        _one_side(args.side, args.pages, args.out)
        return 0
    report(measure(args.articles, args.runs), table, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
