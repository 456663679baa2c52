"""The demo site's fault modes, crawled for real: every URL ends in the state truth names.

One faulted site ("all": each mode on two articles, plus off-site and file links) is crawled
once by the real flow; each test reads what the warehouse recorded. Off-site targets point at
a trap server on another loopback host name, which must never see a request.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import get_json, sql_rows

from demosite import faults
from demosite.corpus import build_site
from demosite.render import article as render_article
from demosite.server import RunningSite, start
from extract.article import extract_article
from extract.clean import clean
from sites import load_profile
from spiders.archive_check import check_run
from spiders.archive_index import index_path
from spiders.manifest import Failed, Fetched, read_manifest

LOADED = ("new", "updated", "unchanged")
RETRIES = 3  # sites/espreso.toml, crawl.retries


TRAP_HITS: list[str] = []  # paths the off-site trap server was asked for


class _Trap(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        TRAP_HITS.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def trap() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def faulted(prefect_backend: None, trap: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from flows.pipeline import news_pipeline

    root = tmp_path_factory.mktemp("faults")
    site = start(build_site().with_faults(faults.parse_spec("all")), offsite_url=trap)
    try:
        truth = get_json(f"{site.base_url}/__truth__")
        summary = news_pipeline(site="demo", base_url=site.base_url, db=str(root / "c.duckdb"),
                                data_dir=str(root))
        yield {"site": site, "truth": truth, "summary": summary, "db": root / "c.duckdb"}
    finally:
        site.stop()


def _recorded(db: Path) -> dict[str, dict[str, Any]]:
    """Per requested article URL: outcome, error, attempts, and the stored or held record."""
    fetched = sql_rows(db, "SELECT url, outcome, error, attempts, article_id FROM fetches "
                           "WHERE kind = 'article'")
    held = dict(sql_rows(db, "SELECT article_id, reasons FROM quarantine"))
    stored = {r[0]: r[1:] for r in sql_rows(db, "SELECT article_id, title, body FROM articles")}
    return {url: {"outcome": outcome, "error": error or "", "attempts": attempts,
                  "reasons": held.get(article_id, []), "stored": stored.get(article_id)}
            for url, outcome, error, attempts, article_id in fetched}


def test_every_discovered_url_ends_in_one_state_and_the_counts_add_up(faulted):
    truth, db = faulted["truth"], faulted["db"]
    urls = [url for (url,) in sql_rows(db, "SELECT url FROM fetches WHERE kind = 'article'")]
    assert sorted(urls) == sorted(e["link"] for e in truth["articles"])  # each exactly once
    summary = faulted["summary"]
    expected = truth["expected_counts"]
    assert summary["discovered"] == len(truth["articles"])
    assert summary["new"] == expected["loaded"]
    assert summary["quarantined"] == expected["quarantined"]
    assert summary["failed"] == expected["failed"]
    assert summary["discovered"] == sum(summary[o] for o in (*LOADED, "quarantined", "failed"))


def _clean_body(site: RunningSite, slug: str) -> str:
    """The body the same article gives when served without its fault."""
    demo = site.server.site
    html = render_article(demo, demo.by_slug[slug], site.base_url)
    profile = load_profile("demo", site.base_url)
    return clean([extract_article(html.encode(), f"{site.base_url}/{slug}", profile)]
                 ).articles.iloc[0]["body"]


def _retried(minimum: int) -> Callable[[dict[str, Any], str, dict[str, Any]], None]:
    def check(faulted: dict[str, Any], slug: str, record: dict[str, Any]) -> None:
        assert faulted["site"].server.requests[slug] >= minimum, "recovered on a retry"
    return check


def _waited_retry_after(faulted: dict[str, Any], slug: str, record: dict[str, Any]) -> None:
    first, second = faulted["site"].server.times[slug][:2]
    assert second - first >= faults.RETRY_AFTER_SECONDS - 0.05


def _gave_up_after_retries(faulted: dict[str, Any], slug: str, record: dict[str, Any]) -> None:
    assert record["attempts"] == RETRIES + 1


def _same_text_as_a_clean_page(faulted: dict[str, Any], slug: str,
                               record: dict[str, Any]) -> None:
    assert record["stored"][1] == _clean_body(faulted["site"], slug)


def _replacement_characters(faulted: dict[str, Any], slug: str, record: dict[str, Any]) -> None:
    assert "\ufffd" in record["stored"][1]


def _never_requested(prefix: str) -> Callable[[dict[str, Any], str, dict[str, Any]], None]:
    def check(faulted: dict[str, Any], slug: str, record: dict[str, Any]) -> None:
        assert faulted["site"].server.requests[f"{prefix}{slug}"] == 0
    return check


def _trap_untouched(faulted: dict[str, Any], slug: str, record: dict[str, Any]) -> None:
    assert TRAP_HITS == []


# What each mode must show beyond its state and reason.
EXTRA_CHECKS: dict[str, Callable[[dict[str, Any], str, dict[str, Any]], None]] = {
    "timeout": _retried(2),
    "reset": _retried(2),
    "5xx": _retried(3),
    "429": _waited_retry_after,
    "hang": _gave_up_after_retries,
    "500": _gave_up_after_retries,
    "cp1251": _same_text_as_a_clean_page,
    "cp1251_meta": _same_text_as_a_clean_page,
    "malformed": _same_text_as_a_clean_page,
    "broken_utf8": _replacement_characters,
    "robots": _never_requested("/private/"),
    "offsite_redirect": _trap_untouched,
    "gzip": _same_text_as_a_clean_page,
}


@pytest.mark.parametrize("mode", list(faults.FAULTS))
def test_fault_mode_is_recorded_as_truth_says(faulted, mode):
    truth = faulted["truth"]
    recorded = _recorded(faulted["db"])
    cases = [e for e in truth["articles"] if e["fault"] == mode]
    assert len(cases) == faults.PER_MODE_WITH_ALL
    for entry in cases:
        record = recorded[entry["link"]]
        state = "loaded" if record["outcome"] in LOADED else record["outcome"]
        assert state == entry["expected"], (entry["link"], record)
        if entry["reason"]:
            assert entry["reason"] in record["error"] + " ".join(record["reasons"]), record
        if state == "loaded":
            assert record["stored"][0] == entry["title"]
        if mode in EXTRA_CHECKS:
            EXTRA_CHECKS[mode](faulted, entry["url"].rsplit("/", 1)[1], record)


def test_links_off_the_site_and_to_files_are_never_requested(faulted):
    truth, requests = faulted["truth"], faulted["site"].server.requests
    assert len(truth["ignored_links"]) == 3
    assert TRAP_HITS == []
    assert not [path for path in requests if path.startswith(("/files/", "/images/"))]
    urls = {url for (url,) in sql_rows(faulted["db"], "SELECT url FROM fetches")}
    assert not urls & set(truth["ignored_links"])


def test_truth_lists_every_fault_mode(faulted):
    listed = faulted["truth"]["faults"]
    assert set(listed) == set(faults.FAULTS)
    assert all(entry["expected"] in ("loaded", "failed", "quarantined") and entry["about"]
               for entry in listed.values())


def _records(warc: Path) -> dict[int, Any]:
    """offset -> (WARC-Type, HTTP status, WARC headers, HTTP headers, payload as stored)."""
    from warcio.archiveiterator import ArchiveIterator

    held = {}
    with open(warc, "rb") as stream:
        records = ArchiveIterator(stream)
        for record in records:
            status = record.http_headers.get_statuscode() if record.http_headers else None
            held[records.offset] = (record.rec_type, status, record.rec_headers,
                                    record.http_headers, record.raw_stream.read())
    return held


def test_the_archive_holds_every_exchange_as_it_was_received(faulted):
    """Every answer the site gave, redirects and retried ones too, with a request record
    beside it; each linked to its URL's final state, as truth's fault list says; payloads as
    sent (gzip stays gzip); `warcio check` passes, and so do the index and `archive verify`."""
    run_dir = faulted["db"].parent / "archive" / "demo" / faulted["summary"]["run_id"]
    warc = run_dir / "crawl.warc.gz"
    warcio = Path(sys.executable).with_name("warcio")
    checked = subprocess.run([warcio, "check", "-v", warc], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout[-2000:]
    assert "digest pass" in checked.stdout

    held = _records(warc)
    answers = {o: r for o, r in held.items() if r[0] in ("response", "revisit")}
    ids = {r[2].get_header("WARC-Record-ID") for r in answers.values()}
    requests = [r for r in held.values() if r[0] == "request"]
    assert len(requests) == len(answers)
    assert {r[2].get_header("WARC-Concurrent-To") for r in requests} == ids
    assert all(r[3].protocol == "GET" for r in requests)

    final = {e.requested if isinstance(e, Fetched) else e.url: e
             for e in read_manifest(run_dir) if isinstance(e, (Fetched, Failed))}
    for entry in faulted["truth"]["articles"]:
        event = final[entry["link"]]
        chain = [*event.hops, *([event.offset] if isinstance(event, Fetched) else [])]
        statuses = [int(answers[offset][1]) for offset in chain]
        if entry["fault"] is None:
            assert statuses == ([404] if entry["state"] == "not_found" else [200]), entry
            continue
        fault = faulted["truth"]["faults"][entry["fault"]]
        want = fault["answers"] * (event.attempts if fault["every_attempt"] else 1)
        assert statuses == want, (entry["fault"], entry["link"])
        stored = answers[chain[-1]] if chain else None
        if entry["fault"] in ("gzip", "gzip_bomb"):
            assert stored is not None and stored[3].get_header("Content-Encoding") == "gzip"
            assert stored[4][:2] == b"\x1f\x8b"  # the bytes as sent, not inflated

    assert index_path(warc).read_text().count("\n") == len(answers)
    check = check_run(run_dir)
    assert check.ok and check.unlisted == 0, check.problems


def test_reprocessing_the_faulted_archive_changes_no_row(faulted):
    """The archive's payloads as sent (gzip among them) and its hops read back to the same
    corpus: re-extracting it without a code change leaves every article as it was."""
    from test_incremental import checksums

    from flows.reprocess import reprocess

    corpus = dict.fromkeys(("articles", "article_versions", "article_tags"), "*")
    before = checksums(faulted["db"], corpus)
    summary = reprocess(base_url=faulted["site"].base_url, db=str(faulted["db"]),
                        data_dir=str(faulted["db"].parent))
    assert summary["new"] == summary["updated"] == 0
    assert summary["unchanged"] == faulted["summary"]["new"]
    assert checksums(faulted["db"], corpus) == before
