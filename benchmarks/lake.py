"""Benchmark the load on both warehouses, on one batch, in one run.

    python benchmarks/lake.py --articles 10000 --rounds 3 [--json benchmarks/lake-10000.json]

It crawls a pre-rendered demo site once, extracts, cleans and validates the pages into one
batch (the flow's own building blocks, outside Prefect), then, round after round, loads that
batch into a fresh DuckDB file and into a fresh lake (DuckLake on a throwaway PostgreSQL
cluster, tests/postgres.py, with fsync on as a real server has it), timed the same way:
warm, in this process, the staging append and the merge each by wall clock. The backends
take turns in each round. Each load is checked: the corpus holds the batch's articles.

While each lake load runs, a reader process, attached to the lake before it starts, times
a query (the article count and the daily tag counts of a month) in a loop; its latency
during the load is set beside its latency on the idle lake before the load. On the DuckDB
file a reader cannot open the file while the load holds it (tests/test_lake.py), so there
is no such figure to give.

Prints min–max over the rounds; writes JSON. Not a test: it asserts only that the loads
hold what they were given.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from benchmarks import scratch  # noqa: E402 - after the path is set
from benchmarks.run import DAILY_TAG_COUNTS, report, serve_demo  # noqa: E402

# The reader: times QUERY in a loop until the stop file appears; one JSON list of
# [start time, seconds] pairs.
READER = """
import json, sys, time
from pathlib import Path
from warehouse.db import connect
from warehouse.lake import Lake
lake, stop, query = Lake(sys.argv[1], Path(sys.argv[2])), Path(sys.argv[3]), sys.argv[4]
con = connect(lake, read_only=True)
timed = []
while not stop.exists():
    started = time.time()
    con.execute(query).fetchall()
    timed.append((started, time.time() - started))
    if len(timed) == 1:
        print("ready", flush=True)
    time.sleep(0.02)
print(json.dumps(timed))
"""
QUERY = f"SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM ({DAILY_TAG_COUNTS}))"


def crawled_batch(base: str, work: Path) -> tuple[Any, Any, Any]:
    """The demo site crawled, extracted, cleaned, validated and assembled: one Batch, the
    RunInfo of its run, and the extraction, whose end removes the batch's rows."""
    from expectations import quality
    from expectations.validate import validate
    from extract.clean import split_duplicates
    from extract.parts import Parts
    from extract.workers import ArchiveExtraction
    from flows.process import assemble
    from sites import load_profile
    from spiders.fetches import fetch_table
    from spiders.plan import CrawlPlan
    from warehouse.load import RunInfo

    with urllib.request.urlopen(f"{base}/__truth__", timeout=60) as response:
        urls = [a["url"] for a in json.load(response)["articles"]]
    crawl = work / "crawl"
    crawl.mkdir()
    CrawlPlan(mode="urls", urls=urls).write(crawl / "plan.json")
    subprocess.run([sys.executable, "-m", "spiders.crawl", "--site", "demo", "--base-url", base,
                    "--out", str(crawl), "--run-id", "bench", "--plan", str(crawl / "plan.json"),
                    "--log-level", "WARNING"], cwd=ROOT, check=True)
    profile = load_profile("demo", base)
    fetches = fetch_table(crawl)
    extraction = ArchiveExtraction(profile, crawl)
    batch = split_duplicates(extraction.finish(fetches).keys)
    now = datetime.now(UTC)
    validation = validate(quality.validation_frame(Parts(batch.articles).read(), profile),
                          quality.validation_params(profile, now))
    run = RunInfo(run_id="bench", site="demo", base_url=base, mode="full", started_at=now,
                  timezone=profile.timezone, archive_dir=str(crawl))
    return assemble(fetches, batch, validation), run, extraction


def timed_load(corpus: Any, run: Any, batch: Any) -> dict[str, float]:
    """Stage, then merge, the batch; the seconds of each, and the articles the corpus holds."""
    from warehouse.db import reading
    from warehouse.load import merge_staged, stage_run

    started = time.perf_counter()
    stage_run(corpus, run, batch, datetime.now(UTC))
    staged = time.perf_counter()
    merge_staged(corpus)
    merged = time.perf_counter()
    with reading(corpus) as con:
        row = con.execute("SELECT count(*) FROM articles").fetchone()
    if not row or row[0] != len(batch.articles):
        raise RuntimeError(f"{corpus} holds {row} articles, not the batch's {len(batch.articles)}")
    return {"stage": staged - started, "merge": merged - staged, "total": merged - started}


def lake_round(server: dict[str, Any], work: Path, number: int, run: Any,
               batch: Any) -> dict[str, Any]:
    """One load into a fresh lake, with the reader timing its query before and during it."""
    import postgres as pg

    from warehouse.db import connect
    from warehouse.lake import Lake

    lake = Lake(pg.create_database(server, f"bench_{number}"), work / f"lake-{number}")
    connect(lake).close()  # made and migrated, as a lake is before its runs
    stop = work / f"stop-{number}"
    reader = subprocess.Popen([sys.executable, "-c", READER, lake.catalog, str(lake.data_path),
                               str(stop), QUERY], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
    time.sleep(2)  # the idle lake's latency, first
    began = time.time()
    figures = timed_load(lake, run, batch)
    ended = time.time()
    stop.touch()
    timed = json.loads(reader.communicate(timeout=120)[0])
    idle = [seconds for started, seconds in timed if started < began]
    during = [seconds for started, seconds in timed if began <= started < ended]
    return {**figures, "reader_idle_ms": 1000 * statistics.median(idle),
            "reader_during_ms": 1000 * statistics.median(during),
            "reader_during_max_ms": 1000 * max(during), "reader_queries_during": len(during)}


def measure(articles: int, rounds: int) -> dict[str, Any]:
    work = scratch.folder("newscorpus-lake-bench-")
    site, base = serve_demo(articles)
    try:
        batch, run, extraction = crawled_batch(base, work)
    finally:
        site.terminate()
        site.wait(timeout=30)
    with extraction:
        return _loads(batch, run, work, articles, rounds)


def _loads(batch: Any, run: Any, work: Path, articles: int, rounds: int) -> dict[str, Any]:
    import postgres as pg
    from conftest import free_port

    rows = {"articles": len(batch.articles), "fetches": len(batch.fetches),
            "quarantine": len(batch.quarantine), "validation": len(batch.validation)}
    out: dict[str, Any] = {"articles": articles, "batch": rows, "cpus": os.cpu_count(),
                           "duckdb": [], "ducklake": []}
    with pg.cluster(Path(tempfile.mkdtemp(prefix="newscorpus-lake-bench-pg-")), free_port(),
                    durable=True) as server:
        for number in range(rounds):
            out["duckdb"].append(timed_load(work / f"corpus-{number}.duckdb", run, batch))
            out["ducklake"].append(lake_round(server, work, number, run, batch))
    return out


def table(results: dict[str, Any]) -> str:
    articles, rows = results["batch"]["articles"], sum(results["batch"].values())

    def span(values: list[float], unit: str = "", scale: float = 1.0) -> str:
        return f"{min(values) * scale:,.1f}–{max(values) * scale:,.1f}{unit}"

    lines = [f"load of one batch ({results['batch']}), {len(results['duckdb'])} rounds, "
             f"{results['cpus']} CPUs: seconds, articles/s and rows/s (all four tables), min–max",
             f"{'':<10}{'stage s':>14}{'merge s':>14}{'total s':>14}{'articles/s':>18}"
             f"{'rows/s':>18}"]
    for backend in ("duckdb", "ducklake"):
        runs = results[backend]
        lines.append(f"{backend:<10}" + "".join(
            f"{span([r[step] for r in runs]):>14}" for step in ("stage", "merge", "total"))
            + f"{span([articles / r['total'] for r in runs]):>18}"
            + f"{span([rows / r['total'] for r in runs]):>18}")
    lake = results["ducklake"]
    lines.append("reader's query on the lake, median ms: idle "
                 f"{span([r['reader_idle_ms'] for r in lake])}, during the load "
                 f"{span([r['reader_during_ms'] for r in lake])} (slowest "
                 f"{span([r['reader_during_max_ms'] for r in lake])}), "
                 f"{min(r['reader_queries_during'] for r in lake)}+ queries per load")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    report(measure(args.articles, args.rounds), table, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
