"""Incremental runs, backfills, history and reprocessing, on a time-travelling demo site."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SEARCH_INDEX, get_json
from conftest import sql_rows as rows
from test_cli import NEWSCORPUS

from demosite.corpus import DEFAULT_AS_OF, build_site
from demosite.render import sitemap_index
from demosite.server import start
from reports.search import search
from warehouse.db import connect

T1 = datetime.fromisoformat("2025-02-03T00:00:00+02:00")
T2 = DEFAULT_AS_OF
OVERLAP = timedelta(minutes=60)  # sites/espreso.toml, discovery.overlap_minutes



# What must be identical between two databases that went through the same work; wall-clock
# columns (fetched_at, first_seen_at, …) and archive paths are left out.
CONTENT = {
    "articles": "article_id, url, content_hash, title, body, tags, labels, version, site, "
                "last_run_id, published_at, modified_at",
    "article_versions": "article_id, version, content_hash, body",
    "article_tags": "article_id, tag",
    "crawl_runs": "run_id, mode, status, window_since, window_until, discovered, fetched, new, "
                  "updated, unchanged, quarantined, failed, not_modified",
    "fetches": "run_id, url, kind, status, outcome, article_id",
    "quarantine": "run_id, url, reasons",
    "validation_results": "run_id, expectation, \"column\", success, unexpected_count",
}


ALL_TABLES = ("articles", "article_versions", "article_tags", "crawl_runs", "fetches",
              "quarantine", "validation_results")


def checksums(db: Path, columns: dict[str, str] | None = None) -> dict[str, tuple]:
    """Row count and an order-free hash per table, of whole rows or of the given columns."""
    columns = columns or dict.fromkeys(ALL_TABLES, "*")
    con = connect(db, read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*), bit_xor(hash({'x' if c == '*' else f'({c})'}))"
                               f" FROM {t} x").fetchone() for t, c in columns.items()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def travel(prefect_backend, tmp_path_factory):
    """The site as of T1, a run; the site as of T2, a second run; one database."""
    from flows.pipeline import news_pipeline

    root = tmp_path_factory.mktemp("travel")
    db = root / "corpus.duckdb"
    site = start(build_site().at(T1))
    try:
        first = news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(root))
        site.travel(T2)
        truth = get_json(f"{site.base_url}/__truth__?since={T1.isoformat().replace('+', '%2B')}")
        second = news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(root))
        yield {"db": db, "root": root, "first": first, "second": second, "truth": truth,
               "base_url": site.base_url, "site": site}
    finally:
        site.stop()


def test_second_run_finds_what_changed_since_the_first(travel):
    truth, second = travel["truth"], travel["second"]
    changed = [a for a in truth["articles"] if a["change"]]
    loadable = [a for a in changed if a["expected"] == "loaded"]
    assert {a["change"] for a in changed} == {"new", "updated"}
    assert second["new"] == sum(a["change"] == "new" for a in loadable)
    assert second["updated"] == sum(a["change"] == "updated" for a in loadable)
    assert second["discovered"] == len(changed)
    assert second["unchanged"] == 0


def test_second_run_fetch_count_is_the_predicted_one(travel):
    site_t1, site_t2 = build_site().at(T1), build_site().at(T2)
    cutoff = max(a.published for a in site_t1.visible if a.state == "ok") - OVERLAP
    known = {a.slug for a in site_t1.visible}
    pages = next(p for p in range(1, site_t2.page_count + 1) if any(
        a.slug in known and a.published < cutoff for a in site_t2.listing_page(p)))
    months = sitemap_index(site_t2, "").count("<lastmod>")
    changed_months = sum(
        1 for month in {a.published.strftime("%Y-%m") for a in site_t2.visible}
        if max(a.revision_at(T2).modified for a in site_t2.visible
               if a.published.strftime("%Y-%m") == month) >= cutoff)
    articles = sum(1 for a in travel["truth"]["articles"] if a["change"])
    predicted = {"other": 1, "listing": pages, "sitemap": 1 + changed_months, "article": articles}
    fetched = dict(rows(travel["db"], "SELECT kind, count(*) FROM fetches WHERE run_id = ? "
                                      "GROUP BY kind", travel["second"]["run_id"]))
    assert fetched == predicted
    assert months >= changed_months


def test_replaced_texts_are_in_article_versions(travel):
    updated = [a["url"] for a in travel["truth"]["articles"]
               if a["change"] == "updated" and a["expected"] == "loaded"]
    assert updated
    for url in updated:
        (current,) = rows(travel["db"], "SELECT article_id, version, body FROM articles "
                                        "WHERE url = ?", url)
        versions = rows(travel["db"], "SELECT version, body, valid_to FROM article_versions "
                                      "WHERE article_id = ?", current[0])
        assert current[1] == 2 and current[2].split("\n\n")[-1].startswith("Update:")
        assert len(versions) == 1 and versions[0][0] == 1
        assert "Update:" not in versions[0][1]
        assert current[2].startswith(versions[0][1])


def test_article_edits_view(travel):
    updated = {a["url"]: a for a in travel["truth"]["articles"]
               if a["change"] == "updated" and a["expected"] == "loaded"}
    edits = {url: (versions, delay) for url, versions, delay in rows(
        travel["db"], "SELECT url, versions, time_to_first_update FROM article_edits")}
    for url, article in updated.items():
        published = datetime.fromisoformat(article["published_at"])
        modified = datetime.fromisoformat(article["modified_at"])
        assert edits[url] == (2, modified - published)
    assert all(v == (1, None) for url, v in edits.items() if url not in updated)


def test_unchanged_articles_only_move_last_seen(travel):
    second = travel["second"]["run_id"]
    moved = rows(travel["db"], "SELECT count(*) FROM articles WHERE last_run_id = ? "
                               "AND version = 1 AND first_seen_at < last_seen_at", second)
    assert moved == [(0,)]  # nothing unchanged was re-fetched by an incremental run


def test_reprocess_without_a_code_change_changes_no_row(travel):
    from flows.reprocess import reprocess

    corpus = dict.fromkeys(("articles", "article_versions", "article_tags"), "*")
    held = "SELECT DISTINCT url, reasons FROM quarantine ORDER BY url"
    before, held_before = checksums(travel["db"], corpus), rows(travel["db"], held)
    summary = reprocess(base_url=travel["base_url"], db=str(travel["db"]))
    assert summary["new"] == summary["updated"] == 0 and summary["unchanged"] > 0
    assert checksums(travel["db"], corpus) == before
    # The same pages are held back again, for the same reasons.
    assert rows(travel["db"], held) == held_before
    assert summary["quarantined"] == len(held_before)


def test_reprocess_after_an_extractor_change_updates_exactly_the_affected_rows(
        travel, monkeypatch):
    from extract import article as extractor
    from extract import workers as extraction
    from flows.reprocess import reprocess

    original = extractor.extract_article

    def fixed(body, url, profile, content_type=None):
        record = original(body, url, profile, content_type)
        if record.section == "Economy":  # the "fix": a section's titles gain a prefix
            record.title = f"Economy: {record.title}"
        return record

    monkeypatch.setattr(extraction, "extract_article", fixed)
    monkeypatch.setenv("NEWSCORPUS_EXTRACT_WORKERS", "0")  # the patch holds in this process
    affected = rows(travel["db"], "SELECT count(*) FROM articles WHERE section = 'Economy'")[0][0]
    assert affected > 0
    travel["site"].stop()  # no network: any request would now fail
    summary = reprocess(base_url=travel["base_url"], db=str(travel["db"]))
    assert summary["updated"] == affected
    assert summary["failed"] == 0 and summary["new"] == 0
    assert rows(travel["db"], "SELECT count(*) FROM articles WHERE section = 'Economy' "
                              "AND NOT starts_with(title, 'Economy: ')") == [(0,)]
    assert rows(travel["db"], "SELECT count(*) FROM article_versions WHERE replaced_by_run_id "
                              "= ?", summary["run_id"]) == [(affected,)]


def test_the_search_index_follows_every_change(travel, tmp_path):
    """New, updated (by the site) and reprocessed (Economy titles) articles: each load's
    index changes leave the same index as one built afresh from the articles."""
    from warehouse.db import load_fts
    from warehouse.load import index_backlog

    kept = [rows(travel["db"], sql) for sql in SEARCH_INDEX]
    assert len(kept[1]) == rows(travel["db"], "SELECT count(*) FROM articles")[0][0]
    afresh = tmp_path / "afresh.duckdb"
    afresh.write_bytes(travel["db"].read_bytes())
    con = connect(afresh)
    try:
        load_fts(con)
        con.execute("DELETE FROM search_terms; DELETE FROM search_docs")
        index_backlog(con)
    finally:
        con.close()
    assert [rows(afresh, sql) for sql in SEARCH_INDEX] == kept


def _backfill(base_url: str, db: Path, root: Path, since: str, until: str) -> dict[str, Any]:
    from flows.backfill import backfill

    return backfill(since=date.fromisoformat(since), until=date.fromisoformat(until),
                    base_url=base_url, db=str(db), data_dir=str(root), concurrency=2)


def test_backfill_loads_the_window_exactly_and_twice_changes_nothing(
        demo, truth, prefect_backend, tmp_path):
    db = tmp_path / "corpus.duckdb"
    first = _backfill(demo.base_url, db, tmp_path, "2025-01-20", "2025-01-24")
    in_window = [a for a in truth["articles"]
                 if "2025-01-20" <= a["published_at"][:10] <= "2025-01-24"]
    assert first["discovered"] == len(in_window)
    assert first["chunks"] == 5
    stored = {r[0] for r in rows(db, "SELECT url FROM articles")}
    assert stored == {a["url"] for a in in_window if a["expected"] == "loaded"}
    newest = max((a for a in in_window if a["expected"] == "loaded"),
                 key=lambda a: a["published_at"])
    assert newest["url"] in {hit["url"] for hit in search(db, newest["title"], limit=50)}
    before = checksums(db)
    second = _backfill(demo.base_url, db, tmp_path, "2025-01-20", "2025-01-24")
    assert second["skipped_chunks"] == 5 and second["discovered"] == 0
    assert checksums(db) == before


def test_backfill_refetches_known_articles_conditionally(demo, prefect_backend, tmp_path):
    from flows.backfill import backfill

    db = tmp_path / "corpus.duckdb"
    _backfill(demo.base_url, db, tmp_path, "2025-01-21", "2025-01-21")
    again = backfill(since=date(2025, 1, 21), until=date(2025, 1, 21), base_url=demo.base_url,
                     db=str(db), data_dir=str(tmp_path), force=True)
    loaded = rows(db, "SELECT count(*) FROM articles")[0][0]
    assert again["not_modified"] == loaded and again["unchanged"] == loaded
    assert again["new"] == again["updated"] == 0

    # Each 304 is archived as a revisit record (server-not-modified), beside the
    # conditional request that earned it, and the archive verifies.
    from warcio.archiveiterator import ArchiveIterator

    from spiders.archive import NOT_MODIFIED
    from spiders.archive_check import check_run

    revisits, conditional = set(), set()
    for warc in (tmp_path / "archive" / "demo").rglob("*.warc.gz"):  # both backfills
        assert check_run(warc.parent).ok
        with open(warc, "rb") as stream:
            for record in ArchiveIterator(stream):
                headers = record.rec_headers
                if record.rec_type == "revisit":
                    assert headers.get_header("WARC-Profile") == NOT_MODIFIED
                    assert record.http_headers.get_statuscode() == "304"
                    revisits.add(headers.get_header("WARC-Record-ID"))
                elif record.rec_type == "request" and record.http_headers.get_header(
                        "If-None-Match"):
                    conditional.add(headers.get_header("WARC-Concurrent-To"))
    assert len(revisits) == loaded and revisits == conditional


def test_interrupted_backfill_resumes_to_the_same_state(demo, tmp_path):
    args = ["backfill", "--since", "2025-01-14", "--until", "2025-01-19", "--base-url",
            demo.base_url, "--concurrency", "1"]

    def start(workdir: Path) -> subprocess.Popen[bytes]:
        workdir.mkdir(exist_ok=True)
        return subprocess.Popen([NEWSCORPUS, *args], cwd=workdir, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def backfill(workdir: Path, kill_after_chunks: int | None = None) -> None:
        process = start(workdir)
        if kill_after_chunks is None:
            assert process.wait(timeout=300) == 0
            return
        archive = workdir / "data" / "archive" / "demo"
        deadline = time.monotonic() + 240
        while len(list(archive.glob("*/backfill-*/manifest.jsonl"))) < kill_after_chunks:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    whole_run = start(tmp_path / "whole")  # beside the interrupted one: they share nothing
    backfill(tmp_path / "resumed", kill_after_chunks=3)
    db = tmp_path / "resumed" / "data" / "corpus.duckdb"
    done_before = rows(db, "SELECT count(*) FROM crawl_runs WHERE status = 'completed'")[0][0]
    assert done_before < 6  # it was really interrupted
    backfill(tmp_path / "resumed")
    assert whole_run.wait(timeout=300) == 0
    whole = tmp_path / "whole" / "data" / "corpus.duckdb"
    assert checksums(db, CONTENT) == checksums(whole, CONTENT)
    assert rows(db, "SELECT count(*) FROM crawl_runs")[0][0] == 6


def test_no_change_run_costs_the_same_on_small_and_large_sites(prefect_backend, tmp_path):
    from flows.pipeline import news_pipeline

    costs = {}
    for size in (1000, 10000):
        site = start(build_site(size))
        try:
            db, root = tmp_path / f"{size}.duckdb", tmp_path / str(size)
            _backfill(site.base_url, db, root, "2025-02-09", "2025-02-10")
            # The first run also picks up the older article pinned on the front page.
            news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(root))
            run = news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(root))
            assert run["discovered"] == 0
            costs[size] = dict(rows(db, "SELECT kind, count(*) FROM fetches WHERE run_id = ? "
                                        "GROUP BY kind", run["run_id"]))
        finally:
            site.stop()
    assert costs[1000] == costs[10000]
    assert "article" not in costs[1000] and costs[1000]["listing"] <= 2
    assert math.isclose(sum(costs[1000].values()), sum(costs[10000].values()))



def test_an_edited_page_that_states_no_modified_time_is_not_asked_for_again(prefect_backend,
                                                                          tmp_path):
    """A page with neither JSON-LD nor OpenGraph states no modified time, so the corpus holds
    its published time as one; its sitemap <lastmod>, the edit's time, is later. The
    Last-Modified of the answer that stored it says the stored version is that edit: the next
    run does not fetch it again (it did at every run, each time answered 304)."""
    from flows.pipeline import news_pipeline

    built = build_site(1000)
    [edited] = [a for a in built.articles if not a.jsonld and not a.opengraph
                and a.state == "ok" and a.published.month == 2
                and a.revision_at(built.as_of).modified > a.published]
    site = start(built)
    try:
        db, root = tmp_path / "c.duckdb", tmp_path / "data"
        news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(root))
        url = f"{site.base_url}/{edited.slug}"
        assert rows(db, "SELECT published_at = modified_at FROM articles WHERE url = ?",
                    url) == [(True,)]
        again = news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(root))
        assert rows(db, "SELECT url FROM fetches WHERE run_id = ? AND kind = 'article'",
                    again["run_id"]) == []
    finally:
        site.stop()


def test_a_plan_carries_its_known_urls_to_the_crawl_as_the_corpus_gave_them(tmp_path):
    """The known URLs cross to the crawl as an Arrow file beside plan.json: each URL's first
    row counts, a URL not known is not found, and a backfill chunk's plan keeps only its own."""
    import pyarrow as pa

    from spiders.plan import CrawlPlan, KnownUrl, KnownUrls

    table = pa.table({"url": ["https://a/1", "https://a/2", "https://a/1"],
                      "modified": [datetime(2025, 1, 1, tzinfo=UTC), None,
                                   datetime(1999, 1, 1, tzinfo=UTC)],
                      "labels": [["Updated"], None, []], "etag": ['"e1"', None, None],
                      "last_modified": ["Wed, 01 Jan 2025 00:00:00 GMT", None, None]})
    plan = CrawlPlan(mode="incremental", known=KnownUrls(table),
                     cutoff=datetime(2025, 1, 1, tzinfo=UTC))
    plan.write(tmp_path / "plan.json")
    read = CrawlPlan.read(tmp_path / "plan.json")
    assert (read.mode, read.cutoff) == ("incremental", plan.cutoff)
    assert dict(read.known) == {
        "https://a/1": KnownUrl(datetime(2025, 1, 1, tzinfo=UTC), ["Updated"], '"e1"',
                                "Wed, 01 Jan 2025 00:00:00 GMT"),
        "https://a/2": KnownUrl(None, [], None, None)}
    assert read.known.get("https://a/3") is None
    assert dict(read.known.only(["https://a/2", "https://a/3"])) == {
        "https://a/2": KnownUrl(None, [], None, None)}
    CrawlPlan(mode="full").write(tmp_path / "full.json")
    assert dict(CrawlPlan.read(tmp_path / "full.json").known) == {}


def test_the_urls_of_a_page_met_together_find_what_the_index_finds():
    """`meet` looks a page's URLs up in one pass, without the index of every URL; each finds
    what a lookup through the index finds (a URL's first row; none for one not known), and
    after `PASSES` pages the index serves them."""
    import pyarrow as pa

    from spiders.plan import KnownUrls

    table = pa.table({"url": ["https://a/1", "https://a/2", "https://a/1", "https://a/3"],
                      "modified": [datetime(2025, 1, 1, tzinfo=UTC), None,
                                   datetime(1999, 1, 1, tzinfo=UTC), None],
                      "labels": [["Updated"], None, [], None],
                      "etag": ['"e1"', None, '"old"', None],
                      "last_modified": [None, None, None, None]})
    page = ["https://a/1", "https://a/9", "https://a/3", "https://a/1"]
    indexed = {url: KnownUrls(table).get(url) for url in page}
    assert indexed["https://a/1"].etag == '"e1"' and indexed["https://a/9"] is None
    met = KnownUrls(table)
    met.meet(page)
    assert {url: met.get(url) for url in page} == indexed
    assert met._rows is None  # what `meet` is for: no index was built
    assert met.get("https://a/2") is not None  # a URL not met: the index finds it
    assert met._rows is not None
    later = KnownUrls(table)
    for number in range(KnownUrls.PASSES):
        later.meet([f"https://b/{number}"])
    later.meet(page)  # one page too many: through the index
    assert {url: later.get(url) for url in page} == indexed
    assert later._rows is not None


def test_a_known_url_changed_at_the_later_of_its_stored_time_and_its_last_modified_header():
    """What a sitemap's <lastmod> is compared with; a header that is no HTTP date, or names
    no zone, leaves the stored time alone."""
    from spiders.plan import KnownUrl

    stored = datetime(2025, 1, 24, 10, 37, tzinfo=UTC)
    assert KnownUrl(stored, [], None, "Mon, 27 Jan 2025 08:00:00 GMT").changed_at == \
        datetime(2025, 1, 27, 8, tzinfo=UTC)
    assert KnownUrl(stored, [], None, "Thu, 23 Jan 2025 08:00:00 GMT").changed_at == stored
    assert KnownUrl(None, [], None, "Mon, 27 Jan 2025 10:00:00 +0200").changed_at == \
        datetime(2025, 1, 27, 8, tzinfo=UTC)
    for header in ("yesterday", "Mon, 27 Jan 2025 08:00:00 -0000", "", None):
        assert KnownUrl(stored, [], None, header).changed_at == stored


def test_week_chunks_do_not_overlap_and_hold_each_url_once():
    from flows.backfill import plan_chunks
    from sites import load_profile
    from spiders.manifest import Discovered

    profile = load_profile("demo", "http://127.0.0.1:1")
    since, until = date(2022, 5, 15), date(2022, 6, 1)  # a Sunday to a Wednesday
    days = [since + timedelta(days=i) for i in range((until - since).days + 1)]
    discovered = [Discovered(url=f"http://127.0.0.1:1/{d}", at="", via="sitemap",
                             published=datetime.combine(d, datetime.min.time(), profile.tz)
                             .replace(hour=12).isoformat()) for d in days]
    chunks = plan_chunks(discovered, profile, since, until, "week")
    assert list(chunks) == [(date(2022, 5, 15), date(2022, 5, 15)),
                            (date(2022, 5, 16), date(2022, 5, 22)),
                            (date(2022, 5, 23), date(2022, 5, 29)),
                            (date(2022, 5, 30), date(2022, 6, 1))]
    assert sorted(u for urls in chunks.values() for u in urls) == sorted(
        e.url for e in discovered)
