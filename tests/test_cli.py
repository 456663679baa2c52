"""The `newscorpus` command as a user runs it: a real process, real output, real exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import free_port
from prefect_pool import NEWSCORPUS

from spiders.crawl import QUEUE_PREFIX
from spiders.launch import STARTED_AHEAD


def newscorpus(*args: str, cwd: Path, env: dict[str, str] | None = None,
               timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NEWSCORPUS, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and text in lines[0], result.stderr


@pytest.fixture(scope="module")
def default_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`newscorpus run` with no arguments, in a fresh folder: the README's first command, so
    with no server configured."""
    workdir = tmp_path_factory.mktemp("default-run")
    result = newscorpus("run", cwd=workdir, env={"NEWSCORPUS_DEMO_PORT": str(free_port()),
                                                 "PREFECT_API_URL": ""})
    return workdir, result


def test_default_run_prints_the_summary_and_fills_data(default_run, truth):
    workdir, result = default_run
    assert result.returncode == 0, result.stderr[-3000:]
    for column in ("discovered", "fetched", "new", "updated", "unchanged", "quarantined",
                   "failed", "seconds"):
        assert column in result.stdout
    assert "found by listing " in result.stdout  # what discovered the articles
    assert (workdir / "data" / "corpus.duckdb").is_file()
    count = newscorpus("sql", "select count(*) from articles", cwd=workdir)
    assert count.returncode == 0, count.stderr
    loadable = sum(1 for a in truth["articles"] if a["expected"] == "loaded")
    assert count.stdout.strip() == str(loadable)


def test_the_run_crawls_with_the_process_it_started_ahead(default_run):
    """#22: the crawl process imports Scrapy while the command imports Prefect
    (spiders/launch.py); the crawl's log says that it was that process."""
    workdir, result = default_run
    assert result.returncode == 0, result.stderr[-3000:]
    logs = list((workdir / "data" / "archive" / "demo").glob("*/crawl.log"))
    assert logs  # this run's, and the next test's when it ran first
    assert all(log.read_text().splitlines()[0] == STARTED_AHEAD for log in logs)


def _queue_stats(run: Path) -> dict[str, int]:
    """Where the crawl of a run's folder queued its requests, from Scrapy's closing stats in
    its log; its queue's folder must be gone with it."""
    assert not list(run.glob(f"{QUEUE_PREFIX}*"))
    found = re.findall(r"'scheduler/enqueued(/\w+)?': (\d+)", (run / "crawl.log").read_text())
    return {where.strip("/") or "all": int(count) for where, count in found}


def test_a_crawl_that_never_has_many_waiting_keeps_them_in_memory(default_run):
    """#23: below the bound (spiders/queue.py) nothing is pickled to disk."""
    workdir, result = default_run
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [log.parent for log in (workdir / "data" / "archive" / "demo").glob("*/crawl.log")]
    assert runs
    for run in runs:
        stats = _queue_stats(run)
        assert stats["all"] > 300 and stats.get("memory") == stats["all"]
        assert "disk" not in stats


def test_requests_beyond_the_bound_wait_on_disk_and_nothing_is_lost(tmp_path, truth):
    """#23: a crawl whose waiting requests pass the bound queues the rest on disk (its JOBDIR,
    removed after), and the run still loads every loadable article of the truth."""
    result = newscorpus("run", "--json", cwd=tmp_path,
                        env={"NEWSCORPUS_DEMO_PORT": str(free_port()), "PREFECT_API_URL": "",
                             "NEWSCORPUS_QUEUE_MEMORY": "20"})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    loadable = sum(1 for a in truth["articles"] if a["expected"] == "loaded")
    assert summary["status"] == "completed" and summary["new"] == loadable
    [run] = [log.parent for log in (tmp_path / "data" / "archive" / "demo").glob("*/crawl.log")]
    stats = _queue_stats(run)
    assert stats["disk"] > 100 and stats["memory"] + stats["disk"] == stats["all"]


def test_reprocess_with_no_server_runs_on_the_commands_own(default_run, truth):
    """`reprocess` imported Prefect before choosing its server: with none configured, its
    flow ran on an ephemeral server of Prefect's own, and its exit waited 5 s for logs."""
    workdir, first = default_run
    assert first.returncode == 0, first.stderr[-3000:]
    base_url = newscorpus("sql", "select base_url from crawl_runs limit 1",
                          cwd=workdir).stdout.strip()
    again = newscorpus("reprocess", "--base-url", base_url, "--json", cwd=workdir,
                       env={"PREFECT_API_URL": ""})
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout.splitlines()[-1])
    loadable = sum(1 for a in truth["articles"] if a["expected"] == "loaded")
    assert summary["status"] == "completed" and summary["unchanged"] == loadable


def test_a_quiet_run_says_what_it_did_and_no_more(default_run):
    """#22: every command printed Prefect's pointer to a dedicated server and a line for
    each task's success, and every quiet run warned that its volume was out of line."""
    workdir, first = default_run
    base_url = newscorpus("sql", "select base_url from crawl_runs", cwd=workdir).stdout.strip()
    again = newscorpus("run", cwd=workdir,  # the same demo site: nothing new on it
                       env={"NEWSCORPUS_DEMO_PORT": base_url.rsplit(":", 1)[1]})
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0\t0\t0\t0\t0\t0\t0" in again.stdout  # discovered, fetched, new, … all 0
    for result in (first, again):
        assert "Crawling demo" in result.stderr  # the run's own lines stay
        for chatter in ("dedicated Prefect server", "temporary server", "Finished in state",
                        "Beginning flow run", "out of line"):
            assert chatter not in result.stderr, chatter


def test_a_run_that_fails_prints_its_error_once(tmp_path):
    """#22: a crawl error was printed four times: by the flow, twice by Prefect (with a
    traceback), and by the command. The flow's line stays in the server's log."""
    dead = f"http://127.0.0.1:{free_port()}"
    result = newscorpus("run", "--base-url", dead, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("could not fetch the listing") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.rstrip().splitlines()[-2].startswith("error: CrawlError: could not")
    status = newscorpus("sql", "select status from crawl_runs", cwd=tmp_path).stdout.strip()
    assert status == "failed"  # recorded all the same


def test_sql_json_output(default_run):
    workdir, _ = default_run
    result = newscorpus("sql", "select status, discovered from crawl_runs", "--json", cwd=workdir)
    assert result.returncode == 0
    assert '"status": "completed"' in result.stdout


def test_sql_refuses_writes(default_run):
    workdir, _ = default_run
    result = newscorpus("sql", "delete from articles", cwd=workdir)
    assert_one_line_error(result, 2, "read-only")
    count = newscorpus("sql", "select count(*) from articles", cwd=workdir)
    assert int(count.stdout) > 0


def test_sql_on_a_missing_database(tmp_path):
    result = newscorpus("sql", "select 1", "--db", str(tmp_path / "none.duckdb"), cwd=tmp_path)
    assert_one_line_error(result, 2, "no database at")


def test_sql_syntax_error(default_run):
    workdir, _ = default_run
    assert_one_line_error(newscorpus("sql", "selec 1", cwd=workdir), 2, "query failed")


def test_unknown_site(tmp_path):
    result = newscorpus("run", "--site", "nowhere", cwd=tmp_path)
    assert_one_line_error(result, 2, "unknown site 'nowhere'")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("args", "message"), [
    (("backfill", "--since", "2025-13-01", "--until", "2025-01-02"),
     "--since: '2025-13-01' is not a date"),
    (("backfill", "--since", "2025-01-09", "--until", "2025-01-02"), "is before --since"),
    (("reprocess", "--since", "yesterday"), "'yesterday' is not a date"),
    (("run", "--base-url", "ftp://example.org"), "must be http:// or https://"),
    (("run", "--base-url", "http://reader:s3cret@127.0.0.1:9"), "must not carry credentials"),
    (("quarantine", "list", "--db", "missing.duckdb"), "no database at missing.duckdb"),
    (("demo-site", "--faults", "5xx=lots"), "--faults: fault '5xx': 'lots' is not a number"),
])
def test_bad_arguments_get_one_clear_line_and_touch_nothing(tmp_path, args, message):
    result = newscorpus(*args, cwd=tmp_path)
    assert_one_line_error(result, 2, message)
    assert "s3cret" not in result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []


def test_unreachable_site_fails_clearly_and_is_recorded(tmp_path):
    result = newscorpus("run", "--base-url", f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert_one_line_error(result, 1, "could not fetch the listing")
    runs = newscorpus("sql", "select status, error from crawl_runs", "--json", cwd=tmp_path)
    assert '"status": "failed"' in runs.stdout and "could not fetch" in runs.stdout


def test_bad_option_value(tmp_path):
    result = newscorpus("run", "--max-pages", "-3", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "max-pages" in result.stderr


def test_help_documents_every_command(tmp_path):
    result = newscorpus("--help", cwd=tmp_path)
    for command in ("run", "sql", "demo-site", "sites"):
        assert command in result.stdout
    assert "espreso" in newscorpus("sites", cwd=tmp_path).stdout


def test_demo_site_command_serves_until_stopped(tmp_path):
    import json
    import time
    import urllib.request

    port = free_port()
    server = subprocess.Popen([NEWSCORPUS, "demo-site", "--port", str(port), "--articles", "80",
                               "--seed", "3"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert f"127.0.0.1:{port}" in server.stdout.readline()
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/__truth__", timeout=5) as r:
                    truth = json.load(r)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert truth["size"] == 80 and truth["seed"] == 3 and len(truth["articles"]) == 80
    finally:
        server.terminate()
        server.wait(timeout=10)
