"""Where a run's memory goes: the RSS of the flow's process through each step of its batch.

    python benchmarks/memory.py [--articles 10000] [--base-url URL] [--json FILE]

A pre-rendered demo site is served from its own process (or the one at URL), and Prefect's
temporary server from another, as a command starts it. In this process, the `news_pipeline`
flow loads it into a fresh DuckDB file, then the `reprocess` flow re-extracts the archive
into the same file (every article unchanged), then `news_pipeline` runs again and finds
nothing new (the no-change run; its summary's seconds are the flow's own). All three run
their batch through `flows.process.process_archive`; each step it calls (extraction, the
batch's split, validation, staging, the merge) and each SQL statement of the merge is
wrapped to record this process's RSS before and after it, and its highest RSS during it,
sampled every 20 ms from /proc, and each flow's highest RSS from its start to its end (what
happens between the steps, such as reading the crawl's manifest, included). The crawl and the
extraction workers are processes of their own, not counted.

What the flow's process holds of a run (the batch's keys and fetch rows; its text is in
Parquet parts on disk) and what DuckDB takes at the load show here, so what grows with the
site does. Not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import scratch  # noqa: E402 - after the path is set
from benchmarks.run import serve_demo  # noqa: E402 - after the path is set

STEPS = ("extract_pages", "split_batch", "validate_batch", "stage", "merge")


def _rss_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmRSS:")) / 1024


class Sampler(threading.Thread):
    """This process's RSS, sampled every 20 ms: (time, MiB)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.samples.append((time.perf_counter(), _rss_mib()))

    def peak(self, start: float, end: float) -> float:
        return max([rss for at, rss in self.samples if start <= at <= end], default=0.0)


def _recorded(name: str, call: Callable[..., Any], sampler: Sampler,
              steps: list[dict[str, Any]]) -> Callable[..., Any]:
    """`call`, recording its step: seconds, and RSS before, at its highest, and after."""
    @functools.wraps(call)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before, start = _rss_mib(), time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            end, after = time.perf_counter(), _rss_mib()
            steps.append({"step": name, "start": start, "seconds": end - start,
                          "before": before, "peak": max(before, after, sampler.peak(start, end)),
                          "after": after})
    return wrapper


def measure(articles: int, base_url: str | None = None) -> dict[str, Any]:
    work = scratch.folder("newscorpus-memory-bench-")
    os.environ.update({"PREFECT_HOME": str(work / "prefect"), "PREFECT_LOGGING_LEVEL": "WARNING"})
    os.environ.pop("PREFECT_API_URL", None)
    from config import server, settings

    settings.quiet_prefect_defaults()
    prefect = server.temporary_server()  # as a command starts it: a process of its own
    from flows import process
    from flows.pipeline import news_pipeline
    from flows.reprocess import reprocess
    from warehouse import queries

    imported = _rss_mib()
    sampler = Sampler()
    sampler.start()
    steps: list[dict[str, Any]] = []
    for name in STEPS:  # the names process_archive calls them by
        setattr(process, name, _recorded(name, getattr(process, name), sampler, steps))
    merging = process.merge
    run_sql = queries.run
    in_merge = threading.Event()

    def merge(*args: Any, **kwargs: Any) -> Any:
        in_merge.set()
        try:
            return merging(*args, **kwargs)
        finally:
            in_merge.clear()

    def sql(con: Any, name: str, **params: Any) -> Any:
        if not in_merge.is_set():
            return run_sql(con, name, **params)
        return _recorded(f"  {name}", run_sql, sampler, steps)(con, name, **params)

    process.merge = merge  # type: ignore[assignment]
    queries.run = sql

    prefect.ready()
    site, base = (None, base_url) if base_url else serve_demo(articles)
    flows: dict[str, Any] = {}
    try:
        db, data = str(work / "corpus.duckdb"), str(work / "data")
        for flow, call in (("news_pipeline", lambda: news_pipeline(
                               site="demo", base_url=base, db=db, data_dir=data)),
                           ("reprocess", lambda: reprocess(site="demo", base_url=base, db=db,
                                                           data_dir=data)),
                           ("no_change", lambda: news_pipeline(
                               site="demo", base_url=base, db=db, data_dir=data))):
            first, start = len(steps), time.perf_counter()
            summary = call()
            flows[flow] = {"summary": {k: summary.get(k) for k in (
                "new", "unchanged", "quarantined", "failed", "seconds")},
                "peak": sampler.peak(start, time.perf_counter()),
                "steps": sorted(steps[first:], key=lambda step: step["start"])}
    finally:
        if site is not None:
            site.terminate()
            site.wait(timeout=30)
        sampler.done.set()
    return {"articles": articles, "rss_after_imports": imported, "flows": flows}


def table(results: dict[str, Any]) -> str:
    lines = [f"{results['articles']}-article demo site; RSS of the flow's process, MiB "
             f"(with the flows imported: {results['rss_after_imports']:.0f})"]
    for flow, figures in results["flows"].items():
        lines += ["", f"{flow}: {figures['summary']}, highest {figures['peak']:.0f} MiB",
                  f"{'step':<34} {'seconds':>8} {'before':>7} {'peak':>7} {'after':>7}"]
        lines += [f"{s['step']:<34} {s['seconds']:>8.2f} {s['before']:>7.0f} {s['peak']:>7.0f} "
                  f"{s['after']:>7.0f}" for s in figures["steps"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10000)
    parser.add_argument("--base-url", help="A demo site of --articles articles already served "
                                           "(pre-rendered) at this URL.")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    results = measure(args.articles, args.base_url)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
