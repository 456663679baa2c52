"""Score the generic extraction path on the real pages in ../shared/realpages, beside the
libraries it wraps, measured in the same run on the same pages, one process each.

    python benchmarks/realpages.py [--realpages ../shared/realpages] [--site generic]

Bodies: our path (`extract_article` with the profile) against `trafilatura.extract` alone,
with its default settings and with `fast=True`. Dates: our path against htmldate's extensive
search alone. Each is timed as a warm function over the same decoded pages (pages/s on one
core), and scored by the set's own score.py.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_WARM = 20  # pages of the other set run before timing
sys.path.insert(0, str(ROOT))

from extract.article import extract_article  # noqa: E402
from sites import load_profile  # noqa: E402


def _pages(folder: Path) -> list[tuple[dict[str, Any], bytes]]:
    rows = [json.loads(line) for line in (folder / "truth.jsonl").read_text().splitlines()
            if line.strip()]
    return [(row, gzip.decompress((folder / row["file"]).read_bytes())) for row in rows]


def _timed(pages: list[tuple[dict[str, Any], bytes]], warm: list[tuple[dict[str, Any], bytes]],
           predict: Callable[[dict[str, Any], bytes], Any]) -> tuple[list[Any], float]:
    """Pages/s of `predict` over `pages`, after a pass over `warm`: other pages, so that
    imports and lazy set-ups (dateparser's, on its first use) are not a page's cost, while
    no cache has seen the timed pages."""
    for page in warm:
        predict(*page)
    started = time.perf_counter()
    out = [predict(row, body) for row, body in pages]
    return out, len(pages) / (time.perf_counter() - started)


def _score(realpages: Path, kind: str, field: str, pages: list[tuple[dict[str, Any], bytes]],
           values: list[Any], work: Path, name: str) -> str:
    path = work / f"{kind}-{name}.jsonl"
    path.write_text("\n".join(json.dumps({"id": row["id"], field: value})
                              for (row, _), value in zip(pages, values, strict=True)))
    return subprocess.run([sys.executable, str(realpages / "score.py"), kind, str(path)],
                          capture_output=True, text=True, check=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realpages", type=Path, default=ROOT.parent / "shared" / "realpages")
    parser.add_argument("--site", default="generic")
    args = parser.parse_args()
    import trafilatura
    from htmldate import find_date

    profile = load_profile(args.site)
    work = Path(tempfile.mkdtemp(prefix="realpages-"))

    def ours(row: dict[str, Any], body: bytes) -> Any:
        return extract_article(body, row["url"], profile)

    def report(name: str, kind: str, field: str, pages: list[tuple[dict[str, Any], bytes]],
               values: list[Any], rate: float) -> None:
        score = _score(args.realpages, kind, field, pages, values, work, name)
        print(f"{name:<12} {score}  ({rate:.0f} pages/s)")

    bodies = _pages(args.realpages / "bodies")
    dates = _pages(args.realpages / "dates")
    warm_bodies, warm_dates = dates[:_WARM], bodies[:_WARM]
    records, rate = _timed(bodies, warm_bodies, ours)
    report("ours", "bodies", "body", bodies, [r.body for r in records], rate)
    for name, fast in (("trafilatura", False), ("traf. fast", True)):
        texts, rate = _timed(bodies, warm_bodies, lambda row, body, fast=fast: trafilatura.extract(
            body.decode("utf-8", "replace"), include_comments=False, fast=fast))
        report(name, "bodies", "body", bodies, texts, rate)

    records, rate = _timed(dates, warm_dates, ours)
    report("ours", "dates", "published", dates,
           [r.published_at.isoformat() if r.published_at else None for r in records], rate)
    found, rate = _timed(dates, warm_dates, lambda row, body: find_date(
        body.decode("utf-8", "replace"), extensive_search=True, original_date=True))
    report("htmldate", "dates", "published", dates, found, rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
