"""Data quality: suites with severities, quarantine and release, the drift alarm, data docs."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import articles_frame, get_json
from conftest import sql_rows as rows
from test_cli import newscorpus

from demosite.corpus import build_site
from demosite.server import start
from expectations.validate import SuiteError, validate
from warehouse.db import connect

SEED_TITLE = "EU supports Zelenskyy’s call for U.S. peacekeepers, seeks to persuade Trump — media"



def test_every_bad_page_kind_is_quarantined_with_its_reason(two_runs, truth):
    run_id = two_runs["first"]["run_id"]
    held = dict(rows(two_runs["db"], "SELECT url, reasons FROM quarantine WHERE run_id = ?",
                     run_id))
    expected = [a for a in truth["articles"] if a["expected"] == "quarantined"]
    assert len(held) == len(expected) == two_runs["first"]["quarantined"]
    for article in expected:
        assert article["reason"] in held[article["url"]], (article["state"], held[article["url"]])
    kinds = {a["state"] for a in expected}
    assert len(kinds) >= 6


def test_seed_article_loads_and_its_empty_tags_are_a_warning(two_runs):
    db = two_runs["db"]
    assert rows(db, "SELECT tags FROM articles WHERE title = ?", SEED_TITLE) == [([],)]
    assert rows(db, "SELECT count(*) FROM quarantine WHERE record ->> 'title' = ?",
                SEED_TITLE) == [(0,)]
    warning = rows(db, "SELECT severity, success, unexpected_count FROM validation_results "
                       "WHERE run_id = ? AND \"column\" = 'tag_count' AND reason = "
                       "'article has no tags'", two_runs["first"]["run_id"])
    assert warning and warning[0][0] == "warning" and warning[0][1] is False
    assert warning[0][2] > 0


def test_validation_results_have_every_field(two_runs):
    results = rows(two_runs["db"], "SELECT expectation, severity, success, unexpected_count, "
                                   "unexpected_percent, sample_ids FROM validation_results "
                                   "WHERE run_id = ? AND NOT success",
                   two_runs["first"]["run_id"])
    assert results
    for _, severity, _, count, percent, samples in results:
        assert severity in ("critical", "warning", "info")
        assert count > 0 and 0 < percent <= 100 and 0 < len(samples) <= 5


def test_an_expectation_that_errors_is_a_failure_not_a_pass(two_runs):
    frame = articles_frame(two_runs["db"], "SELECT * FROM articles LIMIT 5")
    frame["tag_count"] = frame["tags"].map(len)  # but no weekday_agrees column
    with pytest.raises(SuiteError, match="weekday_agrees"):
        validate(frame, {"url_pattern": "^http", "founded": "2000-01-01T00:00:00+00:00",
                         "now": "2100-01-01T00:00:00+00:00", "languages": ["en"],
                         "volume_min": 0, "volume_max": 10})


@pytest.mark.parametrize("drift", ["date", "body"])
def test_a_recoverable_drift_loads_the_same_articles_from_other_layers(drift, prefect_backend,
                                                                       tmp_path):
    """Renamed date or text elements: the date line is found near the headline, the body as
    the page's main content; the corpus is what the undrifted site gives."""
    from flows.pipeline import news_pipeline

    site = start(build_site(80))
    fields = "SELECT article_id, title, published_at, body, tags::VARCHAR FROM articles ORDER BY 1"
    try:
        news_pipeline(base_url=site.base_url, db=str(tmp_path / "before.duckdb"),
                      data_dir=str(tmp_path))
        truth = get_json(f"{site.base_url}/__truth__")
        site.server.site = site.server.site.drifted(drift)
        news_pipeline(base_url=site.base_url, db=str(tmp_path / "after.duckdb"),
                      data_dir=str(tmp_path))
    finally:
        site.stop()
    before = rows(tmp_path / "before.duckdb", fields)
    after = rows(tmp_path / "after.duckdb", fields)
    assert len(before) > 50 and set(before) <= set(after)
    # Pages whose structured data gives an impossible date are held back before the drift;
    # after it, their date line (which is right) is all the date they have.
    future = [a for a in truth["articles"] if a["state"] == "future_date"] if drift == "date" \
        else []
    assert len(after) - len(before) == len(future)
    field, layer = {"date": ("published_at", "dateline"), "body": ("body", "generic")}[drift]
    layers = rows(tmp_path / "after.duckdb",
                  f"SELECT provenance ->> '{field}' AS layer, count(*) FROM articles GROUP BY 1")
    assert dict(layers) == {layer: len(after)}


@pytest.mark.parametrize("drift", ["undated"])
def test_layout_drift_stops_the_run_and_leaves_the_corpus(drift, prefect_backend, tmp_path):
    from expectations.quality import DriftError
    from flows.pipeline import news_pipeline

    site = start(build_site(80))
    db = tmp_path / "corpus.duckdb"
    try:
        news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(tmp_path))
        before = rows(db, "SELECT article_id, content_hash, last_seen_at FROM articles "
                          "ORDER BY 1")
        site.server.site = site.server.site.drifted(drift)
        assert get_json(f"{site.base_url}/__truth__")["drift"] == drift
        with pytest.raises(DriftError, match="layout drift suspected") as raised:
            news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(tmp_path),
                          mode="full")
    finally:
        site.stop()
    reason = {"undated": "published_at is missing"}[drift]
    assert reason in str(raised.value) and "e.g. http://127.0.0.1" in str(raised.value)
    assert rows(db, "SELECT article_id, content_hash, last_seen_at FROM articles ORDER BY 1") \
        == before
    status, error = rows(db, "SELECT status, error FROM crawl_runs ORDER BY started_at DESC "
                             "LIMIT 1")[0]
    assert status == "failed" and reason in error
    assert rows(db, "SELECT count(*) FROM validation_results v JOIN crawl_runs r USING (run_id) "
                    "WHERE r.status = 'failed' AND NOT v.success AND v.reason = ?",
                reason) == [(1,)]


def test_a_fixed_extractor_releases_what_it_now_gets_right(prefect_backend, tmp_path,
                                                           monkeypatch):
    from extract import article as extractor
    from extract import workers as extraction
    from flows.pipeline import news_pipeline
    from flows.reprocess import reprocess

    site = start(build_site(250))
    db = tmp_path / "corpus.duckdb"
    try:
        news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(tmp_path))
    finally:
        site.stop()
    held = dict(rows(db, "SELECT url, reasons FROM quarantine"))
    boilerplate = [u for u, reasons in held.items() if reasons == ["body contains boilerplate"]]
    assert boilerplate
    original = extractor.extract_article

    def fixed(body, url, profile, content_type=None):  # the fix: drop "Read also" lines
        record = original(body, url, profile, content_type)
        record.body = "\n\n".join(p for p in record.body.split("\n\n")
                                  if not p.startswith("Read also"))
        return record

    monkeypatch.setattr(extraction, "extract_article", fixed)
    monkeypatch.setenv("NEWSCORPUS_EXTRACT_WORKERS", "0")  # the patch holds in this process
    summary = reprocess(base_url=site.base_url, urls=sorted(held), db=str(db))
    assert summary["new"] == len(boilerplate)
    released = dict(rows(db, "SELECT url, released_by FROM quarantine WHERE released_at "
                             "IS NOT NULL"))
    assert set(released) == set(boilerplate)
    assert set(released.values()) == {summary["run_id"]}
    still = {u for (u,) in rows(db, "SELECT DISTINCT url FROM quarantine WHERE released_at "
                                    "IS NULL")}
    assert still == set(held) - set(boilerplate)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img", "iframe", "source") and values.get("src"):
            self.loads.append(values["src"] or "")
        if tag == "link" and values.get("href"):
            self.loads.append(values["href"] or "")


def test_data_docs_open_offline_and_list_the_last_run(two_runs):
    page = Path(two_runs["second"]["data_docs"])
    html = page.read_text(encoding="utf-8")
    links = _Links()
    links.feed(html)
    assert not [u for u in links.loads if re.match(r"(?i)\s*(https?:)?//", u)]
    assert "<script" not in html.lower()
    assert two_runs["second"]["run_id"] in html and two_runs["first"]["run_id"] in html
    assert "body is empty" in html  # a failing expectation, with its examples
    # #22: passed rows said "passed | url is missing" and listed failing rows, by bare id.
    table = _Rows()
    table.feed(html)
    results = [r for r in table.rows if len(r) == 8 and r[4] in ("passed", "failed")]
    assert {r[4] for r in results} == {"passed", "failed"}
    assert all(r[6] == r[7] == "" for r in results if r[4] == "passed")
    failed = [r for r in results if r[4] == "failed"]
    assert failed and all(r[6] and r[7] for r in failed)
    titles = {t for (t,) in rows(two_runs["db"], "SELECT record ->> 'title' FROM quarantine")}
    assert any(t and t in r[7] for r in failed for t in titles)  # titles, not ids
    assert any(url.startswith("http") for url in table.links)  # sample URLs are links
    # #22: a page per run, which the run's Prefect artifact links to, and which stays when
    # the index moves on to later runs.
    from reports.summary import markdown_summary

    for run in (two_runs["first"], two_runs["second"]):
        own = Path(run["run_page"]).read_text(encoding="utf-8")
        assert run["run_id"] in own and "../index.html" in own
        other = two_runs["second" if run is two_runs["first"] else "first"]["run_id"]
        assert f'id="{other}"' not in own
        assert f"]({Path(run['run_page']).resolve().as_uri()})" in markdown_summary(run)
    assert "body is empty" in Path(two_runs["first"]["run_page"]).read_text(encoding="utf-8")
    # A recorded run's results do not change: the second run left the first one's page alone.
    assert Path(two_runs["first"]["run_page"]).stat().st_mtime_ns == \
        two_runs["first_page_written"]


class _Rows(HTMLParser):
    """The text of each table row's cells, and every link's target."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []
        elif tag == "a" and (href := dict(attrs).get("href")):
            self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_quality_and_quarantine_commands(two_runs, tmp_path):
    db = str(two_runs["db"])
    quality = newscorpus("quality", "--failed", "--db", db, "--json", cwd=tmp_path)
    assert quality.returncode == 0 and "body is empty" in quality.stdout
    listing = newscorpus("quarantine", "list", "--db", db, "--json", cwd=tmp_path)
    held = pd.read_json(__import__("io").StringIO(listing.stdout))
    assert len(held) == two_runs["first"]["quarantined"]
    shown = newscorpus("quarantine", "show", held["url"][0], "--db", db, cwd=tmp_path)
    assert shown.returncode == 0 and "reasons:" in shown.stdout and '"body"' in shown.stdout
    assert newscorpus("validate", "--db", db, cwd=tmp_path).returncode == 0
    missing = newscorpus("quarantine", "show", "http://nowhere/", "--db", db, cwd=tmp_path)
    assert missing.returncode == 2 and "nothing in quarantine" in missing.stderr


def test_validate_exits_1_on_a_stored_critical_failure(two_runs, tmp_path):
    """A stored article that a suite now fails: `validate` says which, and exits 1."""
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(two_runs["db"], db)
    con = connect(db)
    try:
        con.execute("UPDATE articles SET title = NULL WHERE article_id IN "
                    "(SELECT article_id FROM articles ORDER BY article_id LIMIT 2)")
    finally:
        con.close()
    result = newscorpus("validate", "--db", str(db), "--json", cwd=tmp_path)
    assert result.returncode == 1
    failed = [r for r in json.loads(result.stdout) if not r["success"]]
    assert [(r["reason"], r["unexpected_count"]) for r in failed
            if r["severity"] == "critical"] == [("title is empty", 2)]


def test_nightly_quality_flow_checks_the_stored_corpus(two_runs, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.nightly import nightly_quality

    summary = nightly_quality(site="demo", db=str(two_runs["db"]), data_dir=str(tmp_path))
    assert summary["critical_failed"] == 0 and summary["expectations"] > 10
    assert summary["archives_verified"] == 2 and summary["archive_problems"] == 0  # both runs
    assert Path(summary["data_docs"]).is_file()
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts()  # one per key, the newest
    keys = {a.key: a for a in artifact}
    assert "nightly-quality" in keys and "run-summary" in keys
    assert "article has no tags" in keys["nightly-quality"].data  # warnings are listed
    assert "| critical |" not in keys["nightly-quality"].data
    assert "| discovered |" in keys["run-summary"].data
    assert "2 runs' archives verified" in keys["nightly-quality"].data


@pytest.mark.parametrize("how", ["parameter", "environment"])
def test_the_drift_threshold_can_be_raised(how, prefect_backend, tmp_path, monkeypatch):
    """At a threshold of 100%, a batch whose every page lacks a date is held back page by
    page instead of stopping the run."""
    from flows.pipeline import news_pipeline

    site = start(build_site(80).drifted("undated"))
    params: dict[str, Any] = {}
    if how == "parameter":
        params["drift_threshold"] = 1.0
    else:
        monkeypatch.setenv("NEWSCORPUS_DRIFT_THRESHOLD", "1.0")
    try:
        summary = news_pipeline(base_url=site.base_url, db=str(tmp_path / "c.duckdb"),
                                data_dir=str(tmp_path), **params)
        truth = get_json(f"{site.base_url}/__truth__")
    finally:
        site.stop()
    answered = sum(a["expected"] != "failed" for a in truth["articles"])
    assert summary["status"] == "completed" and summary["new"] == 0
    assert summary["quarantined"] == answered


@pytest.mark.parametrize("volume", [(None, None), (0, 10), (None, 0), (5, 10), (None, -1)])
def test_an_empty_batch_is_judged_as_great_expectations_judges_it(volume):
    """A no-change run validates a batch of no rows without importing GX (seconds of its
    start-up): the results must be GX's own, row for row, whatever the volume bounds."""
    from datetime import UTC, datetime

    from expectations.quality import validation_frame, validation_params
    from expectations.validate import validate_with_gx
    from extract.clean import clean_rows
    from sites import load_profile

    profile = load_profile("demo", "http://127.0.0.1:9")
    frame = validation_frame(clean_rows([]), profile)
    params = {**validation_params(profile, datetime.now(UTC)),
              "volume_min": volume[0], "volume_max": volume[1]}
    fast, by_gx = validate(frame, params), validate_with_gx(frame, params)
    assert fast.reasons == by_gx.reasons == {}
    def judged(results: pd.DataFrame) -> list[dict[str, Any]]:  # GX orders them its way
        return sorted(results.to_dict("records"), key=lambda r: (r["suite"], r["reason"]))

    assert judged(fast.results) == judged(by_gx.results)
    volume_row = fast.results[fast.results["expectation"] == "expect_table_row_count_to_be_between"]
    assert volume_row["success"].tolist() == [volume not in ((5, 10), (None, -1))]
