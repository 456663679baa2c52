"""Reprocessing throughput: `newscorpus reprocess` of a whole archive, as a whole command.

    python benchmarks/reprocess.py [--articles 50000] [--runs 3] [--json FILE]

A pre-rendered demo site is served from its own process, and one `newscorpus run` fills a
corpus and its archive from it. Then, each round, `newscorpus reprocess` re-extracts every
archived page with the current code and loads the result, as a process of its own with
Prefect's temporary server (no server named), timed from outside: its wall time, the
flow's own seconds (its summary's `seconds`, which leave out the process's start-up and
Prefect's server), and the peak RSS of the largest process of its tree.

Pages per second are the archived article pages over each of the two times. The output is
checked each round: a reprocess with unchanged code finds every article unchanged, holds back
the pages the first run held back, and fails none. Not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import child, serve_demo  # noqa: E402 - after the path is set


def _command(verb: str, base: str, work: Path) -> list[str]:
    extra = ["--site", "demo"] if verb == "run" else []
    return [sys.executable, "-m", "newscorpus", verb, *extra, "--base-url", base,
            "--db", str(work / "corpus.duckdb"), *(["--data-dir", str(work / "data")]
                                                   if verb == "run" else []), "--json"]


def _summary(path: Path) -> dict[str, Any]:
    out = path.read_text(encoding="utf-8")
    summary: dict[str, Any] = json.loads(out[out.index("{"):])
    return summary


def measure(articles: int, runs: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="newscorpus-reprocess-bench-"))
    env = {**{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
           "PREFECT_HOME": str(work / "prefect"), "NEWSCORPUS_DATA_DIR": str(work / "data")}
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
    rounds = []
    for number in range(1, runs + 1):
        streams = (work / f"reprocess-{number}.out", work / f"reprocess-{number}.err")
        ran = child(_command("reprocess", base, work), streams, cwd=work, env=env)
        summary = _summary(streams[0])
        ok = (summary["status"] == "completed" and summary["unchanged"] == first["new"]
              and summary["quarantined"] == first["quarantined"]
              and summary["new"] == summary["updated"] == summary["failed"] == 0)
        rounds.append({"seconds": ran["seconds"], "flow_seconds": summary["seconds"],
                       "rss_mib": ran["rss_mib"], "pages_per_s": pages / ran["seconds"],
                       "flow_pages_per_s": pages / summary["seconds"], "ok": ok,
                       "unchanged": summary["unchanged"],
                       "quarantined": summary["quarantined"]})
        print(f"round {number}: {rounds[-1]}", file=sys.stderr)
    return {"articles": articles, "pages": pages, "runs": runs, "cores": os.cpu_count(),
            "rounds": rounds}


def table(results: dict[str, Any]) -> str:
    rounds = results["rounds"]

    def span(key: str, digits: int = 0) -> str:
        values = [r[key] for r in rounds]
        return f"{min(values):.{digits}f}–{max(values):.{digits}f}"

    return "\n".join([
        f"`newscorpus reprocess` of {results['pages']} archived article pages "
        f"({results['articles']}-article demo site), {results['runs']} rounds, "
        f"{results['cores']} cores",
        f"wall s {span('seconds', 1)}, pages/s {span('pages_per_s')}",
        f"flow s {span('flow_seconds', 1)}, pages/s {span('flow_pages_per_s')}",
        f"peak RSS MiB {span('rss_mib')}",
        f"output: unchanged {rounds[-1]['unchanged']}, quarantined {rounds[-1]['quarantined']}"
        f"{'' if all(r['ok'] for r in rounds) else '  NOT OK'}"])


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
    return 0 if all(r["ok"] for r in results["rounds"]) else 1


if __name__ == "__main__":
    sys.exit(main())
