"""The no-change run as a whole command: this checkout against another, taking turns.

    python benchmarks/no_change.py --db CORPUS --base-url URL [--against CHECKOUT]
                                   [--rounds 5] [--json FILE]

CORPUS is a DuckDB corpus of the site served at URL: say, the one a whole-site backfill
filled from a pre-rendered demo site that is still served (`newscorpus demo-site --articles
N --prerender`). Each side runs `python -m newscorpus run` on its own copy of it, so that
both start from the same corpus, once a round, the sides taking turns (which goes first
alternates). With `--against`, the other side is that checkout (a `git worktree` of an
earlier commit); without it, this checkout runs alone. Each side runs with PYTHONPATH set to
its checkout, so that the command, its crawl and its workers import its code.

It prints each side's flow seconds (the run summary's, timed inside the flow), wall seconds
and the peak RSS of the largest process of the command's tree, min-max over the rounds, and
how many pages each run fetched (a no-change run fetches what the site shows as changed).
Not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import child  # noqa: E402 - after the path is set


def run_once(side: str, environ: dict[str, str], db: Path, base_url: str,
             work: Path, number: int) -> dict[str, Any]:
    out, err = work / f"{side}-{number}.out", work / f"{side}-{number}.err"
    measured = child([sys.executable, "-m", "newscorpus", "run", "--site", "demo",
                      "--base-url", base_url, "--db", str(db), "--data-dir",
                      str(work / f"data-{side}"), "--json"],
                     streams=(out, err), env=environ, cwd=work)
    summary = json.loads(out.read_text())
    return {"flow_seconds": summary["seconds"], "wall_seconds": measured["seconds"],
            "rss_mib": measured["rss_mib"], "fetched": summary["fetched"],
            "new": summary["new"]}


def measure(db: Path, base_url: str, against: Path | None, rounds: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="newscorpus-no-change-bench-"))
    sides = {"this": {**os.environ, "PYTHONPATH": str(ROOT)}}
    if against is not None:
        sides["against"] = {**os.environ, "PYTHONPATH": str(against.resolve())}
    copies = {side: work / f"{side}.duckdb" for side in sides}
    for copy in copies.values():
        shutil.copy(db, copy)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    try:
        for number in range(rounds):
            order = list(sides) if number % 2 == 0 else list(reversed(sides))
            for side in order:
                runs[side].append(run_once(side, sides[side], copies[side], base_url, work,
                                           number))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"db": str(db), "base_url": base_url, "against": str(against) if against else None,
            "rounds": rounds, "runs": runs}


def table(results: dict[str, Any]) -> str:
    lines = [f"No-change `newscorpus run` on copies of {results['db']}, "
             f"{results['rounds']} rounds (min-max)",
             f"{'side':<8} {'flow s':>11} {'wall s':>13} {'peak MiB':>11}  fetched"]
    for side, runs in results["runs"].items():
        lines.append(f"{side:<8} {_span(runs, 'flow_seconds'):>11} "
                     f"{_span(runs, 'wall_seconds'):>13} {_span(runs, 'rss_mib'):>11}  "
                     f"{[run['fetched'] for run in runs]}")
    return "\n".join(lines)


def _span(runs: list[dict[str, Any]], key: str) -> str:
    values = [run[key] for run in runs]
    return f"{min(values):.1f}-{max(values):.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="A corpus of the served site.")
    parser.add_argument("--base-url", required=True, help="The served site.")
    parser.add_argument("--against", type=Path, metavar="CHECKOUT",
                        help="Another checkout to take turns with (say, a git worktree).")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    results = measure(args.db, args.base_url, args.against, args.rounds)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
