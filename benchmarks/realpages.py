"""Score the generic extraction path on the real pages in ../shared/realpages, beside the
libraries it wraps, measured in the same run on the same pages.

    python benchmarks/realpages.py [--realpages ../shared/realpages] [--site generic] [--runs 3]

Bodies: our path (`extract_article` with the profile) against `trafilatura.extract` alone,
with its default settings and with `fast=True`. Dates: our path against htmldate's extensive
search alone. Each side is a warm function over the same decoded pages (pages/s on one
core), timed in a process of its own so that no side warms another's caches. The sides take
turns, `--runs` rounds, and the rate is printed as min–max; the scores come from the set's
own score.py, and every round must predict the same.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import scratch  # noqa: E402 - after the path is set

_WARM = 20  # pages of the other set run before timing
# (name, set, field scored): each one side of the comparison.
SIDES = [("ours", "bodies", "body"), ("trafilatura", "bodies", "body"),
         ("traf. fast", "bodies", "body"), ("ours", "dates", "published"),
         ("htmldate", "dates", "published")]
Page = tuple[dict[str, Any], bytes]


def _pages(folder: Path) -> list[Page]:
    rows = [json.loads(line) for line in (folder / "truth.jsonl").read_text().splitlines()
            if line.strip()]
    return [(row, gzip.decompress((folder / row["file"]).read_bytes())) for row in rows]


def _predictor(name: str, field: str, site: str) -> Callable[[dict[str, Any], bytes], Any]:
    """One side's prediction for one page: the scored field's value."""
    if name == "ours":
        from extract.article import extract_article
        from sites import load_profile

        profile = load_profile(site)

        def ours(row: dict[str, Any], body: bytes) -> Any:
            record = extract_article(body, row["url"], profile)
            if field == "body":
                return record.body
            return record.published_at.isoformat() if record.published_at else None
        return ours
    if name == "htmldate":
        from htmldate import find_date

        return lambda row, body: find_date(body.decode("utf-8", "replace"),
                                           extensive_search=True, original_date=True)
    import trafilatura

    fast = name == "traf. fast"
    return lambda row, body: trafilatura.extract(body.decode("utf-8", "replace"),
                                                 include_comments=False, fast=fast)


def _one_side(realpages: Path, name: str, kind: str, field: str, site: str, out: Path) -> None:
    """Time one side (in this process) and write its predictions to `out`.

    A pass over pages of the other set comes first, so that imports and lazy set-ups are
    not a page's cost, while no cache has seen the timed pages. One set-up such a pass may
    miss is done explicitly, on every side: dateparser's (htmldate's last resort) locale
    tables, which its first call that no locale reads compiles all at once, in 1.7 s. A
    worker process pays that once, not per page."""
    from htmldate.extractors import get_external_parser

    pages = _pages(realpages / kind)
    other = _pages(realpages / ("dates" if kind == "bodies" else "bodies"))[:_WARM]
    predict = _predictor(name, field, site)
    get_external_parser().get_date_data("© 2020. Powered by")
    for page in other:
        predict(*page)
    started = time.perf_counter()
    values = [predict(row, body) for row, body in pages]
    rate = len(pages) / (time.perf_counter() - started)
    out.write_text("\n".join(json.dumps({"id": row["id"], field: value})
                             for (row, _), value in zip(pages, values, strict=True)))
    print(json.dumps({"rate": rate}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realpages", type=Path, default=ROOT.parent / "shared" / "realpages")
    parser.add_argument("--site", default="generic")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--side", type=int, help=argparse.SUPPRESS)  # a child: SIDES[side]
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side is not None:
        _one_side(args.realpages, *SIDES[args.side], args.site, args.out)
        return 0

    work = scratch.folder("realpages-")
    rates: dict[int, list[float]] = {i: [] for i in range(len(SIDES))}
    predicted: dict[int, str] = {}
    for run in range(args.runs):
        for i in range(len(SIDES)):
            out = work / f"{i}-{run}.jsonl"
            child = subprocess.run(
                [sys.executable, __file__, "--realpages", str(args.realpages), "--site",
                 args.site, "--side", str(i), "--out", str(out)],
                capture_output=True, text=True, check=True)
            rates[i].append(json.loads(child.stdout.splitlines()[-1])["rate"])
            if predicted.setdefault(i, out.read_text()) != out.read_text():
                raise SystemExit(f"{SIDES[i][0]} predicted differently in round {run + 1}")
    for i, (name, kind, _) in enumerate(SIDES):
        score = subprocess.run(
            [sys.executable, str(args.realpages / "score.py"), kind, str(work / f"{i}-0.jsonl")],
            capture_output=True, text=True, check=True).stdout.strip()
        print(f"{name:<12} {score}  ({min(rates[i]):.0f}–{max(rates[i]):.0f} pages/s, "
              f"{args.runs} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
