"""Backfill throughput with 1, 2 and 3 workers of a Prefect work pool, on this machine.

    python benchmarks/fanout.py [--articles 300] [--workers 1 2 3] [--rounds 2] [--json FILE]

It serves a pre-rendered demo site, starts a throwaway PostgreSQL cluster (tests/postgres.py)
and, for each worker count and round, a fresh setup as tests/test_fanout.py has it
(tests/prefect_pool.py): a Prefect server on PostgreSQL, the deployments, N workers on the
`chunks` queue (one chunk at a time each) and one more for the backfill itself, and a fresh
lake. Then it triggers a backfill of the whole site in week chunks with `fan_out` and times it
from the trigger to the backfill's end, as the server records it: the same clock for every
worker count. The server, deploy and worker start-ups are not in it (they are long-lived).
Each backfill is checked: the lake holds every article the site's truth says loads.

On a 2-core machine the workers share two cores: expect CPU saturation, not scaling. Prints
min–max over the rounds, and articles/s; writes JSON. Not a test: it reports.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from benchmarks import scratch  # noqa: E402 - after the path is set
from benchmarks.run import report, serve_demo  # noqa: E402


def one_backfill(postgres: dict[str, Any], work: Path, workers: int, base: str,
                 window: tuple[str, str]) -> dict[str, Any]:
    """A fresh pool of `workers`, a fresh lake, one fanned-out backfill: its seconds."""
    import postgres as pg
    from conftest import free_port
    from prefect_pool import trigger, wait_for, work_pool

    from warehouse.db import reading
    from warehouse.lake import Lake

    port = free_port()
    lake = Lake(pg.create_database(postgres, f"lake_{port}"), work / "lake")
    with work_pool(postgres, work, port, workers, {
            "NEWSCORPUS_WAREHOUSE": f"ducklake:{lake.catalog}",
            "NEWSCORPUS_LAKE_DATA": str(lake.data_path),
            "NEWSCORPUS_DATA_DIR": str(work / "data")}) as server:
        parent = trigger(server, "backfill/backfill", since=window[0], until=window[1],
                         chunk="week", fan_out="true", base_url=base)
        [ended] = wait_for(server, [parent], 3600)
    if ended["state_type"] != "COMPLETED":
        raise RuntimeError(f"the backfill ended {ended['state_type']}")
    with reading(lake) as con:
        row = con.execute("SELECT count(*) FROM articles").fetchone()
    seconds = (datetime.fromisoformat(ended["end_time"])
               - datetime.fromisoformat(ended["start_time"])).total_seconds()
    return {"seconds": seconds, "articles": row[0] if row else 0}


def measure(articles: int, worker_counts: list[int], rounds: int) -> dict[str, Any]:
    import postgres as pg
    from conftest import free_port

    work = scratch.folder("newscorpus-fanout-bench-")
    site, base = serve_demo(articles)
    try:
        with urllib.request.urlopen(f"{base}/__truth__", timeout=60) as answer:
            truth = json.load(answer)
        days = sorted(a["published_at"][:10] for a in truth["articles"])
        loadable = sum(a["expected"] == "loaded" for a in truth["articles"])
        out: dict[str, Any] = {"articles": articles, "loadable": loadable,
                               "window": [days[0], days[-1]], "workers": {}}
        # A folder of its own: the server's user cannot enter `work`, which is root's alone.
        pg_root = Path(tempfile.mkdtemp(prefix="newscorpus-pg-"))
        with pg.cluster(pg_root, free_port(), durable=True) as postgres:
            for round_ in range(rounds):
                for workers in worker_counts:  # in turns, so that drift hits every count
                    folder = work / f"w{workers}-r{round_}"
                    folder.mkdir()
                    result = one_backfill(postgres, folder, workers, base, (days[0], days[-1]))
                    if result["articles"] != loadable:
                        raise RuntimeError(f"{workers} workers loaded {result['articles']} "
                                           f"articles, not {loadable}")
                    out["workers"].setdefault(str(workers), []).append(result["seconds"])
    finally:
        site.terminate()
    return out


def table(results: dict[str, Any]) -> str:
    lines = [f"backfill of {results['articles']} articles ({results['window'][0]} to "
             f"{results['window'][1]}, week chunks), fanned out; min–max over the rounds",
             f"{'workers':>8} {'seconds':>15} {'articles/s':>15} {'vs 1 worker':>12}"]
    one = results["workers"].get("1")
    for workers, seconds in results["workers"].items():
        rates = [results["loadable"] / s for s in seconds]
        speedup = f"{min(one) / max(seconds):.2f}–{max(one) / min(seconds):.2f}" if one else ""
        lines.append(f"{workers:>8} {min(seconds):7.1f}–{max(seconds):<7.1f} "
                     f"{min(rates):7.1f}–{max(rates):<7.1f} {speedup:>12}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    report(measure(args.articles, args.workers, args.rounds), table, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
