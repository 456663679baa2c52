"""Shared fixtures: a real demo site on loopback, a real Prefect server, real DuckDB files.

Prefect's environment is set before anything imports Prefect: a temporary PREFECT_HOME (cache
records must not survive between test runs), no telemetry, and a generous start-up timeout.
Each test process starts one Prefect server, and the commands the tests start find it through
PREFECT_API_URL, as a user's commands find a configured server: a temporary server per command
would cost seconds each time, hundreds of times; the flows that tests call in-process run on
it too (`prefect_backend`). The tests of the temporary server itself (test_server.py,
test_install.py, the README's first command) clear PREFECT_API_URL.
"""

from __future__ import annotations

import atexit
import json
import multiprocessing
import os
import shutil
import socket
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="newscorpus-prefect-")
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
# A fresh home's temporary server makes its database first: on a CI machine whose two cores
# the suite keeps busy, 90 s was not always enough (test_install.py, 2026-12-07).
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "240"
# The tests make their own corpora: never the developer's own database or lake.
for _variable in ("NEWSCORPUS_DB", "NEWSCORPUS_DATA_DIR", "NEWSCORPUS_WAREHOUSE",
                  "NEWSCORPUS_LAKE_DATA"):
    os.environ.pop(_variable, None)

from demosite.corpus import build_site  # noqa: E402
from demosite.server import RunningSite, start  # noqa: E402

# The session server's services that only deployments, workers and automations use.
IDLE_SERVICES = ("SCHEDULER", "LATE_RUNS", "FOREMAN", "PAUSE_EXPIRATIONS", "REPOSSESSOR",
                 "CANCELLATION_CLEANUP", "CLEANUP_RECONCILER", "TRIGGERS", "DB_VACUUM")

# The whole search index, in order: what tests compare between two loads.
SEARCH_INDEX = ("SELECT article_id, term, tf FROM search_terms ORDER BY ALL",
                "SELECT article_id, words FROM search_docs ORDER BY ALL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sql_rows(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on a database, opened read-only for just that query."""
    from warehouse.db import connect

    con = connect(db, read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def articles_frame(db: Path, sql: str) -> Any:
    """A query's articles as a pandas frame shaped like an extracted batch (tags as lists),
    for tests that hand loaded articles to validation."""
    from warehouse.db import connect

    con = connect(db, read_only=True)
    try:
        frame = con.execute(sql).df()
    finally:
        con.close()
    frame["tags"] = frame["tags"].map(list)
    return frame


def child_pids() -> set[int]:
    """Pids of this process's living child processes (extraction workers, the validation
    process), for tests that check which processes a stage leaves behind."""
    return {child.pid for child in multiprocessing.active_children()}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="session")
def demo() -> Iterator[RunningSite]:
    """The default demo site (as the seed page was captured), on a free port."""
    site = start(build_site())
    yield site
    site.stop()


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[str]:
    """This process's Prefect server, named by PREFECT_API_URL for every command it starts.

    A plain `prefect server start`, as for a user who configures a server without `newscorpus
    deploy`: it has no concurrency limits, so a command killed by a test holds no slot that
    its rerun must wait for. Of its services, only those that record what runs report are
    on: the others act on deployments, schedules, workers and automations, which only the
    servers of test_deploy.py and test_fanout.py have. With them on, an idle server took 1.7
    times the CPU (3.5% of a core against 2.1%, over 120 s).
    """
    from prefect_pool import start_server, stop

    port = free_port()
    idle = {f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in IDLE_SERVICES}
    server = start_server({**os.environ, "PREFECT_API_URL": "", **idle}, port)
    os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    yield os.environ["PREFECT_API_URL"]
    del os.environ["PREFECT_API_URL"]
    stop(server)


@pytest.fixture(scope="session")
def postgres() -> Iterator[dict[str, Any]]:
    """One throwaway PostgreSQL cluster for the session (tests/postgres.py), in a folder of
    its own under /tmp: the server's user cannot enter pytest's, which are root's alone."""
    import postgres as pg

    with pg.cluster(Path(tempfile.mkdtemp(prefix="newscorpus-pg-")), free_port()) as server:
        yield server


@pytest.fixture(params=["duckdb", "ducklake"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A fresh, empty warehouse of each backend: a DuckDB file, or a lake whose catalog is a
    new database on the session's PostgreSQL."""
    if request.param == "duckdb":
        return tmp_path / "c.duckdb"
    import postgres as pg

    from warehouse.lake import Lake

    name = "lake_" + request.node.name.split("[")[0].removeprefix("test_")[:40] + \
        f"_{free_port()}"
    return Lake(pg.create_database(request.getfixturevalue("postgres"), name),
                tmp_path / "lake")


@pytest.fixture(scope="session")
def truth(demo: RunningSite) -> dict[str, Any]:
    return get_json(f"{demo.base_url}/__truth__")


@pytest.fixture(scope="session")
def prefect_backend(prefect_server: str) -> Iterator[None]:
    """The flows that tests call in this process run on its server (`prefect_server`).

    Prefect read its settings when the test modules imported it, before that server started,
    so they are pointed at it here, as Prefect's own test harness points them at the server
    it starts (the global settings context too, for contexts copied before)."""
    import prefect.context
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: prefect_server}), \
            prefect.context._temporary_global_settings_context(
                prefect.context.get_settings_context()):
        yield
        # What the flows logged reaches the server before it stops (after this fixture).
        APILogWorker.drain_all(timeout=30)
        EventsWorker.drain_all(timeout=30)


@pytest.fixture(scope="session")
def two_runs(demo: RunningSite, prefect_backend: None,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two runs of the real flow against the demo site, into one fresh database."""
    from flows.pipeline import news_pipeline

    root = tmp_path_factory.mktemp("pipeline")
    db = root / "corpus.duckdb"
    first = news_pipeline(site="demo", base_url=demo.base_url, db=str(db), data_dir=str(root))
    snapshot = _articles(db)
    first_page = Path(first["run_page"]).stat().st_mtime_ns
    second = news_pipeline(site="demo", base_url=demo.base_url, db=str(db), data_dir=str(root))
    return {"db": db, "root": root, "first": first, "second": second,
            "articles_after_first": snapshot, "first_page_written": first_page}


def _articles(db: Path) -> list[tuple[Any, ...]]:
    from warehouse.db import connect

    con = connect(db, read_only=True)
    try:
        return con.execute("SELECT article_id, content_hash, url, title, body FROM articles "
                           "ORDER BY article_id").fetchall()
    finally:
        con.close()


@pytest.fixture
def query(two_runs: dict[str, Any]) -> Any:
    """Run SQL read-only against the two-run database."""
    return lambda sql, *params: sql_rows(two_runs["db"], sql, *params)
