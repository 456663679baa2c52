"""`newscorpus server`: a local Prefect server that outlives commands, found by the commands
that run flows (#22: each run paid seconds for Prefect's temporary server)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from test_cli import assert_one_line_error, newscorpus


def _flow_runs(api: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(f"{api}/flow_runs/filter", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        runs: list[dict[str, Any]] = json.load(answer)
    return runs


def _logs(api: str, flow_run: str) -> list[str]:
    body = json.dumps({"logs": {"flow_run_id": {"any_": [flow_run]}}}).encode()
    request = urllib.request.Request(f"{api}/logs/filter", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return [log["message"] for log in json.load(answer)]


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()  # the server's parent exited: init reaps it


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment of its own: the server's state file must not reach other tests."""
    return {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": "",
            "NEWSCORPUS_DEMO_PORT": str(free_port())}


def test_a_started_server_is_found_by_runs_and_stopped(tmp_path, home):
    status = newscorpus("server", "status", cwd=tmp_path, env=home)
    assert status.returncode == 1 and "No server" in status.stdout
    port = free_port()
    started = newscorpus("server", "start", "--port", str(port), cwd=tmp_path, env=home)
    assert started.returncode == 0, started.stderr
    api = f"http://127.0.0.1:{port}/api"
    state = json.loads((Path(home["PREFECT_HOME"]) / "newscorpus-server.json").read_text())
    assert state["url"] == api and _alive(state["pid"])
    try:
        again = newscorpus("server", "start", "--port", str(port), cwd=tmp_path, env=home)
        assert again.returncode == 0 and f"pid {state['pid']}" in again.stdout  # the same one
        status = newscorpus("server", "status", "--json", cwd=tmp_path, env=home)
        assert status.returncode == 0
        assert json.loads(status.stdout) == {"url": api, "source": "local", "pid": state["pid"]}

        assert _flow_runs(api) == []
        run = newscorpus("run", "--json", cwd=tmp_path, env=home)
        assert run.returncode == 0, run.stderr[-2000:]
        summary = json.loads(run.stdout.strip().splitlines()[-1])
        assert summary["status"] == "completed" and summary["new"] > 0
        # The run went to the running server, which keeps it after the command exited.
        runs = _flow_runs(api)
        assert [(r["name"], r["state_type"]) for r in runs] == [
            (runs[0]["name"], "COMPLETED")] and runs[0]["flow_id"]
        # The command exits without tearing its modules down (newscorpus/cli.py, `_exit`),
        # but only once Prefect sent what the run logged, to its last line.
        logs = _logs(api, runs[0]["id"])
        assert any(summary["run_id"] in m for m in logs), logs
        assert any(m.startswith("Finished in state Completed") for m in logs), logs
        # An explicit PREFECT_API_URL wins over the local server.
        configured = newscorpus("server", "status", cwd=tmp_path,
                                env={**home, "PREFECT_API_URL": "http://127.0.0.1:9/api"})
        assert "PREFECT_API_URL=http://127.0.0.1:9/api" in configured.stdout
    finally:
        stopped = newscorpus("server", "stop", cwd=tmp_path, env=home)
    assert stopped.returncode == 0 and f"pid {state['pid']}" in stopped.stdout
    assert not _alive(state["pid"])
    assert not (Path(home["PREFECT_HOME"]) / "newscorpus-server.json").exists()
    assert newscorpus("server", "status", cwd=tmp_path, env=home).returncode == 1
    # With the server gone, a run goes back to Prefect's temporary server.
    rerun = newscorpus("run", "--json", cwd=tmp_path, env=home)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout.strip().splitlines()[-1])["new"] == 0


def test_a_busy_port_is_one_line(tmp_path, home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = newscorpus("server", "start", "--port", str(port), cwd=tmp_path, env=home)
    assert_one_line_error(result, 2, f"port {port} on 127.0.0.1 is in use")
    assert not (Path(home["PREFECT_HOME"]) / "newscorpus-server.json").exists()


def test_two_commands_started_at_once_on_a_new_machine_both_run(demo, tmp_path, home):
    """Both start a temporary server over a Prefect database not made yet; without the lock
    of the first start, both migrated it and one server failed."""
    import os
    import subprocess

    from test_cli import NEWSCORPUS

    commands = [subprocess.Popen(
        [NEWSCORPUS, "backfill", "--since", "2025-01-21", "--until", "2025-01-21",
         "--base-url", demo.base_url, "--data-dir", str(tmp_path / name), "--json"],
        cwd=tmp_path, env={**os.environ, **home}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for name in ("one", "two")]
    for command in commands:
        _, stderr = command.communicate(timeout=300)
        assert command.returncode == 0, stderr[-2000:]


def test_a_server_chosen_after_prefect_was_imported_is_refused(tmp_path):
    """Prefect reads its settings as it is imported: `reprocess` imported it before choosing
    the server, so its flow ran on an ephemeral server of Prefect's own beside the command's,
    and the command waited 5 s at exit for logs that server could no longer take."""
    code = ("import prefect\nfrom config.server import server_for_command\n"
            "server_for_command()")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "Prefect was imported before the command chose its server" in result.stderr
