"""Deployments on a real Prefect server with a real worker: deploy, trigger, watch, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port
from prefect_pool import PREFECT, PROJECT, run, start_server, stop, trigger, wait_for
from test_cli import NEWSCORPUS, assert_one_line_error

from flows.deploy import UNRESPONSIVE
from warehouse.db import connect

DEPLOYMENTS = {"news_pipeline/hourly-incremental", "nightly_quality/nightly-quality",
               "backfill/backfill", "reprocess/reprocess", "lake_maintenance/lake-maintenance",
               "import_warcs/import", "backfill_chunk/backfill-chunk", "crawl_sites/all-sites",
               "news_pipeline/site-run", "reprocess/reprocess-batch"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo: Any) -> Iterator[dict[str, Any]]:
    """A real `prefect server start` on 127.0.0.1, with a temporary PREFECT_HOME."""
    root = tmp_path_factory.mktemp("deploy")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(root / "prefect"), "PREFECT_API_URL": api,
           "NEWSCORPUS_HOME": str(PROJECT), "NEWSCORPUS_DB": str(root / "corpus.duckdb"),
           "NEWSCORPUS_DATA_DIR": str(root / "data"), "NEWSCORPUS_DEMO_PORT": str(free_port()),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "COLUMNS": "250",
           # The hourly schedule stays on the deployment, but the server does not turn it into
           # runs: a test spanning the top of an hour would otherwise get a run it never asked for.
           "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"}
    process = start_server(env, port)
    try:
        yield {"api": api, "env": env, "db": root / "corpus.duckdb", "base_url": demo.base_url}
    finally:
        stop(process)


@pytest.fixture(scope="module")
def deployed(server: dict[str, Any]) -> dict[str, Any]:
    """The server, with `newscorpus deploy` run once: each test that triggers a deployment
    can run alone."""
    result = run(server, NEWSCORPUS, "deploy")
    assert result.returncode == 0, result.stderr[-2000:]
    return server


def test_deploy_is_idempotent_and_lists_the_deployments(deployed):
    server = deployed
    result = run(server, NEWSCORPUS, "deploy")  # the second time
    assert result.returncode == 0, result.stderr[-2000:]
    listed = run(server, *PREFECT, "deployment", "ls")
    for name in DEPLOYMENTS:
        assert name.split("/")[1] in listed.stdout
    hourly = run(server, *PREFECT, "deployment", "inspect", "news_pipeline/hourly-incremental")
    assert "0 * * * *" in hourly.stdout and "Europe/Kyiv" in hourly.stdout
    nightly = run(server, *PREFECT, "deployment", "inspect", "lake_maintenance/lake-maintenance")
    assert "15 4 * * *" in nightly.stdout and "retention_days" in nightly.stdout
    limits = run(server, *PREFECT, "gcl", "ls")
    assert "newscorpus-warehouse" in limits.stdout and "newscorpus-run-demo" in limits.stdout
    sweep = httpx.get(f"{server['api']}/deployments/name/crawl_sites/all-sites", timeout=10)
    assert [s["active"] for s in sweep.json()["schedules"]] == [False]  # until one enables it
    # Deployed twice, the automation that crashes runs without heartbeats is there once.
    automations = httpx.post(f"{server['api']}/automations/filter", json={}, timeout=10).json()
    assert [a["name"] for a in automations].count(UNRESPONSIVE) == 1


def test_deploy_refuses_to_take_a_run_for_dead_between_two_heartbeats(deployed):
    result = subprocess.run([NEWSCORPUS, "deploy"], env={
        **deployed["env"], "NEWSCORPUS_UNRESPONSIVE_AFTER": "30"}, cwd=PROJECT,
        capture_output=True, text=True, timeout=120, check=False)
    assert_one_line_error(result, 2, "NEWSCORPUS_UNRESPONSIVE_AFTER must be more than")


def test_commands_send_heartbeats_as_often_as_the_deployments():
    """The automation that `deploy` creates crashes a run after NEWSCORPUS_UNRESPONSIVE_AFTER
    without a heartbeat. By Prefect's default heartbeat (180 s), a command's run of two
    minutes on such a server was marked Crashed at 90 s, while it ran."""
    import sys

    import yaml

    from config.settings import HEARTBEAT_SECONDS, unresponsive_after

    declared = yaml.safe_load((PROJECT / "prefect.yaml").read_text())["definitions"][
        "work_pool"]["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]
    code = ("from config.settings import quiet_prefect_defaults; quiet_prefect_defaults(); "
            "from prefect.settings import get_current_settings; "
            "print(get_current_settings().flows.heartbeat_frequency)")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"}
    shown = subprocess.run([sys.executable, "-c", code], env=env, cwd=PROJECT,
                           capture_output=True, text=True, check=True).stdout.split()[-1]
    assert int(shown) == int(declared) == HEARTBEAT_SECONDS < unresponsive_after()


def test_backfill_deployment_runs_on_a_worker(deployed):
    server = deployed
    flow_run = trigger(server, "backfill/backfill", since="2025-01-21", until="2025-01-22",
                       base_url=server["base_url"])
    worker = run(server, NEWSCORPUS, "worker", "--run-once", timeout=300)
    assert worker.returncode == 0, worker.stdout[-3000:]
    assert f"PREFECT_API_URL={server['api']}" in worker.stderr  # it says what its flows read
    runs = wait_for(server, [flow_run], 60)
    assert [r["state_type"] for r in runs] == ["COMPLETED"]
    con = connect(server["db"], read_only=True)
    try:
        chunks = con.execute("SELECT run_id, flow_run_id FROM crawl_runs WHERE mode = 'backfill' "
                             "ORDER BY run_id").fetchall()
        in_window = con.execute("SELECT count(*) FROM articles WHERE published_at "
                                "AT TIME ZONE 'Europe/Kyiv' BETWEEN '2025-01-21' "
                                "AND '2025-01-23'").fetchone()[0]
    finally:
        con.close()
    assert [c[0] for c in chunks] == ["backfill-demo-20250121-20250121",
                                      "backfill-demo-20250122-20250122"]
    assert {c[1] for c in chunks} == {runs[0]["id"]}
    assert in_window > 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_worker_stops_on_one_signal_even_started_in_the_background(deployed, tmp_path, sig):
    """A script's `newscorpus worker &` starts it with SIGINT ignored, as any background job
    of a shell script; one Ctrl-C (SIGINT), or one `kill` (SIGTERM), still stops it."""
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [NEWSCORPUS, "worker"], env={**deployed["env"], "PYTHONUNBUFFERED": "1"},
            cwd=PROJECT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 120
        while "started!" not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        os.killpg(worker.pid, sig)
        assert worker.wait(timeout=30) == 0, log.read_text()
        assert "stopped!" in log.read_text()
    finally:
        stop(worker)


def test_import_deployment_runs_on_a_worker(deployed, truth, tmp_path):
    """A WARC file of others, as the worker sees it, imported by the `import` deployment."""
    import json

    from test_import import cc_news_hosts

    from demosite.foreign_warc import write_foreign_warc

    server = deployed
    warc = write_foreign_warc(tmp_path / "others.warc.gz", server["base_url"],
                              cc_news_hosts(truth["articles"][:30], 10))
    flow_run = trigger(server, "import_warcs/import", paths=json.dumps([str(warc.path)]))
    worker = run(server, *PREFECT, "worker", "start", "--pool", "newscorpus", "--run-once",
                 timeout=300)
    assert worker.returncode == 0, worker.stdout[-3000:]
    assert [r["state_type"] for r in wait_for(server, [flow_run], 60)] == ["COMPLETED"]
    con = connect(server["db"], read_only=True)
    try:
        runs = con.execute("SELECT site, discovered, flow_run_id FROM crawl_runs "
                           "WHERE mode = 'import' ORDER BY site").fetchall()
    finally:
        con.close()
    assert [(site, flow) for site, _, flow in runs] == [("espreso", flow_run),
                                                         ("generic", flow_run)]
    assert sum(discovered for _, discovered, _ in runs) == warc.records


def test_two_runs_at_once_end_cleanly_without_duplicates(deployed):
    server = deployed
    ids = [trigger(server, "news_pipeline/hourly-incremental", base_url=server["base_url"])
           for _ in range(2)]
    worker = subprocess.Popen([*PREFECT, "worker", "start", "--pool", "newscorpus"],
                              env=server["env"], cwd=PROJECT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        runs = wait_for(server, ids, 300)
    finally:
        stop(worker)
    assert sorted(r["state_type"] for r in runs) == ["COMPLETED", "COMPLETED"]
    con = connect(server["db"], read_only=True)
    try:
        total, distinct = con.execute("SELECT count(*), count(DISTINCT article_id) "
                                      "FROM articles").fetchone()
        # Counted by flow run: the hourly schedule may add its own run if the test spans
        # the top of an hour, and that run is not one of ours.
        incremental = con.execute("SELECT count(*) FROM crawl_runs WHERE mode = 'incremental' "
                                  "AND status = 'completed' AND flow_run_id IN (?, ?)",
                                  ids).fetchone()[0]
    finally:
        con.close()
    assert total == distinct and total > 0
    assert incremental == 2


def test_serve_serves_the_same_deployments(tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "COLUMNS": "250"}
    env.pop("PREFECT_API_URL", None)
    process = subprocess.Popen([NEWSCORPUS, "serve"], env=env, cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not all(any(name in line for line in lines) for name in DEPLOYMENTS):
            assert process.poll() is None and time.monotonic() < deadline, "".join(lines)
            lines.append(process.stdout.readline())
    finally:
        stop(process)
    served = "".join(lines)
    assert "being served" in served
    for name in DEPLOYMENTS:
        assert name in served


def test_lake_maintenance_deployment_ends_time_travel_at_its_retention(deployed, postgres):
    """The `lake-maintenance` deployment, run by a worker with a retention of 0 days and no
    grace: the corpus reads as before, only the newest snapshots are left (an --as-of before
    them is one clear line), and the data folder holds only the files the lake reads."""
    import postgres as pg
    from test_incremental import checksums

    from warehouse.lake import Lake

    server = deployed
    root = Path(server["env"]["NEWSCORPUS_DATA_DIR"]).parent / "maintained"
    lake = Lake(pg.create_database(postgres, f"lake_maintained_{free_port()}"), root / "lake")
    on = ["--warehouse", f"ducklake:{lake.catalog}", "--lake-data", str(lake.data_path)]
    for _ in range(2):
        loaded = run(server, NEWSCORPUS, "run", "--base-url", server["base_url"],
                     "--data-dir", str(root), *on)
        assert loaded.returncode == 0, loaded.stderr[-2000:]
    before = checksums(lake)
    flow_run = trigger(server, "lake_maintenance/lake-maintenance",
                       warehouse=f"ducklake:{lake.catalog}", lake_data=str(lake.data_path),
                       retention_days="0", grace_hours="0")
    worker = run(server, *PREFECT, "worker", "start", "--pool", "newscorpus", "--run-once",
                 timeout=300)
    assert worker.returncode == 0, worker.stdout[-3000:]
    assert [r["state_type"] for r in wait_for(server, [flow_run], 60)] == ["COMPLETED"]
    assert checksums(lake) == before
    con = connect(lake, read_only=True)
    try:
        [(oldest, snapshots)] = con.execute(
            "SELECT min(snapshot_id), count(*) FROM ducklake_snapshots('lake')").fetchall()
        referenced = {Path(row[0]).name for row in con.execute(
            "SELECT path FROM __ducklake_metadata_lake.ducklake_data_file "
            "UNION ALL SELECT path FROM __ducklake_metadata_lake.ducklake_delete_file"
            ).fetchall()}
    finally:
        con.close()
    assert oldest > 10 and snapshots <= 3  # two runs made dozens; expiry left the last ones
    on_disk = {p.name for p in lake.data_path.rglob("*.parquet")}
    assert on_disk == referenced
    old = run(server, NEWSCORPUS, "sql", "SELECT count(*) FROM articles", *on, "--as-of", "3")
    assert old.returncode == 2 and old.stderr.startswith("error: no snapshot 3 in the lake")
