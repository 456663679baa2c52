"""The lake backend end to end (issue #19): the commands on DuckLake, several writers at once,
and readers that never wait and never see half a run.

Everything is real: `newscorpus` processes, the demo site over HTTP, DuckLake on the session's
throwaway PostgreSQL (tests/postgres.py).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import postgres as pg
import pytest
from conftest import free_port
from test_cli import NEWSCORPUS, assert_one_line_error
from test_crash import CONTENT, kill_inside
from test_incremental import ALL_TABLES, T1, T2, checksums

from demosite.corpus import build_site
from demosite.server import start
from warehouse.db import connect
from warehouse.lake import Lake

# Four backfill windows of the demo site, a week each (Monday to Sunday), one chunk each.
WINDOWS = [("2025-01-13", "2025-01-19"), ("2025-01-20", "2025-01-26"),
           ("2025-01-27", "2025-02-02"), ("2025-02-03", "2025-02-09")]
READER = """
import json, sys, time
from pathlib import Path
from warehouse.db import connect, target
spec, lake_data, stop = sys.argv[1], sys.argv[2], Path(sys.argv[3])
corpus = target(warehouse=spec, lake_data=lake_data) if spec.startswith("ducklake:") \\
    else target(db=spec, warehouse="duckdb")
con = connect(corpus, read_only=True)  # held open the whole time
seen = []
while not stop.exists():
    seen.append(con.execute("SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM "
                            "crawl_runs WHERE status = 'completed')").fetchone())
    if len(seen) == 1:
        print("ready", flush=True)
    time.sleep(0.05)
print(json.dumps(seen))
"""


def _reader(corpus: Path | Lake, stop: Path) -> subprocess.Popen[str]:
    """The READER on the corpus, once it holds its connection and has counted once."""
    spec = [f"ducklake:{corpus.catalog}", str(corpus.data_path)] if isinstance(corpus, Lake) \
        else [str(corpus), ""]
    reader = subprocess.Popen([sys.executable, "-c", READER, *spec, str(stop)],
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
    return reader


def _seen(reader: subprocess.Popen[str], stop: Path) -> list[tuple[int, int]]:
    stop.touch()
    return [tuple(counts) for counts in json.loads(reader.communicate(timeout=60)[0])]


def _lake(postgres: dict[str, Any], root: Path) -> Lake:
    return Lake(pg.create_database(postgres, f"lake_{free_port()}"), root / "lake")


def _cli(*args: str, env: dict[str, str] | None = None, cwd: Path) -> dict[str, Any]:
    done = subprocess.run([NEWSCORPUS, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _on(lake: Lake) -> list[str]:
    return ["--warehouse", f"ducklake:{lake.catalog}", "--lake-data", str(lake.data_path)]


def test_the_commands_run_on_the_lake(demo, truth, postgres, tmp_path):
    """`run`, then `sql`, `search`, `quarantine list`, `export`, `quality` and `report` with
    --warehouse: the loadable articles of /__truth__, and a second run that changes
    nothing."""
    lake = _lake(postgres, tmp_path)
    run = ["run", "--base-url", demo.base_url, "--data-dir", str(tmp_path), *_on(lake), "--json"]
    first = _cli(*run, cwd=tmp_path)
    loadable = {a["url"]: a for a in truth["articles"] if a["expected"] == "loaded"}
    assert (first["status"], first["new"], first["discovered"]) == \
        ("completed", len(loadable), len(truth["articles"]))
    assert first["db"].startswith("ducklake:postgres:")
    rows = _cli("sql", "SELECT url, title FROM articles", *_on(lake), "--json", cwd=tmp_path)
    assert {r["url"]: r["title"] for r in rows} == {u: a["title"] for u, a in loadable.items()}
    version = _cli("sql", "SELECT max(snapshot_id) AS v FROM ducklake_snapshots('lake')",
                   *_on(lake), "--json", cwd=tmp_path)[0]["v"]
    between = datetime.now(UTC).isoformat()
    second = _cli(*run, cwd=tmp_path)
    assert (second["new"], second["updated"], second["discovered"]) == (0, 0, 0)
    runs = "SELECT count(*) AS n FROM crawl_runs"
    assert _cli("sql", runs, *_on(lake), "--json", cwd=tmp_path) == [{"n": 2}]
    for as_of in (str(version), between):  # the lake as it was after the first run
        assert _cli("sql", runs, *_on(lake), "--as-of", as_of, "--json", cwd=tmp_path) \
            == [{"n": 1}]
    word = next(a["title"].split()[0] for a in loadable.values() if len(a["title"]) > 20)
    assert _cli("search", word, *_on(lake), "--json", cwd=tmp_path)
    held = _cli("quarantine", "list", *_on(lake), "--json", cwd=tmp_path)
    assert {r["url"] for r in held} == {a["url"] for a in truth["articles"]
                                        if a["expected"] == "quarantined"}
    subprocess.run([NEWSCORPUS, "export", "--out", str(tmp_path / "out"), "--format", "jsonl",
                    *_on(lake)], check=True, capture_output=True, cwd=tmp_path)
    exported = (tmp_path / "out" / "articles.jsonl").read_text().splitlines()
    assert len(exported) == len(loadable)
    results = _cli("quality", *_on(lake), "--json", cwd=tmp_path)
    assert {r["run_id"] for r in results} == {first["run_id"], second["run_id"]}
    subprocess.run([NEWSCORPUS, "report", "--out", str(tmp_path / "report.html"), *_on(lake)],
                   check=True, capture_output=True, cwd=tmp_path)
    html = (tmp_path / "report.html").read_text()
    per_day = html.split('data-chart="per_day"', 1)[1].split("</table>", 1)[0]
    counts = re.findall(r"<tr><td>\d{4}-\d\d-\d\d</td><td>(\d+)</td></tr>", per_day)
    assert sum(map(int, counts)) == len(loadable)  # the chart's numbers: every article, a day


def test_an_import_into_the_lake_ends_as_one_into_a_duckdb_file(demo, truth, postgres,
                                                                tmp_path):
    """`import --warehouse`: the same tables as the same import into a DuckDB file; a second
    import changes nothing."""
    from test_import import cc_news_hosts

    from demosite.foreign_warc import write_foreign_warc

    warc = write_foreign_warc(tmp_path / "others.warc.gz", demo.base_url,
                              cc_news_hosts(truth["articles"][:30], 10))
    lake, file = _lake(postgres, tmp_path), tmp_path / "corpus.duckdb"
    args = ["import", str(warc.path), "--data-dir", str(tmp_path), "--json"]
    on_lake = _cli(*args, *_on(lake), cwd=tmp_path)
    assert on_lake["discovered"] == warc.records and on_lake["runs"] == 2
    _cli(*args, "--db", str(file), cwd=tmp_path)
    columns = {"articles": "article_id, content_hash, title, body, published_at, site",
               "fetches": "url, status, error, warc_offset, outcome, article_id",
               "quarantine": "url, reasons"}
    assert checksums(lake, columns) == checksums(file, columns)
    before = checksums(lake)
    assert _cli(*args, *_on(lake), cwd=tmp_path)["skipped_runs"] == 2
    assert checksums(lake) == before


def _backfill(demo_url: str, root: Path, window: tuple[str, str],
              where: list[str]) -> subprocess.Popen[str]:
    since, until = window
    return subprocess.Popen(
        [NEWSCORPUS, "backfill", "--since", since, "--until", until, "--chunk", "week",
         "--base-url", demo_url, "--data-dir", str(root), *where, "--json"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NEWSCORPUS_EXTRACT_WORKERS": "0"})


def test_four_backfills_load_one_lake_at_once_while_a_reader_sees_whole_runs(
        demo, postgres, tmp_path):
    """Four processes, four windows, one lake; a fifth process holds a read connection open
    and counts all along. The loads never wait for it, and every count it saw is a whole
    number of runs. The lake ends as the four loaded one after another into a DuckDB file."""
    lake = _lake(postgres, tmp_path / "lake-root")
    stop = tmp_path / "stop"
    connect(lake).close()  # made, so that the reader can attach before the first load
    reader = _reader(lake, stop)
    try:
        writers = [_backfill(demo.base_url, tmp_path / "lake-root", window, _on(lake))
                   for window in WINDOWS]
        results = [w.communicate(timeout=900) for w in writers]
    finally:
        seen = _seen(reader, stop)
    for writer, (stdout, stderr) in zip(writers, results, strict=True):
        assert writer.returncode == 0, stderr[-3000:]
        assert json.loads(stdout)["status"] == "completed"

    con = connect(lake, read_only=True)
    try:
        assert con.execute("SELECT count(*) - count(DISTINCT article_id) FROM articles"
                           ).fetchone() == (0,)
        runs = con.execute("SELECT new FROM crawl_runs WHERE status = 'completed'").fetchall()
        for row in con.execute("SELECT discovered, new + updated + unchanged + quarantined + "
                               "failed FROM crawl_runs").fetchall():
            assert row[0] == row[1]  # the accounting identity, run by run
    finally:
        con.close()
    assert len(runs) == len(WINDOWS)
    # The runs commit in the order they get the write lock: any k of them make a whole state.
    news = [new for (new,) in runs]
    whole = {(sum(chosen), k) for k in range(len(news) + 1)
             for chosen in itertools.combinations(news, k)}
    assert len(seen) > 10 and set(seen) <= whole, (seen, whole)
    assert len(set(seen)) > 1  # it read while the loads committed

    # The same four weeks, as one backfill loads them: chunk after chunk, into a file.
    one_by_one = tmp_path / "file-root"
    one_by_one.mkdir()
    db = one_by_one / "corpus.duckdb"
    writer = _backfill(demo.base_url, one_by_one, (WINDOWS[0][0], WINDOWS[-1][1]),
                       ["--db", str(db)])
    stdout, stderr = writer.communicate(timeout=600)
    assert writer.returncode == 0, stderr[-3000:]
    assert json.loads(stdout)["chunks"] == len(WINDOWS)
    assert checksums(lake, CONTENT) == checksums(db, CONTENT)


@pytest.mark.parametrize("backend", ["ducklake", "duckdb"])
def test_a_reader_counting_in_a_loop_while_newscorpus_run_loads(backend, demo, truth,
                                                                 postgres, tmp_path):
    """A reader holds its connection open and counts, all through a `newscorpus run`. On a
    lake the run does not wait for it, and it sees the corpus as it was before the run or as
    the run left it, never between. On a DuckDB file (the documented behaviour) the open
    reader holds the file: the run waits its lock wait, then fails with one line."""
    wait = 120 if backend == "ducklake" else 8
    corpus: Path | Lake = _lake(postgres, tmp_path) if backend == "ducklake" \
        else tmp_path / "corpus.duckdb"
    where = _on(corpus) if isinstance(corpus, Lake) else ["--db", str(corpus)]
    connect(corpus).close()  # made, so that the reader can open it before the run
    stop = tmp_path / "stop"
    reader = _reader(corpus, stop)
    try:
        started = time.monotonic()
        done = subprocess.run([NEWSCORPUS, "run", "--base-url", demo.base_url, "--data-dir",
                               str(tmp_path), *where, "--json"], capture_output=True,
                              text=True, cwd=tmp_path, timeout=600, check=False,
                              env={**os.environ, "NEWSCORPUS_LOCK_WAIT": str(wait)})
        took = time.monotonic() - started
    finally:
        seen = _seen(reader, stop)
    if backend == "duckdb":
        assert_one_line_error(done, 3, f"in use by another process (PID {reader.pid}; "
                                       f"waited {wait} s, NEWSCORPUS_LOCK_WAIT={wait})")
        assert took >= wait and set(seen) == {(0, 0)}
        return
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = sum(a["expected"] == "loaded" for a in truth["articles"])
    assert json.loads(done.stdout)["new"] == loaded
    assert took < wait  # it never waited for the reader
    assert seen[0] == (0, 0) and seen[-1] == (loaded, 1) and set(seen) == {(0, 0), (loaded, 1)}


def test_a_duckdb_corpus_copied_into_a_lake_verifies_and_goes_on_there(
        prefect_backend, postgres, tmp_path):
    """`warehouse copy` copies every table of a file with edits, quarantine and a search
    index into a lake: the same rows, checked here by our own checksums, the source
    unchanged. A second copy is refused. Then one more run, on the lake and on the file,
    ends the same on both, and the lake copies back into a file. Maintenance with its
    defaults keeps time travel, and the files it made unneeded, for their grace period."""
    from flows.pipeline import news_pipeline

    site = start(build_site().at(T1 - timedelta(days=7)))
    db, lake = tmp_path / "corpus.duckdb", _lake(postgres, tmp_path)
    try:
        news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(tmp_path / "file"))
        site.travel(T1)
        news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(tmp_path / "file"))
        tables = {**dict.fromkeys(ALL_TABLES, "*"), "search_terms": "*", "search_docs": "*"}
        before = checksums(db, tables)
        assert before["article_versions"][0] > 0 and before["quarantine"][0] > 0
        copy = [NEWSCORPUS, "warehouse", "copy", "--db", str(db), "--to",
                f"ducklake:{lake.catalog}", "--to-lake-data", str(lake.data_path)]
        # As the README has it: the lake also in the environment, where --db still wins.
        copied = _cli(*copy[1:], "--json", cwd=tmp_path,
                      env={"NEWSCORPUS_WAREHOUSE": f"ducklake:{lake.catalog}"})
        assert checksums(lake, tables) == checksums(db, tables) == before
        assert {t["table"]: t["rows"] for t in copied["tables"]}["articles"] == \
            before["articles"][0]
        again = subprocess.run(copy, capture_output=True, text=True, cwd=tmp_path,
                               timeout=120, check=False)
        assert_one_line_error(again, 2, "already holds data")
        version = _cli("sql", "SELECT max(snapshot_id) AS v FROM ducklake_snapshots('lake')",
                       *_on(lake), "--json", cwd=tmp_path)[0]["v"]

        site.travel(T2)
        news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(tmp_path / "file"))
        news_pipeline(base_url=site.base_url, warehouse=f"ducklake:{lake.catalog}",
                      lake_data=str(lake.data_path), data_dir=str(tmp_path / "lake-runs"))
    finally:
        site.stop()
    assert checksums(lake, CONTENT) == checksums(db, CONTENT)
    back = tmp_path / "back.duckdb"  # and back into a file
    _cli("warehouse", "copy", *_on(lake), "--to", str(back), "--json", cwd=tmp_path)
    assert checksums(back, tables) == checksums(lake, tables)

    kept = _cli("warehouse", "maintain", *_on(lake), "--json", cwd=tmp_path)
    assert kept["snapshots_expired"] == 0 and kept["files_merged"] > 0
    con = connect(lake, read_only=True)
    try:  # what the merge made unneeded waits out its grace period (24 hours) on disk
        waiting = [Path(row[0]).name for row in con.execute(
            "SELECT path FROM __ducklake_metadata_lake.ducklake_files_scheduled_for_deletion"
            ).fetchall()]
    finally:
        con.close()
    on_disk = {p.name for p in lake.data_path.rglob("*.parquet")}
    assert waiting and set(waiting) <= on_disk
    runs = "SELECT count(*) AS n FROM crawl_runs"
    assert _cli("sql", runs, *_on(lake), "--as-of", str(version), "--json", cwd=tmp_path) \
        == [{"n": 2}]


@pytest.mark.parametrize("stage", ["stage", "merge"])
def test_a_load_killed_in_the_lake_and_rerun_ends_where_uninterrupted_runs_do(
        stage, demo, postgres, tmp_path):
    """SIGKILL inside the staging transaction leaves the lake as it was, and the rerun ends
    where one uninterrupted run into a DuckDB file does. SIGKILL inside the merge (after the
    new articles are merged) leaves the corpus as it was and the batch staged; the write lock
    goes with the dead process's connection; the rerun publishes the staged run first, and
    ends where two runs one after another do."""
    lake = _lake(postgres, tmp_path)
    args = ["run", "--base-url", demo.base_url, "--data-dir", str(tmp_path), *_on(lake)]
    kill_inside(stage, args, tmp_path)
    con = connect(lake, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM crawl_runs").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM staged_runs").fetchone() == \
            ((1,) if stage == "merge" else (0,))
    finally:
        con.close()
    started = time.monotonic()
    rerun = _cli(*args, "--json", cwd=tmp_path)
    assert rerun["status"] == "completed"
    assert (rerun["new"] > 0) == (stage == "stage")
    assert time.monotonic() - started < 120  # no wait for a lock the dead process held
    reference = tmp_path / "reference"
    for _ in range(2 if stage == "merge" else 1):
        _cli("run", "--base-url", demo.base_url, "--data-dir", str(reference), "--db",
             str(reference / "corpus.duckdb"), "--json", cwd=tmp_path)
    assert checksums(lake, CONTENT) == checksums(reference / "corpus.duckdb", CONTENT)


@pytest.mark.parametrize("args", [["run", "--warehouse", "bogus"],
                                  ["run", "--warehouse", "ducklake:mysql:db=x"],
                                  ["run", "--db", "x.duckdb", "--warehouse",
                                   "ducklake:postgres:dbname=x"],
                                  ["sql", "SELECT 1", "--as-of", "3", "--db", "x.duckdb"]])
def test_a_bad_warehouse_is_one_line_before_anything_starts(args, tmp_path):
    done = subprocess.run([NEWSCORPUS, *args], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()


def test_every_command_that_takes_db_takes_the_warehouse_and_lake_data():
    import typer

    from newscorpus.cli import app

    def commands(group: Any, prefix: str = "") -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, command in group.commands.items():
            if hasattr(command, "commands"):  # a group (quarantine, archive, sites)
                found.update(commands(command, f"{prefix}{name} "))
            else:
                found[prefix + name] = command
        return found

    with_db = {name: {p.name for p in command.params} for name, command
               in commands(typer.main.get_group(app)).items()
               if "db" in {p.name for p in command.params}}
    assert len(with_db) >= 12
    for name, params in with_db.items():
        assert {"warehouse", "lake_data"} <= params, name


def test_writers_that_open_a_new_lake_at_once_all_open_it(postgres, tmp_path):
    """The first ATTACH of a lake makes its catalog; several writers' first opens at once
    (a sweep's sites, a backfill's chunks) must not fail on each other's tables."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    lakes = [_lake(postgres, tmp_path / str(n)) for n in range(3)]
    for lake in lakes:
        start_together = Barrier(4)

        def open_(lake: Lake = lake, barrier: Barrier = start_together) -> int:
            barrier.wait()
            con = connect(lake)
            try:
                return con.execute("SELECT count(*) FROM articles").fetchone()[0]
            finally:
                con.close()

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(lambda _: open_(), range(4))) == [0] * 4


def test_a_lake_read_while_its_first_writer_makes_it_holds_nothing_or_all(postgres, tmp_path):
    """A run reads the corpus (its plan, its volume bounds) while another run's first open is
    making the lake: DuckLake's catalog is there, the corpus's tables are not yet, and each
    migration commits on its own. A read then waits for the writer's lock: before the
    migrations it finds no corpus (as no lake), after them the migrated one."""
    import threading

    from sites import load_profile
    from warehouse import state
    from warehouse.db import lake_lock, reading
    from warehouse.lake import open_lake

    lake = _lake(postgres, tmp_path)
    open_lake(lake).close()  # the catalog made, the corpus not
    profile = load_profile("demo", "http://127.0.0.1:9")
    assert state.recent_volume(lake, "demo", "incremental") is None
    migrated = threading.Event()

    def migrating_writer() -> None:
        with lake_lock(lake):
            migrated.set()
            time.sleep(1.0)
            connect(lake).close()  # migrates, under the lock it holds already

    writer = threading.Thread(target=migrating_writer)
    writer.start()
    migrated.wait(10)
    assert state.known_urls(lake, profile) == {}  # waited for the writer, then read its lake
    writer.join()
    with reading(lake) as con:
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (0,)
