"""Benchmark newscorpus on a demo site, against baselines measured in the same run.

    python benchmarks/run.py --articles 10000 [--json benchmarks/results-10000.json]

It serves a pre-rendered demo site from its own process, then measures, on the same pages:
- bare fetch: a Scrapy spider that only downloads (the fetch limit);
- fetch + archive: newscorpus's spider writing WARC;
- extract, clean, validate, load, each alone;
- trafilatura's `extract` on the same archived pages (the library one would reach for);
- the whole `news_pipeline` flow (Prefect's start-up excluded), and a no-change incremental
  run after it; the file sizes; and the analytics query "daily counts by tag over a month";
- with --backfill, a backfill of the whole site in week chunks (time, peak RSS).
CPU seconds are per process (children through wait4); peak RSS is sampled from /proc for the
processes a stage starts (the largest one of its tree). Prints a table; writes JSON. This is
not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import scratch  # noqa: E402 - after the path is set

for key, value in {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                   "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
                   "PREFECT_LOGGING_LEVEL": "WARNING"}.items():
    os.environ.setdefault(key, value)

DAILY_TAG_COUNTS = """
SELECT CAST(a.published_at AT TIME ZONE 'Europe/Kyiv' AS DATE) AS day, t.tag, count(*) AS n
FROM article_tags t JOIN articles a USING (article_id)
WHERE a.published_at > (SELECT max(published_at) FROM articles) - INTERVAL 30 DAY
GROUP BY ALL ORDER BY day, n DESC"""


def _tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
        except OSError:
            continue  # gone meanwhile
        children.setdefault(int(rest.rsplit(") ", 1)[1].split()[1]), []).append(int(pid))
    tree, todo = [], [root]
    while todo:
        tree.append(pid := todo.pop())
        todo += children.get(pid, [])
    return tree


def _hwm_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines()
                 if line.startswith("VmHWM:")), 0)


class PeakRSS(threading.Thread):
    """The largest peak RSS (VmHWM) of any one process of a tree, sampled every 0.2 s.

    Not ru_maxrss: a child started by fork reports its parent's size at the fork, so a child
    of a large benchmark process would look as large."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.kib, self.done = root, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.kib = max([self.kib, *map(_hwm_kib, _tree(self.root))])
            self.done.wait(0.2)


def child(command: list[str], streams: tuple[Path, Path] | None = None,
          exit_codes: tuple[int, ...] = (0,), **kwargs: Any) -> dict[str, float]:
    """Run a process to its end; its wall time, CPU seconds (its tree's) and peak RSS (MiB).
    Its stdout and stderr go to the files `streams` names, else nowhere; an exit code not in
    `exit_codes` is an error."""
    started = time.perf_counter()
    with ExitStack() as files:
        out, err = (files.enter_context(path.open("wb")) for path in streams) if streams \
            else (subprocess.DEVNULL, subprocess.DEVNULL)
        process = subprocess.Popen(command, stdout=out, stderr=err, **kwargs)
        peak = PeakRSS(process.pid)
        peak.start()
        _, status, usage = os.wait4(process.pid, 0)
        peak.done.set()
        peak.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in exit_codes:
        raise RuntimeError(f"{command[:4]} exited with {process.returncode}")
    return {"seconds": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mib": peak.kib / 1024}


class InProcess:
    """Wall time and CPU seconds of a block; the process's peak RSS after it."""

    def __enter__(self) -> InProcess:
        self.started, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.figures = {"seconds": time.perf_counter() - self.started,
                        "cpu": time.process_time() - self.cpu0,
                        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def serve_demo(articles: int) -> tuple[subprocess.Popen[str], str]:
    from tests.conftest import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "newscorpus", "demo-site", "--port",
                               str(port), "--articles", str(articles), "--prerender", "--quiet"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert server.stdout is not None
    server.stdout.readline()  # printed once every page is rendered
    return server, f"http://127.0.0.1:{port}"


def measure_backfill(base: str, truth: dict[str, Any], work: Path) -> dict[str, Any]:
    """`newscorpus backfill` over the whole site in week chunks, as its own process (tree):
    wall time and the peak RSS of any one process in it (Prefect's temporary server too)."""
    days = sorted(a["published_at"][:10] for a in truth["articles"])
    run = child([sys.executable, "-m", "newscorpus", "backfill", "--since", days[0],
                 "--until", days[-1], "--chunk", "week", "--base-url", base,
                 "--db", str(work / "backfill.duckdb"), "--data-dir", str(work / "backfill")],
                cwd=work)
    with urllib.request.urlopen(f"{base}/__truth__", timeout=60):
        pass  # the site still answers: the backfill did not take it down
    return {**run, "days": len(set(days)), "first": days[0], "last": days[-1]}


def measure(articles: int, sample: int, backfill: bool) -> dict[str, Any]:
    from expectations import quality
    from expectations.validate import validate
    from extract.article import extract_article
    from extract.clean import clean_rows, split_duplicates
    from extract.parts import write_part
    from flows.pipeline import news_pipeline
    from flows.process import assemble
    from sites import load_profile
    from spiders.archive import WARC_NAME
    from spiders.archive_reader import read_payloads
    from spiders.fetches import fetch_table
    from spiders.plan import CrawlPlan
    from warehouse.db import connect
    from warehouse.load import RunInfo, load_run

    work = scratch.folder("newscorpus-bench-")
    os.environ["PREFECT_HOME"] = str(work / "prefect")
    server, base = serve_demo(articles)
    out: dict[str, Any] = {"articles": articles, "machine": os.uname().machine,
                           "cpus": os.cpu_count()}
    try:
        with urllib.request.urlopen(f"{base}/__truth__", timeout=60) as response:
            truth = json.load(response)
        urls = [a["url"] for a in truth["articles"]]
        (work / "urls.txt").write_text("\n".join(urls))
        pages = len(urls)

        bare = child([sys.executable, "-m", "scrapy", "runspider",
                      str(ROOT / "benchmarks" / "bare_spider.py"), "-a",
                      f"urls={work / 'urls.txt'}"], cwd=work)
        out["bare_fetch"] = {**bare, "pages_per_s": pages / bare["seconds"]}

        crawl_dir = work / "crawl"
        crawl_dir.mkdir()
        CrawlPlan(mode="urls", urls=urls).write(crawl_dir / "plan.json")
        fetch = child([sys.executable, "-m", "spiders.crawl", "--site", "demo", "--base-url",
                       base, "--out", str(crawl_dir), "--run-id", "bench", "--plan",
                       str(crawl_dir / "plan.json"), "--log-level", "WARNING"], cwd=ROOT)
        out["fetch_archive"] = {**fetch, "pages_per_s": pages / fetch["seconds"]}

        profile = load_profile("demo", base)
        fetches = fetch_table(crawl_dir)
        todo = fetches[(fetches["kind"] == "article") & (fetches["status"] == 200)]
        by_offset = dict(zip(todo["warc_offset"].astype(int), todo["final_url"], strict=True))
        payloads = list(read_payloads(crawl_dir / WARC_NAME, set(by_offset)))
        with InProcess() as timer:
            records = [extract_article(p.body, by_offset[p.offset], profile, p.content_type)
                       for p in payloads]
        out["extract"] = {**timer.figures, "pages_per_s": len(records) / timer.figures["seconds"]}

        try:
            import trafilatura
        except ImportError:
            out["trafilatura"] = None
        else:
            chosen = payloads[:sample]
            with InProcess() as timer:
                for page in chosen:
                    trafilatura.extract(page.body.decode("utf-8"), with_metadata=True)
            out["trafilatura"] = {**timer.figures,
                                  "pages_per_s": len(chosen) / timer.figures["seconds"]}

        with InProcess() as timer:
            rows = clean_rows(records)
            batch = split_duplicates(rows)
        out["clean"] = {**timer.figures, "pages_per_s": len(records) / timer.figures["seconds"]}
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        with InProcess() as timer:
            validation = validate(quality.validation_frame(batch.articles, profile),
                                  quality.validation_params(profile, now))
        out["validate"] = {**timer.figures,
                           "pages_per_s": len(records) / timer.figures["seconds"]}
        fetches.loc[fetches["kind"] == "article", "outcome"] = fetches["outcome"]
        run = RunInfo(run_id="bench", site="demo", base_url=base, mode="full", started_at=now,
                      timezone=profile.timezone,
                      archive_dir=str(crawl_dir))
        # As the extraction workers do, untimed: the rows to a part, the batch their keys.
        keys = split_duplicates(write_part(rows, work / "rows.parquet"))
        with InProcess() as timer:
            load_run(work / "stages.duckdb", run, assemble(fetches, keys, validation), now)
        out["load"] = {**timer.figures, "pages_per_s": len(records) / timer.figures["seconds"]}

        db, data = work / "corpus.duckdb", work / "data"
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        with InProcess() as timer:
            summary = news_pipeline(base_url=base, db=str(db), data_dir=str(data), mode="full")
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["end_to_end"] = {
            **timer.figures, "flow_seconds": summary["seconds"],
            "pages_per_s": summary["discovered"] / summary["seconds"],
            "crawl_cpu": (children.ru_utime + children.ru_stime)
            - (children0.ru_utime + children0.ru_stime)}
        nothing = news_pipeline(base_url=base, db=str(db), data_dir=str(data))
        out["no_change"] = {"flow_seconds": nothing["seconds"],
                            "discovered": nothing["discovered"]}
        warc = data / "archive" / "demo" / summary["run_id"] / WARC_NAME
        out["sizes_mib"] = {"duckdb": db.stat().st_size / 2**20,
                            "warc": warc.stat().st_size / 2**20}
        con = connect(db, read_only=True)
        try:
            timings = []
            for _ in range(7):
                started = time.perf_counter()
                con.execute(DAILY_TAG_COUNTS).fetchall()
                timings.append(time.perf_counter() - started)
        finally:
            con.close()
        out["query_daily_tag_counts_ms"] = statistics.median(timings) * 1000
        if backfill:
            out["backfill"] = measure_backfill(base, truth, work)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


def table(results: dict[str, Any]) -> str:
    bare = results["bare_fetch"]["pages_per_s"]
    traf = (results.get("trafilatura") or {}).get("pages_per_s")
    lines = [f"newscorpus benchmark: {results['articles']} articles, {results['cpus']} CPUs",
             f"{'stage':<16}{'pages/s':>10}  {'ratio':<22}{'seconds':>9}{'CPU s':>8}"
             f"{'peak RSS MiB':>14}"]
    for stage in ("bare_fetch", "fetch_archive", "extract", "trafilatura", "clean", "validate",
                  "load", "end_to_end"):
        row = results.get(stage)
        if not row:
            continue
        if stage == "extract" and traf:
            ratio = f"{row['pages_per_s'] / traf:.1f}x trafilatura"
        elif stage in ("fetch_archive", "end_to_end"):
            ratio = f"{row['pages_per_s'] / bare:.0%} of bare"
        else:
            ratio = ""
        # In-process stages share the benchmark process: its RSS says nothing of theirs.
        rss = f"{row['rss_mib']:.0f}" if stage in ("bare_fetch", "fetch_archive") else ""
        lines.append(f"{stage:<16}{row['pages_per_s']:>10.0f}  {ratio:<22}"
                     f"{row.get('flow_seconds', row['seconds']):>9.1f}{row['cpu']:>8.1f}"
                     f"{rss:>14}")
    lines += [f"no-change incremental run: {results['no_change']['flow_seconds']:.1f} s "
              f"(Prefect start-up excluded), {results['no_change']['discovered']} articles",
              f"daily counts by tag over a month: {results['query_daily_tag_counts_ms']:.1f} ms",
              f"DuckDB file {results['sizes_mib']['duckdb']:.1f} MiB, "
              f"WARC {results['sizes_mib']['warc']:.1f} MiB"]
    if backfill := results.get("backfill"):
        lines.append(f"backfill {backfill['first']}..{backfill['last']} in week chunks: "
                     f"{backfill['seconds']:.0f} s, peak RSS {backfill['rss_mib']:.0f} MiB")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10000)
    parser.add_argument("--trafilatura-sample", type=int, default=1000,
                        help="pages for the trafilatura baseline (it is slow)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--backfill", action="store_true",
                        help="also backfill the whole site, week by week (minutes at 50k)")
    args = parser.parse_args()
    report(measure(args.articles, args.trafilatura_sample, args.backfill), table, args.json)
    return 0


def report(results: dict[str, Any], table: Callable[[dict[str, Any]], str],
           path: Path | None) -> None:
    """Print the figures as a table; write them as JSON to `path`, when given."""
    print(table(results))
    if path:
        path.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
