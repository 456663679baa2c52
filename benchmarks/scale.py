"""How newscorpus grows with the site: the load, the no-change run and a backfill, by size.

    python benchmarks/scale.py [--sizes 10000 200000] [--json FILE]

For each size, a pre-rendered demo site of that many articles is served from its own
process, and on it:
- `benchmarks/memory.py` runs, in a process of its own, `news_pipeline` into a fresh DuckDB
  file (the load: its `stage` and `merge` steps), `reprocess`, and `news_pipeline` again,
  which finds nothing new (the no-change run, timed inside the flow: its summary's seconds);
- `newscorpus backfill` of the whole site in week chunks runs as a whole command, into a
  fresh DuckDB file: its wall time and the peak RSS of the largest process of its tree.

Between consecutive sizes it prints the growth exponent k of each time, t2/t1 = (n2/n1)^k:
0 is flat, 1 linear. Not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import scratch  # noqa: E402 - after the path is set
from benchmarks.run import measure_backfill, serve_demo  # noqa: E402 - after the path is set


def _step_seconds(flow: dict[str, Any], names: tuple[str, ...]) -> float:
    return sum(step["seconds"] for step in flow["steps"] if step["step"] in names)


def measure(articles: int, work: Path) -> dict[str, Any]:
    site, base = serve_demo(articles)
    try:
        with urllib.request.urlopen(f"{base}/__truth__", timeout=120) as answer:
            truth = json.load(answer)
        memory_json = work / f"memory-{articles}.json"
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "memory.py"), "--articles",
                        str(articles), "--base-url", base, "--json", str(memory_json)],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        flows = json.loads(memory_json.read_text())["flows"]
        backfill_dir = work / f"backfill-{articles}"
        backfill_dir.mkdir()
        backfill = measure_backfill(base, truth, backfill_dir)
    finally:
        site.terminate()
        site.wait(timeout=30)
    first, nothing = flows["news_pipeline"], flows["no_change"]
    return {
        "articles": articles, "loaded": first["summary"]["new"],
        "load_seconds": _step_seconds(first, ("stage", "merge")),
        "run_flow_seconds": first["summary"]["seconds"],
        "run_peak_rss_mib": max(step["peak"] for step in first["steps"]),
        "no_change_flow_seconds": nothing["summary"]["seconds"],
        "no_change_new": nothing["summary"]["new"],
        "backfill_seconds": backfill["seconds"], "backfill_peak_rss_mib": backfill["rss_mib"],
        "backfill_days": f"{backfill['first']}..{backfill['last']}",
    }


def exponent(n1: float, t1: float, n2: float, t2: float) -> float:
    """k in t2/t1 = (n2/n1)^k."""
    return math.log(t2 / t1) / math.log(n2 / n1)


COLUMNS = (("loaded", "articles loaded", "{:.0f}"),
           ("load_seconds", "load s (stage + merge)", "{:.1f}"),
           ("run_flow_seconds", "first run, flow s", "{:.1f}"),
           ("run_peak_rss_mib", "first run, flow's process peak MiB", "{:.0f}"),
           ("no_change_flow_seconds", "no-change run, flow s", "{:.1f}"),
           ("backfill_seconds", "backfill, whole command s", "{:.0f}"),
           ("backfill_peak_rss_mib", "backfill, largest process peak MiB", "{:.0f}"))
GROWTH = ("load_seconds", "no_change_flow_seconds", "backfill_seconds",
          "backfill_peak_rss_mib")


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'':<36}" + "".join(f"{row['articles']:>12,}" for row in rows)]
    for key, label, form in COLUMNS:
        lines.append(f"{label:<36}" + "".join(f"{form.format(row[key]):>12}" for row in rows))
    for before, after in itertools.pairwise(rows):
        lines += ["", f"growth exponent {before['articles']:,} -> {after['articles']:,}:"]
        for key in GROWTH:
            k = exponent(before["articles"], before[key], after["articles"], after[key])
            lines.append(f"  {key}: {k:.2f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 200000])
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    work = scratch.folder("newscorpus-scale-bench-")
    rows = []
    for articles in sorted(args.sizes):
        rows.append(measure(articles, work))
        print(json.dumps(rows[-1]), flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
