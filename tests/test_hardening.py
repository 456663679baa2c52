"""What an attacker would try: a crawl opens no listening port, and `newscorpus sql` can
read the corpus and nothing else."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from conftest import sql_rows
from test_cli import assert_one_line_error, newscorpus
from test_crash import CONTENT, start_crawl, uninterrupted  # noqa: F401 - a fixture
from test_incremental import checksums

from demosite.corpus import build_site
from demosite.server import start
from spiders.plan import CrawlPlan


def _listening_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:["):-1])
    return found


def test_a_crawl_listens_on_no_port(tmp_path):
    """Scrapy 2.19's remote-control endpoint and the telnet console are off."""
    site = start(build_site(300))
    try:
        crawl = start_crawl(site.base_url, tmp_path, "ports", CrawlPlan(mode="full"))
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while crawl.poll() is None and time.monotonic() < deadline:
            try:
                seen |= _socket_inodes(crawl.pid)
            except FileNotFoundError:
                break
            listening = seen & _listening_inodes()
            assert not listening, f"the crawl listens on sockets {listening}"
            time.sleep(0.05)
        assert crawl.wait(timeout=120) == 0
        assert seen, "no socket of the crawl was seen: the check saw nothing"
    finally:
        site.stop()
    assert not list(tmp_path.glob("*.token")) and not list(Path.cwd().glob("*.token"))


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real corpus file (two articles loaded by the load step), for the sandbox."""
    from test_warehouse import make_batch, run_info

    from warehouse.load import load_run

    db = tmp_path_factory.mktemp("sandbox") / "corpus.duckdb"
    load_run(db, run_info("r1"), make_batch([0, 1]), datetime.now(UTC))
    return db


@pytest.mark.parametrize(("query", "message"), [
    ("copy (select 'x' a) to '{db}' (format csv)", "not COPY"),
    ("attach '{other}' as o (READ_WRITE)", "not ATTACH"),
    ("delete from articles", "not DELETE"),
    ("install httpfs", "not LOAD"),
    ("load httpfs", "not LOAD"),
    ("set threads=1000000", "not SET"),
    ("export database '{tmp}/out'", "not EXPORT"),
    ("select * from read_csv('/etc/passwd')", "file system operations are disabled"),
    ("select * from read_text('/etc/hostname')", "file system operations are disabled"),
    ("select * from glob('/etc/*')", "file system operations are disabled"),
    ("select 1; drop table articles", "not DROP"),
])
def test_sql_cannot_write_or_read_outside_the_corpus(query, message, small_corpus, tmp_path):
    """#18: a query could overwrite the corpus with COPY, empty another database through
    ATTACH, read any file, reach the network with INSTALL, or stall the command with SET."""
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE articles AS SELECT 1 AS a").close()
    before = small_corpus.read_bytes()
    result = newscorpus("sql", query.format(db=small_corpus, other=other, tmp=tmp_path),
                        "--db", str(small_corpus), cwd=tmp_path)
    assert_one_line_error(result, 2, message)
    assert small_corpus.read_bytes() == before
    con = duckdb.connect(str(other), read_only=True)
    assert con.execute("SELECT count(*) FROM articles").fetchone() == (1,)
    con.close()
    assert not (tmp_path / "out").exists()


def test_sql_still_reads_the_corpus_and_its_search(small_corpus, tmp_path):
    count = newscorpus("sql", "select count(*) from articles", "--db", str(small_corpus),
                       cwd=tmp_path)
    assert count.returncode == 0 and count.stdout.strip() == "2"
    hits = newscorpus("sql", "select count(*) from search_articles('peacekeepers')",
                      "--db", str(small_corpus), cwd=tmp_path)
    assert hits.returncode == 0 and int(hits.stdout) >= 1, hits.stderr


def test_a_long_query_is_stopped_at_the_time_limit(small_corpus, tmp_path):
    started = time.monotonic()
    result = newscorpus("sql", "select count(*) from range(100000000000) a, range(100) b",
                        "--db", str(small_corpus), cwd=tmp_path,
                        env={"NEWSCORPUS_SQL_TIMEOUT": "2"})
    assert_one_line_error(result, 2, "query stopped after 2 s")
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(("text", "message"), [
    ('extends = "espreso"\nname = "broken"\ntitle = "B"\nbase_url = "https://b.example"\n'
     '[article]\ntitel = "h1"\n', "[article] titel: unknown key"),
    ('name = "broken"\ntitle = "B"\n', "missing key"),
    ('extends = "broken"\nname = "broken"\n', "`extends` loops"),
    ('extends = "espreso"\nname = "broken"\ntitle = "B"\nbase_url = "https://b.example"\n'
     'timezone = "Europe/Kyyiv"\n', "unknown time zone 'Europe/Kyyiv'"),
    ('extends = "espreso"\nname = "broken"\ntitle = "B"\nbase_url = "https://b.example"\n'
     '[dates]\npattern = "(?P<day>\\\\d+"\n', "[dates] pattern: not a regular expression"),
    ('extends = "espreso"\nname = "broken"\ntitle = "B"\nbase_url = "https://b.example"\n'
     '[crawl]\nretries = "three"\n', "[crawl] retries"),
    ("name = [", "not valid TOML"),
])
def test_a_broken_profile_is_one_line_naming_file_and_key(text, message, tmp_path):
    """#18: a missing key gave KeyError, an `extends` loop RecursionError, both exit 1; one
    broken profile in $NEWSCORPUS_SITES broke `sites` and `extract --site auto`."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "broken.toml").write_text(text)
    env = {"NEWSCORPUS_SITES": str(folder)}
    result = newscorpus("run", "--site", "broken", cwd=tmp_path, env=env)
    assert_one_line_error(result, 2, message)
    assert "prefect" not in result.stderr.lower()  # caught before Prefect starts
    assert str(folder / "broken.toml") in result.stderr
    listed = newscorpus("sites", cwd=tmp_path, env=env)
    assert listed.returncode == 1 and "espreso" in listed.stdout
    assert_one_line_error(listed, 1, "profile broken is broken")
    page = tmp_path / "page.html"
    page.write_bytes(b"<html><head><title>T</title></head><body><h1>T</h1></body></html>")
    extracted = newscorpus("extract", str(page), "--url", "https://x.example/a", cwd=tmp_path,
                           env=env)
    assert extracted.returncode == 0 and "profile broken left out" in extracted.stderr


def test_following_a_crawl_ends_when_it_exits_whatever_its_last_line_holds(tmp_path):
    """#18: a crawler that died mid-line left the follow loop spinning forever."""
    import sys

    from flows.crawling import _follow
    from spiders.manifest import ManifestReader, read_manifest

    line = '{"event": "discovered", "url": "http://127.0.0.1:1/a", "at": "2025-01-01"}\n'
    crawler = subprocess.Popen([sys.executable, "-c", (
        "import sys; f = open(sys.argv[1], 'w'); f.write(sys.argv[2]); "
        "f.write('{\"event\": \"fetch'); f.flush()"), str(tmp_path / "manifest.jsonl"),
        line])
    reader = ManifestReader(tmp_path)
    started = time.monotonic()
    _follow(crawler, reader, "test", None)
    assert time.monotonic() - started < 10 and crawler.returncode == 0
    assert reader.new_events() == []  # the whole line was read; the torn one never is
    assert [e.url for e in ManifestReader(tmp_path).new_events()] == ["http://127.0.0.1:1/a"]
    assert [e.url for e in read_manifest(tmp_path)] == ["http://127.0.0.1:1/a"]


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                   check=True)


def test_a_first_run_on_a_full_disk_leaves_no_half_made_database(
        demo, uninterrupted, tmp_path):  # noqa: F811 - the fixture imported above
    """#18: the first run left a 0-byte (or half-made) database that blocked every later run,
    and recorded "cannot rollback - no transaction is active" instead of the cause."""
    disk = tmp_path / "disk"
    args = ["run", "--base-url", demo.base_url, "--db", str(disk / "corpus.duckdb"),
            "--data-dir", str(tmp_path)]
    _mount_tmpfs(disk, "16k")
    try:
        full = newscorpus(*args, cwd=tmp_path)
        left = sorted(p.name for p in disk.iterdir())
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert full.returncode == 1
    assert_one_line_error(full, 1, f"could not write the database {disk / 'corpus.duckdb'}")
    assert "No space left on device" in full.stderr and "cannot rollback" not in full.stderr
    assert left == []
    assert len(list((tmp_path / "journal").glob("*.json"))) == 1  # the run, kept to record
    _mount_tmpfs(disk, "256m")  # space freed
    try:
        again = newscorpus(*args, cwd=tmp_path)
        assert again.returncode == 0, again.stderr[-2000:]
        content = checksums(disk / "corpus.duckdb", CONTENT)
        runs = sql_rows(disk / "corpus.duckdb",
                        "SELECT status, error FROM crawl_runs ORDER BY started_at")
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert {t: v for t, v in content.items() if t != "crawl_runs"} == \
        {t: v for t, v in uninterrupted["once"].items() if t != "crawl_runs"}
    assert [status for status, _ in runs] == ["failed", "completed"]  # the journal's, then ours
    assert "No space left on device" in runs[0][1]
    assert not list((tmp_path / "journal").glob("*.json"))


BUSY_SCRIPT = Path(__file__).with_name("busy_load.py")


def test_a_database_busy_at_the_load_costs_one_lock_wait_and_the_run_is_recorded_later(
        demo, tmp_path):
    """#18: the load retried, each try waiting the whole lock wait, then the failure's record
    waited once more (135 s with NEWSCORPUS_LOCK_WAIT=20), and the run was never recorded."""
    import sys

    from warehouse.db import connect

    wait = 8
    db = tmp_path / "corpus.duckdb"
    connect(db).close()  # an empty corpus, made by us: the holder is another newscorpus
    args = ["run", "--base-url", demo.base_url, "--db", str(db), "--data-dir", str(tmp_path)]
    busy = subprocess.run([sys.executable, str(BUSY_SCRIPT), str(wait + 12), "--", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NEWSCORPUS_LOCK_WAIT": str(wait)}, check=False)
    ended = time.time()
    assert_one_line_error(busy, 3, f"waited {wait} s, NEWSCORPUS_LOCK_WAIT={wait}")
    # The load waited its lock wait; recording the failure waited no more (the wait was
    # spent); what is left is Prefect's and the journal's.
    assert wait <= ended - float((tmp_path / "held_at").read_text()) <= wait + 6
    [kept] = (tmp_path / "journal").glob("*.json")
    assert kept.stem in busy.stderr

    again = newscorpus(*args, cwd=tmp_path)  # waits for the holder to let go, then loads
    assert again.returncode == 0, again.stderr[-2000:]
    assert not list((tmp_path / "journal").iterdir())
    runs = sql_rows(db, "SELECT run_id, status, error FROM crawl_runs ORDER BY started_at")
    assert [(r[0], r[1]) for r in runs[:1]] == [(kept.stem, "failed")]
    assert "in use by another process" in runs[0][2] and runs[1][1] == "completed"


def test_a_disk_that_fills_during_the_load_changes_nothing_and_is_recorded_later(
        demo, uninterrupted, tmp_path):  # noqa: F811 - the fixture imported above
    """A first run whose merge does not fit (1000 KiB: the empty corpus and the staged batch
    fit, the merge does not), a rerun once space is freed; then a corpus whose disk is filled
    before a load."""
    import shutil

    disk = tmp_path / "disk"
    db = disk / "corpus.duckdb"
    args = ["run", "--base-url", demo.base_url, "--db", str(db), "--data-dir", str(tmp_path)]
    _mount_tmpfs(disk, "1000k")
    try:
        first = newscorpus(*args, cwd=tmp_path)
        assert_one_line_error(first, 1, f"could not write the database {db} (")
        assert f"free on the disk mounted at {disk}): " in first.stderr
        assert "No space left on device" in first.stderr and "cannot rollback" not in first.stderr
        held = checksums(db, CONTENT)  # nothing published
        # The failed run is recorded once: in crawl_runs, or in the journal when even its
        # record found no room beside the staged batch.
        journal = list((tmp_path / "journal").glob("*.json"))
        assert held.pop("crawl_runs")[0] + len(journal) == 1
        assert all(n == 0 for n, _ in held.values())
        assert sql_rows(db, "SELECT count(*) FROM staged_runs") == [(1,)]  # its batch waits
        subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)
        again = newscorpus(*args, cwd=tmp_path)
        assert again.returncode == 0, again.stderr[-2000:]
        loaded = checksums(db, CONTENT)
        runs = sql_rows(db, "SELECT status, error FROM crawl_runs ORDER BY started_at")
        # The rerun published the staged batch first (its failed record became completed),
        # then ran on that corpus: as two uninterrupted runs.
        assert {t: v for t, v in loaded.items() if t != "crawl_runs"} == \
            {t: v for t, v in uninterrupted["twice"].items() if t != "crawl_runs"}
        assert runs == [("completed", None), ("completed", None)]

        before = checksums(db)
        with open(disk / "filler", "wb") as filler:  # all of it: not even a failure fits
            filler.write(bytes(shutil.disk_usage(disk).free))
        full = newscorpus(*args, "--full", cwd=tmp_path)
        assert_one_line_error(full, 1, f"could not write the database {db} (")
        assert checksums(db) == before  # the corpus as it was, readable on the full disk
        [kept] = (tmp_path / "journal").glob("*.json")  # no room for its record either
        (disk / "filler").unlink()
        last = newscorpus(*args, "--full", cwd=tmp_path)
        assert last.returncode == 0, last.stderr[-2000:]
        after = checksums(db, {"articles": CONTENT["articles"]})
        runs = sql_rows(db, "SELECT run_id, status, error FROM crawl_runs ORDER BY started_at")
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert after == {"articles": loaded["articles"]}  # the site did not change
    assert [r[1] for r in runs] == ["completed", "completed", "failed", "completed"]
    assert runs[2][0] == kept.stem and "No space left on device" in runs[2][2]
    assert not kept.exists()


def test_a_read_only_database_fails_the_run_before_its_crawl(demo, tmp_path):
    """#18: with a read-only database, the whole site was crawled before the load failed."""
    disk = tmp_path / "disk"
    db = disk / "corpus.duckdb"
    args = ["run", "--base-url", demo.base_url, "--db", str(db), "--data-dir", str(tmp_path)]
    _mount_tmpfs(disk, "64m")
    try:
        assert newscorpus(*args, cwd=tmp_path).returncode == 0
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        refused = newscorpus(*args, cwd=tmp_path)
        assert_one_line_error(refused, 2, f"the database {db} is read-only")
        assert len(list((tmp_path / "archive" / "demo").iterdir())) == 1  # no second crawl
        [kept] = (tmp_path / "journal").glob("*.json")
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
        assert newscorpus(*args, cwd=tmp_path).returncode == 0
        runs = sql_rows(db, "SELECT run_id, status FROM crawl_runs ORDER BY started_at")
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert [r[1] for r in runs] == ["completed", "failed", "completed"]
    assert runs[1][0] == kept.stem
