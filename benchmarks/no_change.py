"""The no-change run as a whole command: this checkout against another, and a small corpus
against a large one, taking turns.

    python benchmarks/no_change.py --db CORPUS --base-url URL [--db CORPUS --base-url URL]
                                   [--against CHECKOUT] [--rounds 5] [--json FILE]

CORPUS is a DuckDB corpus of the site served at URL: say, the one a first `newscorpus run`
or a whole-site backfill filled from a pre-rendered demo site that is still served
(`newscorpus demo-site --articles N --prerender`). Each side runs `python -m newscorpus run`
on its own copy of each corpus, so that both start from the same corpus, once a round, the
corpora and the sides taking turns (which side goes first alternates). With `--against`,
the other side is that checkout (a `git worktree` of an earlier commit); without it, this
checkout runs alone. Each side runs with PYTHONPATH set to its checkout, so that the
command, its crawl and its workers import its code.

It prints each side's flow seconds (the run summary's, timed inside the flow), wall seconds
and the peak RSS of the largest process of the command's tree, min-max over the rounds, and
how many pages each run fetched (a no-change run fetches what the site shows as changed).
With two corpora, it prints each side's growth exponent k of the flow seconds from the first
to the second (t2/t1 = (n2/n1)^k, n the article URLs each corpus has fetched; 0 is flat), of
the medians and of the minima. Not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from statistics import median
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import child  # noqa: E402 - after the path is set


def run_once(environ: dict[str, str], db: Path, base_url: str, turn: int) -> dict[str, Any]:
    """One no-change run on `db`, a copy in a folder of its own, which holds its data dir."""
    out, err = db.parent / f"{turn}.out", db.parent / f"{turn}.err"
    measured = child([sys.executable, "-m", "newscorpus", "run", "--site", "demo",
                      "--base-url", base_url, "--db", str(db), "--data-dir",
                      str(db.parent / "data"), "--json"],
                     streams=(out, err), env=environ, cwd=db.parent)
    summary = json.loads(out.read_text())
    return {"flow_seconds": summary["seconds"], "wall_seconds": measured["seconds"],
            "rss_mib": measured["rss_mib"], "fetched": summary["fetched"],
            "new": summary["new"]}


def article_urls(db: Path) -> int:
    """How many article URLs the corpus has fetched: the size of its site."""
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("SELECT count(DISTINCT url) FROM fetches WHERE kind = 'article'"
                          ).fetchone()
    return int(row[0]) if row else 0


def measure(corpora: list[tuple[Path, str]], against: Path | None,
            rounds: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="newscorpus-no-change-bench-"))
    sides = {"this": {**os.environ, "PYTHONPATH": str(ROOT)}}
    if against is not None:
        sides["against"] = {**os.environ, "PYTHONPATH": str(against.resolve())}
    copies = {(side, number): work / f"{side}-{number}" / db.name
              for side in sides for number, (db, _) in enumerate(corpora)}
    for (_, number), copy in copies.items():
        copy.parent.mkdir()
        shutil.copy(corpora[number][0], copy)
    runs: dict[str, list[list[dict[str, Any]]]] = {side: [[] for _ in corpora]
                                                   for side in sides}
    try:
        for turn in range(rounds):
            order = list(sides) if turn % 2 == 0 else list(reversed(sides))
            for number, (_, base_url) in enumerate(corpora):
                for side in order:
                    runs[side][number].append(run_once(sides[side], copies[side, number],
                                                       base_url, turn))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"corpora": [{"db": str(db), "base_url": url, "article_urls": article_urls(db)}
                        for db, url in corpora],
            "against": str(against) if against else None, "rounds": rounds, "runs": runs}


def table(results: dict[str, Any]) -> str:
    corpora = results["corpora"]
    lines = [f"No-change `newscorpus run`, {results['rounds']} rounds (min-max)",
             f"{'side':<8} {'articles':>9} {'flow s':>9} {'wall s':>11} {'peak MiB':>13}  "
             "fetched"]
    for side, by_corpus in results["runs"].items():
        for corpus, runs in zip(corpora, by_corpus, strict=True):
            lines.append(f"{side:<8} {corpus['article_urls']:>9,} "
                         f"{_span(runs, 'flow_seconds'):>9} {_span(runs, 'wall_seconds'):>11} "
                         f"{_span(runs, 'rss_mib'):>13}  {[run['fetched'] for run in runs]}")
    if len(corpora) == 2:
        sizes = corpora[1]["article_urls"] / corpora[0]["article_urls"]
        for side, (small, large) in results["runs"].items():
            flows = [[run["flow_seconds"] for run in runs] for runs in (small, large)]
            lines.append(f"{side}: exponent of the flow seconds "
                         f"{_exponent(median(flows[1]) / median(flows[0]), sizes):.3f} "
                         f"(medians), {_exponent(min(flows[1]) / min(flows[0]), sizes):.3f} "
                         "(minima)")
    return "\n".join(lines)


def _exponent(ratio: float, sizes: float) -> float:
    return math.log(ratio) / math.log(sizes)


def _span(runs: list[dict[str, Any]], key: str) -> str:
    values = [run[key] for run in runs]
    return f"{min(values):.1f}-{max(values):.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, action="append", required=True,
                        help="A corpus of the served site (twice: a small and a large one).")
    parser.add_argument("--base-url", action="append", required=True,
                        help="The served site of each --db, in the same order.")
    parser.add_argument("--against", type=Path, metavar="CHECKOUT",
                        help="Another checkout to take turns with (say, a git worktree).")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    if len(args.db) != len(args.base_url) or len(args.db) > 2:
        parser.error("give one --base-url for each --db, and at most two of each")
    results = measure(list(zip(args.db, args.base_url, strict=True)), args.against,
                      args.rounds)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
