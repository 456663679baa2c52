"""Start-up of the commands people type, each timed as a whole process from outside, this
code beside a baseline commit, in the same run, taking turns.

    python benchmarks/startup.py [--rounds 5] [--baseline 91e5649]

The cases, on a demo corpus that one first run filled (so a `run` finds nothing new):
- `run`, warm: a no-change `newscorpus run` while `newscorpus server start`'s server runs
  (the baseline, which cannot find it, starts Prefect's temporary server as it always did);
- `run`, cold: the same run with no server at all (Prefect's temporary one);
- `sql "select 1"` and `--help`.
Both sides run as `python -P -m newscorpus` from this venv, with PYTHONPATH on their own
tree (the baseline is checked out with `git worktree`), in the same folder and environment,
so the crawl subprocesses of each are its own code too. Every run must exit 0 and print the
same kind of summary on both sides (0 new articles). Prints min-median-max wall seconds per
case and side, with the targets of issue #22. Not a test: it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "91e5649"  # the last commit before the local server and the start-up cuts
TARGETS = {"run, warm server": 4.0, "run, cold": 9.0, "sql select 1": 1.0, "--help": 0.5}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(tree: Path, env: dict[str, str], *args: str) -> tuple[list[str], dict[str, str]]:
    return ([sys.executable, "-P", "-m", "newscorpus", *args], {**env, "PYTHONPATH": str(tree)})


def _timed(tree: Path, env: dict[str, str], cwd: Path, *args: str) -> tuple[float, str]:
    argv, full_env = _command(tree, env, *args)
    started = time.perf_counter()
    done = subprocess.run(argv, env=full_env, cwd=cwd, capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed on {tree} ({done.returncode}): "
                         f"{done.stderr.strip()[-400:]}")
    return seconds, done.stdout


def _no_change(output: str) -> None:
    summary = json.loads(output.strip().splitlines()[-1])
    if summary["status"] != "completed" or summary["new"] != 0:
        raise SystemExit(f"not a no-change run: {summary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare with")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="newscorpus-startup-"))
    baseline = work / "baseline"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline),
                    args.baseline], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSCORPUS_"))}
    env.update(PREFECT_HOME=str(work / "prefect"), NEWSCORPUS_DATA_DIR=str(work / "data"),
               NEWSCORPUS_DEMO_PORT=str(_free_port()), DO_NOT_TRACK="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    sides = {"this": ROOT, "baseline": baseline}
    times: dict[tuple[str, str], list[float]] = {}
    try:
        _timed(ROOT, env, work, "run", "--json")  # the corpus every case reads
        cases: list[tuple[str, tuple[str, ...]]] = [
            ("run, cold", ("run", "--json")), ("sql select 1", ("sql", "select 1")),
            ("--help", ("--help",))]
        for number in range(args.rounds):
            for name, argv in cases:
                for side, tree in sides.items() if number % 2 == 0 else \
                        reversed(list(sides.items())):
                    seconds, output = _timed(tree, env, work, *argv)
                    if argv[0] == "run":
                        _no_change(output)
                    times.setdefault((name, side), []).append(seconds)
        _timed(ROOT, env, work, "server", "start", "--port", str(_free_port()))
        try:
            for number in range(args.rounds):
                for side, tree in sides.items() if number % 2 == 0 else \
                        reversed(list(sides.items())):
                    seconds, output = _timed(tree, env, work, "run", "--json")
                    _no_change(output)
                    times.setdefault(("run, warm server", side), []).append(seconds)
        finally:
            _timed(ROOT, env, work, "server", "stop")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)],
                       check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nwall seconds, {args.rounds} rounds, min / median / max "
          f"(baseline {args.baseline})")
    print(f"{'case':<18} {'target':>7}  {'this code':>22}  {'baseline':>22}")
    for name, target in TARGETS.items():
        cells = []
        for side in sides:
            runs = times[(name, side)]
            cells.append(f"{min(runs):6.2f} {statistics.median(runs):6.2f} {max(runs):6.2f}")
        print(f"{name:<18} {target:>7.1f}  {cells[0]:>22}  {cells[1]:>22}")


if __name__ == "__main__":
    main()
