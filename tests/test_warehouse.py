"""The warehouse: migrations, the record/DDL contract, and transactional, idempotent loads."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Container, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import SEARCH_INDEX, sql_rows

from demosite import render
from demosite.corpus import build_site
from expectations.validate import RESULT_COLUMNS
from extract.article import extract_article
from extract.clean import clean
from extract.parts import Parts, write_part
from extract.record import CORPUS_COLUMNS
from sites import load_profile
from spiders.fetches import FETCH_COLUMNS
from warehouse.db import (
    MIGRATIONS,
    ROW_GROUP_SIZE,
    WarehouseBusyError,
    WarehouseMemoryError,
    WarehouseMissingError,
    connect,
    load_fts,
    reading,
    writing,
)
from warehouse.lake import Lake
from warehouse.load import AccountingError, Batch, RunInfo, load_run, merge_staged, stage_run

BASE = "http://127.0.0.1:9"
PROFILE = load_profile("demo", BASE)
SITE = build_site(60)
T0 = datetime(2025, 2, 10, 10, 0, tzinfo=UTC)
PARTS = tempfile.TemporaryDirectory(prefix="parts-")  # the batches' rows, as extraction writes


def make_batch(indices: list[int], edits: Container[int] = ()) -> Batch:
    records = []
    for article in (a for a in SITE.articles if a.index in indices):
        record = extract_article(render.article(SITE, article, BASE).encode(),
                                 f"{BASE}/{article.slug}", PROFILE)
        if article.index in edits:
            record = replace(record, body=record.body + "\n\nAn edit.")
        records.append(record)
    articles = clean(records).articles
    part = Path(tempfile.mkdtemp(dir=PARTS.name)) / "part.parquet"
    fetches = pd.DataFrame({
        "url": articles["url"], "kind": "article", "status": 200, "error": None,
        "fetched_at": T0.isoformat(), "warc_file": "crawl.warc.gz", "warc_offset": 0,
        "warc_length": 1, "etag": None, "last_modified": None, "content_type": "text/html",
        "attempts": 1, "final_url": articles["url"], "article_id": articles["article_id"],
        "outcome": "loaded"}, columns=FETCH_COLUMNS)
    return Batch(Parts(write_part(articles, part)), fetches,
                 pd.DataFrame(columns=["article_id", "url", "reasons", "record"]),
                 pd.DataFrame(columns=RESULT_COLUMNS))


def run_info(run_id: str, at: datetime = T0, timezone: str = "Europe/Kyiv") -> RunInfo:
    return RunInfo(run_id=run_id, site="demo", base_url=BASE, mode="full", started_at=at,
                   timezone=timezone, archive_dir="/nowhere")


def table_checksums(db: Path | Lake) -> dict[str, tuple]:
    con = connect(db, read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*), bit_xor(hash(x)) FROM {t} AS x").fetchone()
                for t in ("articles", "article_versions", "article_tags", "fetches",
                          "quarantine", "validation_results")}
    finally:
        con.close()


def test_migrations_apply_once(warehouse):
    db = warehouse
    connect(db).close()
    con = connect(db)
    try:
        assert [r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()] \
            == sorted(p.stem for p in MIGRATIONS.glob("*.sql"))
    finally:
        con.close()


def test_articles_table_follows_the_record(warehouse):
    con = connect(warehouse)
    try:
        columns = [r[0] for r in con.execute("DESCRIBE articles").fetchall()]
        staging = [r[0] for r in con.execute("DESCRIBE articles_staging").fetchall()]
        fetches = [r[0] for r in con.execute("DESCRIBE fetches_staging").fetchall()]
    finally:
        con.close()
    assert set(CORPUS_COLUMNS) <= set(columns)
    assert sorted(staging) == sorted([*CORPUS_COLUMNS, "run_id", "stage_id", "seen_at"])
    assert sorted(fetches) == sorted([*FETCH_COLUMNS, "run_id", "stage_id"])


def test_a_corpus_from_before_the_precision_learns_it(tmp_path):
    """Migration 007 marks the rows that only a day-only layer may have dated as not known
    (NULL), the others 'time'; the next run that sees an unknown row records it."""
    db = tmp_path / "old.duckdb"
    load_run(db, run_info("r1"), make_batch([0, 1, 2]), T0)
    con = connect(db)
    try:  # the corpus as migration 006 left it, one row dated by htmldate
        con.execute("UPDATE articles SET provenance = json_merge_patch(provenance, "
                    "'{\"published_at\": \"htmldate\"}') WHERE article_id = (SELECT "
                    "min(article_id) FROM articles)")
        for table in ("articles", "articles_staging"):
            con.execute(f"ALTER TABLE {table} DROP COLUMN published_precision")
        con.execute("DELETE FROM schema_migrations WHERE version = '007_published_precision'")
    finally:
        con.close()
    query = ("SELECT json_extract_string(provenance, '$.published_at'), published_precision "
             "FROM articles ORDER BY article_id")
    con = connect(db)  # which migrates
    try:
        assert con.execute(query).fetchall() == [("htmldate", None), ("jsonld", "time"),
                                                 ("jsonld", "time")]
    finally:
        con.close()
    load_run(db, run_info("r2", T0 + timedelta(hours=1)), make_batch([0, 1, 2]),
             T0 + timedelta(hours=1))
    with reading(db) as con:
        assert [r[1] for r in con.execute(query).fetchall()] == ["time", "time", "time"]


def test_reloading_a_run_is_a_no_op(warehouse):
    db = warehouse
    first = load_run(db, run_info("r1"), make_batch([0, 1, 2, 3]), T0)
    before = table_checksums(db)
    again = load_run(db, run_info("r1"), make_batch([0, 1, 2, 3]), T0)
    assert again == first and first["new"] == 4
    assert table_checksums(db) == before


def test_staged_runs_are_published_by_the_next_merge_once_each(warehouse, tmp_path):
    """Two runs staged and not merged (their processes died, say), the first staged twice (a
    retry): whoever merges next publishes both, oldest first, the first from its latest stage
    only, and ends where two loads one after another do."""
    db = warehouse
    later = T0 + timedelta(hours=1)
    assert stage_run(db, run_info("r1"), make_batch([0, 1, 2]), T0) is None
    assert stage_run(db, run_info("r1"), make_batch([0, 1, 2]), T0) is None
    stage_run(db, run_info("r2", later), make_batch([1, 2, 3], edits={1}), later)
    with reading(db) as con:  # staged is not published
        assert con.execute("SELECT count(*) FROM crawl_runs").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (0,)
    merged = merge_staged(db)
    assert list(merged) == ["r1", "r2"]
    assert (merged["r1"]["new"], merged["r2"]["new"], merged["r2"]["updated"]) == (3, 1, 1)
    assert merge_staged(db) == {}
    assert stage_run(db, run_info("r1"), make_batch([0, 1, 2]), T0) == merged["r1"]
    with reading(db) as con:
        assert con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles"
                           ).fetchone() == (4, 4)
        assert _staged(con) == 0
    reference = tmp_path / "one-after-another.duckdb"
    load_run(reference, run_info("r1"), make_batch([0, 1, 2]), T0)
    load_run(reference, run_info("r2", later), make_batch([1, 2, 3], edits={1}), later)
    assert table_checksums(db) == table_checksums(reference)


def test_a_merge_that_dies_before_indexing_leaves_a_backlog_the_next_merge_indexes(
        warehouse, tmp_path, monkeypatch):
    """The merge commits the run, then indexes it for search in transactions of its own. A
    merge that dies between the two has published the run, not its index entries: the next
    merge, with no run of its own, indexes them, and the index is the one a whole load
    builds."""
    from warehouse import load

    db = warehouse

    def dies(*args: Any) -> None:
        raise RuntimeError("the process died")

    stage_run(db, run_info("r1"), make_batch([0, 1, 2]), T0)
    monkeypatch.setattr(load, "index_backlog", dies)
    with pytest.raises(RuntimeError, match="the process died"):
        merge_staged(db)
    with reading(db) as con:
        assert con.execute("SELECT status FROM crawl_runs").fetchall() == [("completed",)]
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (3,)
        assert con.execute("SELECT count(*) FROM search_docs").fetchone() == (0,)
    monkeypatch.undo()
    assert merge_staged(db) == {}
    reference = tmp_path / "whole.duckdb"
    load_run(reference, run_info("r1"), make_batch([0, 1, 2]), T0)
    with reading(db) as con, reading(reference) as whole:
        assert _staged(con) == 0
        assert ([con.execute(sql).fetchall() for sql in SEARCH_INDEX]
                == [whole.execute(sql).fetchall() for sql in SEARCH_INDEX])
        assert len(con.execute(SEARCH_INDEX[1]).fetchall()) == 3
    assert table_checksums(db) == table_checksums(reference)


def test_a_lake_stages_while_another_process_holds_the_merge_lane(postgres, tmp_path,
                                                                   monkeypatch):
    """Staging takes no lock: it goes through while the write lock is held elsewhere (and
    waits none of NEWSCORPUS_LOCK_WAIT), and the merge waits its turn."""
    import threading

    import postgres as pg
    from conftest import free_port

    from warehouse.db import lake_lock

    lake = Lake(pg.create_database(postgres, f"lake_stage_{free_port()}"), tmp_path / "lake")
    connect(lake).close()
    monkeypatch.setenv("NEWSCORPUS_LOCK_WAIT", "1")
    held, release = threading.Event(), threading.Event()

    def merging_elsewhere() -> None:
        with lake_lock(lake):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=merging_elsewhere)
    holder.start()
    try:
        assert held.wait(30)
        assert stage_run(lake, run_info("r1"), make_batch([0, 1]), T0) is None
        with pytest.raises(WarehouseBusyError, match="being written by another process"):
            merge_staged(lake)
    finally:
        release.set()
        holder.join()
    assert merge_staged(lake)["r1"]["new"] == 2


def _load_with_an_edit(db: Path | Lake) -> tuple[datetime, dict[str, Any]]:
    """Run r1 loads three articles; run r2, an hour later, finds the second one edited."""
    load_run(db, run_info("r1"), make_batch([0, 1, 2]), T0)
    later = T0 + timedelta(hours=1)
    return later, load_run(db, run_info("r2", later), make_batch([0, 1, 2], edits={1}), later)


def test_an_edit_becomes_current_and_the_old_text_is_kept(warehouse):
    db = warehouse
    later, summary = _load_with_an_edit(db)
    assert (summary["new"], summary["updated"], summary["unchanged"]) == (0, 1, 2)
    con = connect(db, read_only=True)
    try:
        current = con.execute("SELECT version, body, version_seen_at, first_seen_at, site, "
                              "last_run_id FROM articles WHERE body LIKE '%An edit.'").fetchall()
        versions = con.execute("SELECT version, valid_from, valid_to, body FROM article_versions"
                               ).fetchall()
        articles = con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles"
                               ).fetchone()
    finally:
        con.close()
    assert articles == (3, 3)  # the edited article's row replaced, not added to
    assert len(current) == 1 and current[0][0] == 2
    assert current[0][2:] == (later, T0, "demo", "r2")
    assert len(versions) == 1
    version, valid_from, valid_to, body = versions[0]
    assert (version, valid_from, valid_to) == (1, T0, later)
    assert not body.endswith("An edit.")


def test_a_load_that_does_not_add_up_leaves_nothing_but_its_failure(warehouse):
    db = warehouse
    load_run(db, run_info("r1"), make_batch([0, 1]), T0)
    before = table_checksums(db)
    bad = make_batch([2, 3])
    bad.fetches.loc[0, "outcome"] = None  # a discovered URL with no state
    with pytest.raises(AccountingError, match="add up"):
        load_run(db, run_info("r2"), bad, T0)
    assert table_checksums(db) == before
    con = connect(db, read_only=True)
    try:
        assert con.execute("SELECT status, error LIKE '%add up%' FROM crawl_runs "
                           "WHERE run_id = 'r2'").fetchall() == [("failed", True)]
        assert _staged(con) == 0  # its stage is gone: it cannot hold up the runs behind it
    finally:
        con.close()


def _staged(con: Any) -> int:
    return sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
               for t in ("staged_runs", "articles_staging", "fetches_staging",
                         "quarantine_staging", "validation_staging"))


@contextmanager
def lock_held(db: Path, seconds: float) -> Iterator[None]:
    """Another process opens `db` for writing and keeps it for `seconds` (or until killed)."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
        f"time.sleep({seconds}); c.close()"), str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_the_search_index_follows_each_load(warehouse):
    _load_with_an_edit(warehouse)
    with reading(warehouse) as con:
        load_fts(con)  # the stemmer the search macro calls
        found = con.execute("SELECT a.body FROM search_articles('edit') s "
                            "JOIN articles a USING (article_id)").fetchall()
        indexed = con.execute("SELECT count(*), count(DISTINCT article_id) FROM search_docs"
                              ).fetchone()
    assert [body.endswith("An edit.") for (body,) in found] == [True]  # the new text only
    assert indexed == (3, 3)  # one row per article, though one was indexed twice


def test_a_load_indexes_its_own_articles_from_staging_and_searches_only_for_more(
        warehouse, monkeypatch):
    """The merge counts the index's backlog before it looks for it. Three new articles and an
    edit are indexed from their staged rows, a load that changes nothing indexes nothing, and
    articles the index lacks besides the run's (an index emptied) are searched for."""
    from warehouse import queries

    fills: list[str] = []
    run_sql = queries.run

    def recording(con: Any, name: str, **params: Any) -> Any:
        if name in ("staged_backlog", "corpus_backlog"):
            fills.append(name)
        return run_sql(con, name, **params)

    monkeypatch.setattr(queries, "run", recording)
    load_run(warehouse, run_info("r1"), make_batch([0, 1, 2]), T0)
    later = T0 + timedelta(hours=1)
    load_run(warehouse, run_info("r2", later), make_batch([0, 1, 2], edits={1}), later)
    latest = later + timedelta(hours=1)
    summary = load_run(warehouse, run_info("r3", latest), make_batch([0, 1, 2], edits={1}), latest)
    assert summary["unchanged"] == 3
    assert fills == ["staged_backlog", "staged_backlog"]
    with writing(warehouse) as con:
        for table in ("search_terms", "search_docs"):
            con.execute(f"DELETE FROM {table} WHERE article_id IN "
                        "(SELECT min(article_id) FROM articles)")
    load_run(warehouse, run_info("r4", latest), make_batch([3]), latest)
    assert fills[2:] == ["corpus_backlog"]
    assert sql_rows(warehouse, "SELECT count(*), count(DISTINCT article_id) FROM search_docs"
                    ) == [(4, 4)]


def test_a_load_rewrites_rows_in_place_only_when_its_run_has_such_articles(
        warehouse, monkeypatch):
    """The statements that read every column of the corpus (an edit's, an unchanged
    article's) run only for a run that has edited or unchanged articles: a run of new
    articles, a backfill's chunk, skips them, and the others still do their work."""
    from warehouse import queries
    from warehouse.load import WHOLE_ROW_STEPS

    ran: list[set[str]] = []
    run_sql = queries.run

    def recording(con: Any, name: str, **params: Any) -> Any:
        if name == "classify":
            ran.append(set())
        if name in WHOLE_ROW_STEPS:
            ran[-1].add(name)
        return run_sql(con, name, **params)

    monkeypatch.setattr(queries, "run", recording)
    load_run(warehouse, run_info("r1"), make_batch([0, 1]), T0)
    later = T0 + timedelta(hours=1)
    load_run(warehouse, run_info("r2", later), make_batch([2, 3]), later)
    latest = later + timedelta(hours=1)
    summary = load_run(warehouse, run_info("r3", latest), make_batch([0, 1], edits={1}), latest)
    assert (summary["updated"], summary["unchanged"]) == (1, 1)
    assert ran == [set(), set(), set(WHOLE_ROW_STEPS)]
    assert sql_rows(warehouse, "SELECT version, last_run_id, count(*) FROM articles "
                    "GROUP BY ALL ORDER BY ALL") == [(1, "r2", 2), (1, "r3", 1), (2, "r3", 1)]
    assert sql_rows(warehouse, "SELECT version, replaced_by_run_id FROM article_versions"
                    ) == [(1, "r3")]


def test_a_held_back_page_is_released_when_a_later_run_loads_it(warehouse):
    db = warehouse
    held = make_batch([0, 1])
    page = held.articles.keys.iloc[[1]]
    loaded = Parts(held.articles.keys.iloc[[0]])
    held = Batch(loaded, held.fetches.assign(outcome=["loaded", "quarantined"]), pd.DataFrame({
        "article_id": page["article_id"], "url": page["url"],
        "reasons": [["published_at is missing"]], "record": ["{}"]}), held.validation)
    first = load_run(db, run_info("r1"), held, T0)
    assert (first["new"], first["quarantined"]) == (1, 1)
    later = T0 + timedelta(hours=1)
    second = load_run(db, run_info("r2", later), make_batch([0, 1]), later)
    assert (second["new"], second["unchanged"]) == (1, 1)
    with reading(db) as con:
        rows = con.execute("SELECT url, reasons, released_by FROM quarantine").fetchall()
    assert rows == [(page["url"].iloc[0], ["published_at is missing"], "r2")]


def test_busy_database_is_one_clear_error(tmp_path):
    db = tmp_path / "c.duckdb"
    connect(db).close()
    with lock_held(db, 60):
        with pytest.raises(WarehouseBusyError, match=r"in use by another process \(PID \d+\)"):
            connect(db, wait=0)
        started = time.monotonic()
        with pytest.raises(WarehouseBusyError):
            connect(db, read_only=True, wait=1.5)
        assert time.monotonic() - started >= 1.5
    time.sleep(0.1)
    connect(db).close()


def test_a_second_connection_of_one_process_waits_for_the_first(tmp_path):
    """A process attaches the file once (warehouse/db.py): a second open waits for the first
    connection to close, and says so when the wait runs out."""
    db = tmp_path / "c.duckdb"
    first = connect(db)
    with pytest.raises(WarehouseBusyError, match="in use by another connection of this process"):
        connect(db, read_only=True, wait=0)
    closing = threading.Timer(1.0, first.close)
    closing.start()
    started = time.monotonic()
    with reading(db, wait=10) as con:
        assert time.monotonic() - started >= 0.9
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (0,)
    closing.join()


def test_the_opens_of_one_run_share_one_lock_wait(tmp_path, monkeypatch):
    from warehouse.db import one_lock_wait

    db = tmp_path / "c.duckdb"
    connect(db).close()
    monkeypatch.setenv("NEWSCORPUS_LOCK_WAIT", "2")
    with lock_held(db, 60), one_lock_wait():
        started = time.monotonic()
        with pytest.raises(WarehouseBusyError, match=r"waited 2 s, NEWSCORPUS_LOCK_WAIT=2\)"):
            connect(db, read_only=True)
        first = time.monotonic() - started
        with pytest.raises(WarehouseBusyError):
            connect(db)  # the wait is spent: one try
        second = time.monotonic() - started - first
    assert 2 <= first < 3 and second < 0.5
    with one_lock_wait():  # a new block, a new wait; opens that never waited cost none of it
        connect(db).close()
        with lock_held(db, 60):
            started = time.monotonic()
            with pytest.raises(WarehouseBusyError):
                connect(db)
            assert time.monotonic() - started >= 2


def test_read_only_open_of_a_missing_database(tmp_path):
    with pytest.raises(WarehouseMissingError, match="newscorpus run"):
        connect(tmp_path / "absent.duckdb", read_only=True)


def test_a_load_waits_for_another_writer(tmp_path):
    db = tmp_path / "c.duckdb"
    connect(db).close()
    with lock_held(db, 2):
        started = time.monotonic()
        summary = load_run(db, run_info("r1"), make_batch([0, 1]), T0)
        assert time.monotonic() - started >= 1.0  # it waited for the lock, then loaded
        assert summary["new"] == 2


def test_views_count_days_and_hours_in_the_sites_own_zone(tmp_path):
    """The same articles, loaded as a site of Kyiv and as one of Los Angeles: the seed article
    (24 January, 12:37 in Kyiv) falls on another hour."""
    hours = {}
    for zone in ("Europe/Kyiv", "America/Los_Angeles"):
        db = tmp_path / f"{zone.replace('/', '-')}.duckdb"
        load_run(db, run_info("r1", timezone=zone), make_batch([0, 1, 2]), T0)
        con = connect(db, read_only=True)
        try:
            hours[zone] = con.execute(
                "SELECT hour(published_local), site_timezone FROM articles_local "
                "WHERE title LIKE 'EU supports%'").fetchone()
        finally:
            con.close()
    assert hours == {"Europe/Kyiv": (12, "Europe/Kyiv"),
                     "America/Los_Angeles": (2, "America/Los_Angeles")}


def test_a_copy_that_does_not_verify_commits_nothing(warehouse, tmp_path):
    """A destination whose `articles.published_at` keeps only the day (an older schema, a
    hand-made table) takes the rows, but they are not the source's: the copy stops at that
    table's checksum, and the destination holds nothing of it."""
    from warehouse.copy import CopyMismatchError, copy_corpus

    source = tmp_path / "source.duckdb"
    load_run(source, run_info("r1"), make_batch([0, 1]), T0)
    with writing(warehouse) as con:
        con.execute("ALTER TABLE articles DROP COLUMN published_at")  # DuckLake only widens
        con.execute("ALTER TABLE articles ADD COLUMN published_at DATE")
    with pytest.raises(CopyMismatchError, match="the copy of articles does not verify"):
        copy_corpus(source, warehouse)
    con = connect(warehouse, read_only=True)
    try:
        assert [con.execute(f"SELECT count(*) FROM {t}").fetchone() for t in
                ("articles", "article_tags", "crawl_runs", "fetches")] == [(0,)] * 4
    finally:
        con.close()


def test_reprocessing_reloads_exactly_what_an_extractor_change_touched(
        warehouse, demo, prefect_backend, tmp_path, monkeypatch):
    """A run, then a reprocessing of its archive with the same code (no row changes), then
    one with an extractor "fix" (a section's titles gain a prefix): exactly those articles
    are updated, with their old text kept as versions."""
    from test_incremental import checksums

    from extract import article as extractor
    from extract import workers as extraction
    from flows.pipeline import news_pipeline
    from flows.reprocess import reprocess

    where = {"db": str(warehouse)} if isinstance(warehouse, Path) else {
        "warehouse": f"ducklake:{warehouse.catalog}", "lake_data": str(warehouse.data_path)}
    news_pipeline(base_url=demo.base_url, data_dir=str(tmp_path), **where)
    corpus = dict.fromkeys(("articles", "article_versions", "article_tags", "search_terms"), "*")
    before = checksums(warehouse, corpus)
    same = reprocess(base_url=demo.base_url, data_dir=str(tmp_path), **where)
    assert (same["new"], same["updated"]) == (0, 0) and same["unchanged"] > 0
    assert checksums(warehouse, corpus) == before

    original = extractor.extract_article

    def fixed(body: bytes, url: str, profile: Any, content_type: str | None = None) -> Any:
        record = original(body, url, profile, content_type)
        if record.section == "Economy":
            record.title = f"Economy: {record.title}"
        return record

    monkeypatch.setattr(extraction, "extract_article", fixed)
    monkeypatch.setenv("NEWSCORPUS_EXTRACT_WORKERS", "0")  # the patch holds in this process
    with reading(warehouse) as con:
        [(affected,)] = con.execute(
            "SELECT count(*) FROM articles WHERE section = 'Economy'").fetchall()
    assert affected > 0
    summary = reprocess(base_url=demo.base_url, data_dir=str(tmp_path), **where)
    assert (summary["updated"], summary["new"], summary["failed"]) == (affected, 0, 0)
    with reading(warehouse) as con:
        assert con.execute("SELECT count(*) FROM articles WHERE section = 'Economy' AND NOT "
                           "starts_with(title, 'Economy: ')").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM article_versions WHERE replaced_by_run_id "
                           "= ?", [summary["run_id"]]).fetchone() == (affected,)


def test_a_written_file_gets_small_row_groups_and_spills_beside_itself(tmp_path):
    """The checkpoint that closes a small append rewrites the table's last row groups: at
    DuckDB's default of 122,880 rows of article text, a 200k backfill peaked at 1,335 and
    1,344 MiB, against 809 MiB at 8,192 rows (docs/performance.md)."""
    path = tmp_path / "corpus.duckdb"
    with writing(path) as con:
        assert con.execute("SELECT current_setting('temp_directory')").fetchone() \
            == (f"{path}.tmp",)
        con.execute("CREATE TABLE probe AS SELECT range AS n FROM range(20000)")
    with reading(path) as con:
        groups = con.execute("SELECT count(DISTINCT row_group_id), max(count) "
                             "FROM pragma_storage_info('probe')").fetchone()
    assert groups == (3, ROW_GROUP_SIZE)


def test_a_load_in_slices_under_the_load_memory_limit_loads_the_same(tmp_path, monkeypatch):
    """The merge indexes INDEX_SLICE at a time, and a load into a DuckDB file holds DuckDB to
    $NEWSCORPUS_LOAD_MEMORY: neither changes what is loaded or indexed."""
    from warehouse import load

    batch = make_batch(list(range(60)))
    at_once, sliced = tmp_path / "at-once.duckdb", tmp_path / "sliced.duckdb"
    load_run(at_once, run_info("r1"), batch, T0)
    monkeypatch.setattr(load, "INDEX_SLICE", 7)
    monkeypatch.setenv("NEWSCORPUS_LOAD_MEMORY", "64MB")
    load_run(sliced, run_info("r1"), batch, T0)
    with writing(sliced) as con:
        assert con.execute("SELECT current_setting('memory_limit')").fetchone() == ("61.0 MiB",)
    assert table_checksums(sliced) == table_checksums(at_once)
    assert ([sql_rows(sliced, sql) for sql in SEARCH_INDEX]
            == [sql_rows(at_once, sql) for sql in SEARCH_INDEX])
    assert len(sql_rows(sliced, SEARCH_INDEX[1])) == len(batch.articles) > 7 * 8


def test_changed_articles_leave_the_index_in_slices_and_return_with_their_new_text(
        tmp_path, monkeypatch):
    """Before a merge, the run's changed articles leave the search index UNINDEX_SLICE at a
    time, a transaction (and a checkpoint) each; after it, the index is the one their new
    text makes, as in a corpus that only ever held the new text."""
    from warehouse import load, queries

    later = T0 + timedelta(days=1)
    changed = make_batch(list(range(60)), edits=set(range(0, 60, 2)))
    db, fresh = tmp_path / "corpus.duckdb", tmp_path / "fresh.duckdb"
    load_run(db, run_info("r1"), make_batch(list(range(60))), T0)
    load_run(fresh, run_info("r1"), changed, T0)
    slices: list[int] = []
    count = queries.count

    def counted(con: Any, name: str, **params: Any) -> int:
        found = count(con, name, **params)
        if name == "unindex_slice":
            slices.append(found)
        return found

    monkeypatch.setattr(load, "UNINDEX_SLICE", 7)
    monkeypatch.setattr(queries, "count", counted)
    summary = load_run(db, run_info("r2", later), changed, later)
    assert summary["updated"] == 30 and slices == [7, 7, 7, 7, 2, 0]
    assert ([sql_rows(db, sql) for sql in SEARCH_INDEX]
            == [sql_rows(fresh, sql) for sql in SEARCH_INDEX])


def test_the_stage_and_the_merge_run_on_one_thread_and_the_search_index_on_every_one(
        tmp_path, monkeypatch):
    """What DuckDB reads and writes on one thread it holds less of (STAGE_THREADS,
    MERGE_THREADS); the search index's slices, faster on more, keep DuckDB's default."""
    import duckdb

    from warehouse import queries

    threads: dict[str, int] = {}
    run = queries.run

    def recorded(con: Any, name: str, **params: Any) -> Any:
        threads[name] = con.execute("SELECT current_setting('threads')").fetchone()[0]
        return run(con, name, **params)

    monkeypatch.setattr(queries, "run", recorded)
    load_run(tmp_path / "corpus.duckdb", run_info("r1"), make_batch([0, 1, 2]), T0)
    default = duckdb.connect().execute("SELECT current_setting('threads')").fetchone()[0]
    assert threads["stage_articles"] == threads["insert_articles"] == 1
    assert threads["index_slice"] == threads["unstage"] == default


@pytest.mark.parametrize("limit", ["NEWSCORPUS_STAGE_MEMORY", "NEWSCORPUS_LOAD_MEMORY"])
def test_a_load_over_its_memory_limit_is_one_clear_error_and_a_rerun_loads_it_once(
        tmp_path, monkeypatch, limit):
    """The stage has a limit of its own; the error names the one that was too low."""
    db, batch = tmp_path / "corpus.duckdb", make_batch(list(range(60)))
    monkeypatch.setenv(limit, "1MB")
    with pytest.raises(WarehouseMemoryError, match=f"{limit}=1MB"):
        load_run(db, run_info("r1"), batch, T0)
    assert sql_rows(db, "SELECT count(*) FROM articles") == [(0,)]
    staged = sql_rows(db, "SELECT count(*) FROM articles_staging")
    assert staged == [(0,)] if limit == "NEWSCORPUS_STAGE_MEMORY" else staged == [(60,)]
    monkeypatch.delenv(limit)
    load_run(db, run_info("r1"), batch, T0)
    assert sql_rows(db, "SELECT count(*), count(DISTINCT article_id) FROM articles") == [(60, 60)]
    assert sql_rows(db, "SELECT status FROM crawl_runs") == [("completed",)]
