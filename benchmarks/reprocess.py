"""Reprocessing throughput: `newscorpus reprocess` of a whole archive, as a whole command.

    python benchmarks/reprocess.py [--articles 50000] [--runs 3] [--json FILE]

A pre-rendered demo site is served from its own process, and one `newscorpus run` fills a
corpus and its archive from it. Then, each round, `newscorpus reprocess` re-extracts every
archived page with the current code and loads the result, twice, each time as a process of
its own, timed from outside:
- `cold`: with Prefect's temporary server (no server named), as a one-off command runs;
- `server`: with a Prefect server that `newscorpus server start` left running (in a
  PREFECT_HOME of its own), as scheduled runs and deployments have one.

Each gives its wall time, the flow's own seconds (its summary's `seconds`, which leave out
the process's start-up and Prefect's server), and the peak RSS of the largest process of its
tree (the server that `server start` left running is not in that tree).

Pages per second are the archived article pages over each of the two times. The output is
checked each round: a reprocess with unchanged code finds every article unchanged, holds back
the pages the first run held back, and fails none. Not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import scratch  # noqa: E402 - after the path is set
from benchmarks.run import child, serve_demo  # noqa: E402 - after the path is set
from tests.conftest import free_port  # noqa: E402


def _command(verb: str, base: str, work: Path) -> list[str]:
    extra = ["--site", "demo"] if verb == "run" else []
    return [sys.executable, "-m", "newscorpus", verb, *extra, "--base-url", base,
            "--db", str(work / "corpus.duckdb"), *(["--data-dir", str(work / "data")]
                                                   if verb == "run" else []), "--json"]


def _summary(path: Path) -> dict[str, Any]:
    out = path.read_text(encoding="utf-8")
    summary: dict[str, Any] = json.loads(out[out.index("{"):])
    return summary


WAYS = ("cold", "server")


def measure(articles: int, runs: int) -> dict[str, Any]:
    work = scratch.folder("newscorpus-reprocess-bench-")
    env = {**{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
           "PREFECT_HOME": str(work / "prefect"), "NEWSCORPUS_DATA_DIR": str(work / "data")}
    envs = {"cold": env, "server": {**env, "PREFECT_HOME": str(work / "prefect-server")}}
    server, base = serve_demo(articles)
    try:
        streams = (work / "run.out", work / "run.err")
        filled = child(_command("run", base, work), streams, cwd=work, env=env)
        first = _summary(streams[0])
        print(f"filled: {filled['seconds']:.1f} s, {first}", file=sys.stderr)
    finally:
        server.terminate()  # a reprocess reads the archive only: no site from here on
        server.wait(timeout=30)
    pages = first["new"] + first["quarantined"]
    prefect = [sys.executable, "-m", "newscorpus", "server"]
    child([*prefect, "start", "--port", str(free_port())], cwd=work, env=envs["server"])
    rounds: dict[str, list[dict[str, Any]]] = {way: [] for way in WAYS}
    try:
        for number in range(1, runs + 1):
            for way in WAYS:
                streams = (work / f"{way}-{number}.out", work / f"{way}-{number}.err")
                ran = child(_command("reprocess", base, work), streams, cwd=work,
                            env=envs[way])
                rounds[way].append(_round(ran, _summary(streams[0]), first, pages))
                print(f"round {number}, {way}: {rounds[way][-1]}", file=sys.stderr)
    finally:
        child([*prefect, "stop"], cwd=work, env=envs["server"])
    return {"articles": articles, "pages": pages, "runs": runs, "cores": os.cpu_count(),
            "rounds": rounds}


def _round(ran: dict[str, float], summary: dict[str, Any], first: dict[str, Any],
           pages: int) -> dict[str, Any]:
    """One reprocess's figures, and whether its output is the first run's."""
    ok = (summary["status"] == "completed" and summary["unchanged"] == first["new"]
          and summary["quarantined"] == first["quarantined"]
          and summary["new"] == summary["updated"] == summary["failed"] == 0)
    return {"seconds": ran["seconds"], "flow_seconds": summary["seconds"],
            "rss_mib": ran["rss_mib"], "pages_per_s": pages / ran["seconds"],
            "flow_pages_per_s": pages / summary["seconds"], "ok": ok,
            "unchanged": summary["unchanged"], "quarantined": summary["quarantined"]}


def _span(rounds: list[dict[str, Any]], key: str, digits: int = 0) -> str:
    values = [r[key] for r in rounds]
    return f"{min(values):.{digits}f}–{max(values):.{digits}f}"


def table(results: dict[str, Any]) -> str:
    lines = [f"`newscorpus reprocess` of {results['pages']} archived article pages "
             f"({results['articles']}-article demo site), {results['runs']} rounds, "
             f"{results['cores']} cores"]
    for way, rounds in results["rounds"].items():
        lines += [
            f"{way}: wall s {_span(rounds, 'seconds', 1)}, pages/s "
            f"{_span(rounds, 'pages_per_s')}; flow s {_span(rounds, 'flow_seconds', 1)}, "
            f"pages/s {_span(rounds, 'flow_pages_per_s')}; peak RSS MiB "
            f"{_span(rounds, 'rss_mib')}",
            f"{way}: output: unchanged {rounds[-1]['unchanged']}, quarantined "
            f"{rounds[-1]['quarantined']}{'' if all(r['ok'] for r in rounds) else '  NOT OK'}"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    results = measure(args.articles, args.runs)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0 if all(r["ok"] for rounds in results["rounds"].values() for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
