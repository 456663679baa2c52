"""Prefect's own processes for the tests and benchmarks that need them: a server (on
PostgreSQL, for many workers), `newscorpus deploy`, workers on the pool, triggered runs, and
stopping them all by process group.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

PROJECT = Path(__file__).resolve().parents[1]
PREFECT = [sys.executable, "-m", "prefect"]
NEWSCORPUS = shutil.which("newscorpus", path=str(Path(sys.executable).parent)) or "newscorpus"


def stop(process: subprocess.Popen[Any]) -> None:
    """Stop a process group we started, by PID: SIGTERM twice (a worker needs two), then KILL."""
    for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue


def kill_tree(process: subprocess.Popen[Any]) -> list[int]:
    """SIGKILL a process and every process under it, as a machine that dies would stop them
    (a worker's flow runs are in sessions of their own, out of its process group). Returns
    the PIDs killed."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
        except OSError:  # the process ended meanwhile
            continue
        parents[int(pid)] = int(rest.rsplit(") ", 1)[1].split()[1])
    tree, grown = {process.pid}, True
    while grown:
        below = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= below
        grown = bool(below)
    for pid in tree:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)
    return sorted(tree)


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[Any]:
    """`prefect server start` on 127.0.0.1:`port`, once it answers its health check."""
    process = subprocess.Popen([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port",
                                str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise AssertionError("the Prefect server did not start")
        time.sleep(0.5)


def run(server: dict[str, Any], *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), env=server["env"], cwd=PROJECT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def trigger(server: dict[str, Any], deployment: str, **params: str) -> str:
    """Start a run of a deployment with parameters; returns the flow run id."""
    args = [arg for key, value in params.items() for arg in ("--param", f"{key}={value}")]
    result = run(server, *PREFECT, "deployment", "run", deployment, *args)
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r"UUID: ([0-9a-f-]{36})", result.stdout)
    assert match, result.stdout
    return match.group(1)


def wait_for(server: dict[str, Any], ids: list[str], timeout: float) -> list[dict[str, Any]]:
    """The flow runs `ids`, once all are in a final state (or the time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = httpx.post(f"{server['api']}/flow_runs/filter", json={
            "flow_runs": {"id": {"any_": ids}}}, timeout=10).json()
        final = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED",
                                                         "CANCELLED")]
        if len(final) == len(ids) or time.monotonic() > deadline:
            return runs
        time.sleep(1)


@contextmanager
def work_pool(postgres: dict[str, Any], root: Path, port: int, chunk_workers: int,
              env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A Prefect server on 127.0.0.1:`port` whose database is a new one on `postgres`, the
    deployments, `chunk_workers` workers on the `chunks` queue (one run at a time each) and
    one on `default` for the flows that start chunks; `env` (the corpus, the data folder)
    is every process's. Yields the server (api, env), each worker's process and its log
    file."""
    import postgres as pg

    pg.create_database(postgres, f"prefect_{port}")
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, **env, "PREFECT_HOME": str(root / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_API_DATABASE_CONNECTION_URL":
               f"postgresql+asyncpg://{pg.USER}@127.0.0.1:{postgres['port']}/prefect_{port}",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
           "PREFECT_WORKER_QUERY_SECONDS": "1", "NEWSCORPUS_HOME": str(PROJECT),
           "COLUMNS": "250", "PYTHONUNBUFFERED": "1"}  # the tests read the workers' logs
    # A run is taken for dead after the default 90 s without a heartbeat (three missed). At
    # 60 s (two), a clean-clone CI run once had a live backfill marked Crashed while it waited.
    processes = [start_server(env, port)]
    try:
        server = {"api": api, "env": env}
        deployed = run(server, NEWSCORPUS, "deploy")
        assert deployed.returncode == 0, deployed.stderr[-2000:]
        logs, workers = {}, {}
        for worker, queue in [*((f"chunk-{n}", "chunks") for n in range(1, chunk_workers + 1)),
                              ("control", "default")]:
            logs[worker] = root / f"{worker}.log"
            with open(logs[worker], "w") as log:
                workers[worker] = subprocess.Popen(
                    [*PREFECT, "worker", "start", "--pool", "newscorpus", "--work-queue",
                     queue, "--limit", "1", "--name", worker], env=env, cwd=PROJECT,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                processes.append(workers[worker])
        yield {**server, "logs": logs, "workers": workers}
    finally:
        for process in reversed(processes):
            stop(process)
