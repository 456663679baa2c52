"""Crash safety: a SIGKILL at any stage, then a rerun, ends where an uninterrupted run does.

Each stage is killed for real, in a separate process: the crawl from outside (the process
group, once the archive holds 100 responses), extraction, validation and the load from inside
(tests/crash_at.py). The rerun and the uninterrupted run go through the flow in this process.
Run ids and wall-clock columns differ between any two runs, so the comparison is of content.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_cli import NEWSCORPUS
from test_incremental import checksums

from spiders.manifest import MANIFEST_NAME, Discovered, Fetched, read_manifest
from spiders.plan import CrawlPlan
from warehouse.db import connect

CRASH_SCRIPT = Path(__file__).with_name("crash_at.py")
CONTENT = {
    "articles": "article_id, url, content_hash, title, body, tags, labels, version, site, "
                "published_at, modified_at",
    "article_versions": "article_id, version, content_hash, body",
    "article_tags": "article_id, tag",
    "crawl_runs": "mode, status, discovered, fetched, new, updated, unchanged, quarantined, "
                  "failed, not_modified",
    "fetches": "url, kind, status, outcome, article_id",
    "quarantine": "url, reasons",
    "validation_results": "expectation, \"column\", success, unexpected_count",
}


def _run(base_url: str, root: Path) -> dict[str, Any]:
    from flows.pipeline import news_pipeline

    return news_pipeline(site="demo", base_url=base_url, db=str(root / "corpus.duckdb"),
                         data_dir=str(root))


@pytest.fixture(scope="module")
def uninterrupted(demo, prefect_backend, tmp_path_factory) -> dict[str, dict[str, tuple]]:
    """The checksums after one run, and after a second run into the same corpus."""
    root = tmp_path_factory.mktemp("uninterrupted")
    _run(demo.base_url, root)
    once = checksums(root / "corpus.duckdb", CONTENT)
    _run(demo.base_url, root)
    return {"once": once, "twice": checksums(root / "corpus.duckdb", CONTENT)}


def _cli_args(base_url: str, root: Path) -> list[str]:
    return ["run", "--base-url", base_url, "--db", str(root / "corpus.duckdb"),
            "--data-dir", str(root)]


def _kill_during_crawl(base_url: str, root: Path) -> None:
    process = subprocess.Popen([NEWSCORPUS, *_cli_args(base_url, root)], cwd=root,
                               start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while True:
        manifests = list(root.glob(f"archive/demo/*/{MANIFEST_NAME}"))
        if manifests and sum(isinstance(e, Fetched)
                             for e in read_manifest(manifests[0].parent)) >= 100:
            break
        assert process.poll() is None and time.monotonic() < deadline, "the crawl ended first"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def kill_inside(stage: str, args: list[str], root: Path) -> None:
    """`newscorpus ARGS` in `root`, killed by SIGKILL at `stage` (tests/crash_at.py), with
    what it left running (Prefect's server)."""
    log = root / "killed.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, str(CRASH_SCRIPT), stage, "--", *args],
                                   cwd=root, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        code = process.wait(timeout=300)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    assert code == -signal.SIGKILL, log.read_text()[-2000:]


def _kill_inside(stage: str) -> Any:
    def kill(base_url: str, root: Path) -> None:
        kill_inside(stage, _cli_args(base_url, root), root)
    return kill


@pytest.mark.parametrize("stage", ["crawl", "extract", "validate", "stage", "merge"])
def test_rerun_after_a_kill_ends_in_the_uninterrupted_state(stage, demo, uninterrupted,
                                                            tmp_path):
    """Killed before its batch was staged, a run leaves nothing, and the rerun ends where one
    run does. Killed in its merge, it leaves its batch staged: the rerun publishes it first,
    then runs on that corpus, and ends where two runs one after another do."""
    kill = _kill_during_crawl if stage == "crawl" else _kill_inside(stage)
    kill(demo.base_url, tmp_path)
    db = tmp_path / "corpus.duckdb"
    if db.exists():  # whatever the kill left must be readable, and hold no run
        con = connect(db, read_only=True)
        try:
            assert con.execute("SELECT count(*) FROM crawl_runs").fetchone()[0] == 0
            assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 0
            staged = con.execute("SELECT count(*) FROM staged_runs").fetchone()[0]
        finally:
            con.close()
        assert staged == (stage == "merge")
    summary = _run(demo.base_url, tmp_path)
    assert summary["status"] == "completed"
    assert checksums(db, CONTENT) == uninterrupted["twice" if stage == "merge" else "once"]


def test_a_partial_warc_record_is_never_read(tmp_path):
    """A crawl killed mid-write leaves half a record and maybe half a manifest line."""
    from spiders.archive import WARC_NAME, CrawlArchive
    from spiders.archive_reader import read_payloads
    from spiders.fetches import fetch_table

    archive = CrawlArchive(tmp_path, "torn", "test")
    pages = {f"http://127.0.0.1:1/page-{i}": f"<html><title>{i}</title></html>".encode()
             for i in range(2)}
    for i, (url, body) in enumerate(pages.items()):
        archive.discovered(url)
        archive.exchange(f"<urn:uuid:{i}>", url, "GET", [], b"", 200,
                         [(b"Content-Type", b"text/html")], body)
        archive.fetched(url, url, "article", f"<urn:uuid:{i}>", [], len(body))
    archive.discovered("http://127.0.0.1:1/page-2")
    archive.close()
    whole = (tmp_path / WARC_NAME).read_bytes()
    with open(tmp_path / WARC_NAME, "ab") as warc:  # half of a third record...
        warc.write(whole[len(whole) // 2:])
    with open(tmp_path / MANIFEST_NAME, "a") as manifest:  # ...and a torn line
        manifest.write('{"event": "fetched", "url": "http://127.0.0.1:1/pa')

    fetches = fetch_table(tmp_path).set_index("url")
    fetched = fetches[fetches["warc_offset"].notna()]
    assert sorted(fetched.index) == sorted(pages)
    offsets = set(fetched["warc_offset"].astype(int))
    bodies = [page.body for page in read_payloads(tmp_path / WARC_NAME, offsets)]
    assert sorted(bodies) == sorted(pages.values())
    assert fetches.loc["http://127.0.0.1:1/page-2", "outcome"] == "failed"
    # What a discovery crawl checks: the URLs it requested, not those it only discovered.
    assert sorted(fetch_table(tmp_path, unfetched=False)["url"]) == sorted(pages)


def test_a_failing_archive_writer_fails_the_crawl(tmp_path):
    from spiders.archive import ArchiveError, ArchiveProcess

    failures: list[ArchiveError] = []
    archive = ArchiveProcess(tmp_path, "broken", "test", on_failure=failures.append)
    archive.discovered("http://127.0.0.1:1/a")
    archive.exchange("<urn:uuid:a>", "http://127.0.0.1:1/a", "GET", [], b"", 200, [],
                     "not bytes")  # type: ignore[arg-type] - the writer fails on it
    deadline = time.monotonic() + 30
    while not failures and time.monotonic() < deadline:  # until the queue stays full
        archive.discovered("http://127.0.0.1:1/b")
    assert [str(f) for f in failures] == ["the archive writer exited with code 1"]
    with pytest.raises(ArchiveError, match="exited with code 1"):
        archive.close()
    assert [type(e) for e in read_manifest(tmp_path)] == [Discovered]


def _writer_outlives_its_crawl(tmp_path: Path, then: str) -> bool:
    """Start an archive writer from a crawl process that then runs `then` (Python lines),
    kill that crawl, and say whether the writer still runs 5 s later."""
    crawl = subprocess.Popen(
        [sys.executable, "-c", "import os, struct, time\n"
         "from pathlib import Path\n"
         "from spiders.archive import ArchiveProcess\n"
         f"archive = ArchiveProcess(Path({str(tmp_path)!r}), 'killed', 'test', print)\n"
         f"{then}\n"
         "print(archive._process.pid, flush=True)\n"
         "time.sleep(60)\n"], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[1])
    assert crawl.stdout is not None
    writer = int(crawl.stdout.readline())
    time.sleep(0.5)  # the writer is at work on what it was sent
    crawl.kill()
    crawl.wait()
    deadline = time.monotonic() + 5
    while _running(writer) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _running(writer)


def test_the_archive_writer_stops_when_the_crawl_is_killed(tmp_path):
    """The writer outlives a SIGKILLed crawl by at most a record: it must not go on writing
    into the archive a retried crawl starts afresh."""
    assert not _writer_outlives_its_crawl(
        tmp_path, "archive.discovered('http://127.0.0.1:1/a')\narchive.flush()")
    # The one call may or may not have been written before the kill; never half of it.
    assert [type(e) for e in read_manifest(tmp_path)] in ([], [Discovered])


def test_the_archive_writer_stops_when_the_crawl_is_killed_mid_batch(tmp_path):
    """The crawl killed while it sends a batch leaves half of it in the pipe: the writer
    must see the pipe's end, not wait for the rest for ever."""
    # the length of a 1 MB message, then 10 of its bytes, as a send cut short would leave
    assert not _writer_outlives_its_crawl(
        tmp_path, "os.write(archive._calls._writer.fileno(), "
                  "struct.pack('!i', 1 << 20) + b'x' * 10)")
    assert list(read_manifest(tmp_path)) == []


def test_a_crawl_whose_archive_writer_dies_stops_and_fails(tmp_path):
    """The writer killed mid-crawl (say, by the OOM killer): the crawl notices, stops
    instead of fetching what it can no longer archive, and exits non-zero."""
    from demosite.corpus import build_site
    from demosite.server import start

    site = start(build_site(1200))
    crawl = start_crawl(site.base_url, tmp_path, "writer-killed", CrawlPlan(mode="full"),
                        stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while sum(isinstance(e, Fetched) for e in read_manifest(tmp_path)) < 50:
            assert crawl.poll() is None and time.monotonic() < deadline, "the crawl ended first"
            time.sleep(0.01)
        writer, = Path(f"/proc/{crawl.pid}/task/{crawl.pid}/children").read_text().split()
        os.kill(int(writer), signal.SIGKILL)
        _, log = crawl.communicate(timeout=60)
    finally:
        if crawl.poll() is None:  # it hung: leave nothing running behind the failure
            crawl.kill()
        site.stop()
    assert crawl.returncode == 1
    assert "the archive writer exited with code -9; stopping the crawl" in log
    fetched = sum(isinstance(e, Fetched) for e in read_manifest(tmp_path))
    assert 50 <= fetched < 1000


def test_a_waiting_crawl_keeps_its_manifest_current(tmp_path):
    """The archive's calls go to its writer in batches; a crawl that waits (here on a page that
    hangs) still sends what it has within a second, for the flow that follows its manifest."""
    from demosite import faults
    from demosite.corpus import build_site
    from demosite.server import start

    demo = build_site().with_faults(faults.parse_spec("hang"))
    hanging = next(slug for slug, mode in demo.faults.items() if mode == "hang")
    fine = next(a.slug for a in demo.visible if a.state == "ok" and a.slug not in demo.faults)
    site = start(demo)
    urls = [f"{site.base_url}/{fine}", f"{site.base_url}/{hanging}"]
    crawl = start_crawl(site.base_url, tmp_path, "waiting", CrawlPlan(mode="urls", urls=urls))
    try:
        # The crawl's own start-up (Python, Scrapy) is slow on a busy machine: the clock
        # starts at its first manifest line, not at the process's start.
        started = time.monotonic() + 60
        while time.monotonic() < started and not list(read_manifest(tmp_path)):
            time.sleep(0.05)
        deadline = time.monotonic() + 3  # the hanging page holds the crawl for 4 s at least
        while time.monotonic() < deadline and not (fetched := _fetched_articles(tmp_path)):
            time.sleep(0.05)
        assert crawl.poll() is None, "the crawl did not wait on the hanging page"
    finally:
        crawl.kill()
        crawl.wait()
        site.stop()
    assert fetched == [urls[0]]


def start_crawl(base_url: str, run_dir: Path, run_id: str, plan: CrawlPlan,
                **popen: Any) -> subprocess.Popen[str]:
    """A real crawl subprocess of the demo profile into `run_dir`, following `plan`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    plan.write(run_dir / "plan.json")
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "spiders.crawl", "--site", "demo", "--base-url", base_url,
         "--out", str(run_dir), "--run-id", run_id, "--plan", str(run_dir / "plan.json"),
         "--log-level", "WARNING"], text=True, cwd=Path(__file__).resolve().parents[1], **popen)


def _fetched_articles(run_dir: Path) -> list[str]:
    return [e.url for e in read_manifest(run_dir)
            if isinstance(e, Fetched) and e.kind == "article"]


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever adopted it to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _crawler_pid(parent: int) -> int | None:
    """The crawl process of the command `parent`: its child running `spiders.crawl` (the
    archive writer, which the crawl forks, is the crawl's child)."""
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            ppid = int((proc / "stat").read_text().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if b"spiders.crawl" in command and ppid == parent:
            return int(proc.name)
    return None


@pytest.mark.parametrize("fetched", [20, 200])  # of the demo's 300 articles
def test_a_crawler_killed_mid_crawl_is_retried_and_the_run_completes(
        fetched, demo, uninterrupted, tmp_path):
    """Only the crawl subprocess dies; the flow's one retry starts a fresh manifest, which the
    extraction workers follow from its first line, and the run ends as an uninterrupted one."""
    run = subprocess.Popen([NEWSCORPUS, *_cli_args(demo.base_url, tmp_path), "--json"],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while True:
        manifests = list(tmp_path.glob(f"archive/demo/*/{MANIFEST_NAME}"))
        if manifests and sum(isinstance(e, Fetched)
                             for e in read_manifest(manifests[0].parent)) >= fetched:
            break
        assert run.poll() is None and time.monotonic() < deadline, "the crawl ended first"
        time.sleep(0.01)
    pid = _crawler_pid(run.pid)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-3000:]
    assert json.loads(out.splitlines()[-1])["status"] == "completed"
    assert checksums(tmp_path / "corpus.duckdb", CONTENT) == uninterrupted["once"]
