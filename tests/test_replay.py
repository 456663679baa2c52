"""#21: a crawl's WARC and its CDXJ index replay in pywb, the web archivists' replay tool.

pywb is a test dependency in a venv of its own (tests/pywb-constraints.txt): it pins redis
and brings brotlipy, which clash with the project's own pins. The venv is made once per
constraints file, in the temporary folder, and reused. The collection holds the crawl's own
files: its WARC, and its index as the crawl wrote it (pywb reads it instead of indexing).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port, sql_rows

from sites import load_profile
from spiders.archive import WARC_NAME
from spiders.archive_index import index_path
from spiders.archive_reader import responses

CONSTRAINTS = Path(__file__).with_name("pywb-constraints.txt")


def _pywb_venv() -> Path:
    """A venv with pywb, made once per constraints file (its hash names the folder)."""
    digest = hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()[:12]
    venv = Path(tempfile.gettempdir()) / f"newscorpus-pywb-{digest}"
    wayback = venv / "bin" / "wayback"
    if not wayback.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([venv / "bin" / "pip", "install", "-q", "-c", CONSTRAINTS, "pywb"],
                       check=True, timeout=600)
    return wayback


@pytest.fixture(scope="module")
def replay(two_runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, Any]]:
    """pywb's `wayback` on 127.0.0.1, serving the first run's archive as collection `demo`."""
    wayback = _pywb_venv()
    run_dir = min((two_runs["root"] / "archive" / "demo").iterdir())
    root = tmp_path_factory.mktemp("pywb")
    collection = root / "collections" / "demo"
    (collection / "archive").mkdir(parents=True)
    (collection / "indexes").mkdir()
    (collection / "archive" / WARC_NAME).symlink_to(run_dir / WARC_NAME)
    (collection / "indexes" / "index.cdxj").symlink_to(index_path(run_dir / WARC_NAME))
    port = free_port()
    process = subprocess.Popen([wayback, "-p", str(port), "-b", "127.0.0.1"], cwd=root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}/demo"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/", timeout=2).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "no pywb"
                time.sleep(0.3)
        yield {"base": base, "run_dir": run_dir, "db": two_runs["db"]}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def _captures(run_dir: Path) -> dict[str, str]:
    """Each URL's capture time, from the crawl's index."""
    lines = index_path(run_dir / WARC_NAME).read_text().splitlines()
    return {json.loads(fields)["url"]: stamp
            for _, stamp, fields in (line.split(" ", 2) for line in lines)}


def test_pywb_replays_an_archived_article_as_it_was_crawled(replay):
    from extract.article import extract_article
    from extract.clean import clean_rows

    captures = _captures(replay["run_dir"])
    stored = dict(sql_rows(replay["db"], "SELECT url, body FROM articles"))
    archived = {r.url: r for r in responses(replay["run_dir"] / WARC_NAME)
                if r.status == 200 and r.url in stored}
    url = sorted(archived)[len(archived) // 2]
    # As archived: the payload byte for byte (id_: pywb's original, unrewritten mode).
    with urllib.request.urlopen(f"{replay['base']}/{captures[url]}id_/{url}", timeout=30) as page:
        assert page.status == 200
        assert page.read() == archived[url].body
    # As a reader sees it (mp_: rewritten for replay): the same article text.
    with urllib.request.urlopen(f"{replay['base']}/{captures[url]}mp_/{url}", timeout=30) as page:
        shown = page.read()
    assert shown != archived[url].body  # rewritten, with pywb's own script
    profile = load_profile("demo", url.rsplit("/", 1)[0])
    [body] = clean_rows([extract_article(shown, url, profile, "text/html")])["body"]
    assert body == stored[url]
