"""The end-to-end path on the demo site: crawl, extract, clean, validate, load, twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from conftest import get_json

SEED_TITLE = "EU supports Zelenskyy’s call for U.S. peacekeepers, seeks to persuade Trump — media"
OUTCOMES = ("new", "updated", "unchanged", "quarantined", "failed")


def _expected(truth: dict[str, Any], outcome: str) -> list[dict[str, Any]]:
    return [a for a in truth["articles"] if a["expected"] == outcome]


def test_articles_equal_the_loadable_articles_of_truth(two_runs, truth, query):
    loadable = {a["url"] for a in _expected(truth, "loaded")}
    stored = {row[0] for row in query("SELECT url FROM articles")}
    assert stored == loadable
    assert query("SELECT count(*) FROM articles")[0][0] == len(loadable)


def test_seed_article_row(two_runs, query):
    rows = query("SELECT published_at, tags, body FROM articles WHERE title = ?", SEED_TITLE)
    assert len(rows) == 1
    published_at, tags, body = rows[0]
    assert published_at == datetime(2025, 1, 24, 10, 37, tzinfo=UTC)
    assert tags == []
    assert body.startswith("Bloomberg, citing its sources")
    assert "Issue of trust" in body
    assert "Matthew Bryza explained that each NATO country" in body
    for leaked in ("client/title.list_title", "Read also", "Tags:", "More news"):
        assert leaked not in body


def test_titles_and_times_match_truth(two_runs, truth, query):
    stored = {url: (title, published.isoformat()) for url, title, published in
              query("SELECT url, title, published_at FROM articles")}
    for article in _expected(truth, "loaded"):
        title, published = stored[article["url"]]
        assert title == article["title"]
        assert datetime.fromisoformat(published) == datetime.fromisoformat(article["published_at"])


def test_tags_match_truth_and_article_tags(two_runs, truth, query):
    stored = dict(query("SELECT url, tags FROM articles"))
    for article in _expected(truth, "loaded"):
        assert stored[article["url"]] == article["tags"], article["url"]
    pairs = query("SELECT count(*) FROM article_tags")[0][0]
    assert pairs == sum(len(a["tags"]) for a in _expected(truth, "loaded"))



def test_bodies_equal_the_truth_text_for_text(two_runs, demo, query):
    """The whole body, block for block, as the site's truth states it (`?bodies=1`)."""
    truth = get_json(f"{demo.base_url}/__truth__?bodies=1")
    stored = dict(query("SELECT url, body FROM articles"))
    loaded = _expected(truth, "loaded")
    wrong = [(a["url"], stored[a["url"]], a["body"]) for a in loaded
             if stored[a["url"]] != a["body"]]
    assert loaded and not wrong, wrong[:1]

def test_authors_match_truth_from_structured_data_or_the_byline(two_runs, truth, query):
    stored = {url: (authors, layer) for url, authors, layer in query(
        "SELECT url, authors, provenance->>'authors' FROM articles")}
    layers = set()
    for article in _expected(truth, "loaded"):
        authors, layer = stored[article["url"]]
        assert (authors or []) == article["authors"], article["url"]
        layers.add(layer if article["authors"] else None)
    assert layers == {"jsonld", "selector", None}  # pages without JSON-LD use the byline


def test_quarantined_pages_have_reasons(two_runs, truth, query):
    held = {url: reasons for url, reasons in
            query("SELECT url, reasons FROM quarantine WHERE run_id = ?",
                  two_runs["first"]["run_id"])}
    expected = {a["url"]: a["reason"] for a in _expected(truth, "quarantined")}
    assert set(held) == set(expected)
    for url, reason in expected.items():
        assert reason in held[url], url
    kinds = {a["state"] for a in _expected(truth, "quarantined")}
    assert kinds == {s for s, v in truth["states"].items() if v["expected"] == "quarantined"}


def test_not_found_is_recorded_with_its_status(two_runs, truth, query):
    failed = _expected(truth, "failed")
    assert failed and all(a["state"] == "not_found" for a in failed)
    for article in failed:
        rows = query("SELECT status, outcome FROM fetches WHERE url = ? AND run_id = ?",
                     article["url"], two_runs["first"]["run_id"])
        assert rows == [(404, "failed")]


def test_tracking_parameter_duplicate_loaded_once(two_runs, truth, query):
    tracked = truth["tracked_url"]
    plain = tracked.split("?")[0]
    assert "utm_source=" in tracked
    assert query("SELECT count(*) FROM articles WHERE url = ?", plain)[0][0] == 1
    assert query("SELECT count(*) FROM articles WHERE url LIKE '%utm_%'")[0][0] == 0
    assert query("SELECT count(*) FROM fetches WHERE url LIKE '%utm_%'")[0][0] == 0


def test_counts_add_up_and_match_truth(two_runs, truth, query):
    first = two_runs["first"]
    assert first["discovered"] == len(truth["articles"])
    assert first["discovered"] == sum(first[o] for o in OUTCOMES)
    assert first["new"] == len(_expected(truth, "loaded"))
    assert first["quarantined"] == len(_expected(truth, "quarantined"))
    assert first["failed"] == len(_expected(truth, "failed"))
    for run_id, discovered, *outcomes in query(
            "SELECT run_id, discovered, new, updated, unchanged, quarantined, failed "
            "FROM crawl_runs"):
        assert discovered == sum(outcomes), run_id
        per_url = query("SELECT count(*), count(DISTINCT url), count(outcome) FROM fetches "
                        "WHERE run_id = ? AND kind = 'article'", run_id)[0]
        assert per_url == (discovered, discovered, discovered)


def test_second_run_changes_nothing_but_adds_a_run(two_runs, query):
    second = two_runs["second"]
    assert second["mode"] == "incremental"
    assert second["new"] == 0 and second["updated"] == 0
    # Nothing new on the site: no article page is fetched, and at most 2 listing pages.
    assert second["discovered"] == 0 and second["fetched"] == 0
    kinds = dict(query("SELECT kind, count(*) FROM fetches WHERE run_id = ? GROUP BY kind",
                       second["run_id"]))
    assert "article" not in kinds and 1 <= kinds["listing"] <= 2
    after = query("SELECT article_id, content_hash, url, title, body FROM articles "
                  "ORDER BY article_id")
    assert after == two_runs["articles_after_first"]
    runs = query("SELECT run_id, status FROM crawl_runs ORDER BY started_at")
    assert [r[0] for r in runs] == [two_runs["first"]["run_id"], second["run_id"]]
    assert {r[1] for r in runs} == {"completed"}
    assert query("SELECT count(*) FROM article_versions")[0][0] == 0
    # #22: a quiet incremental run is not "out of line with recent runs".
    assert query("SELECT success FROM validation_results WHERE run_id = ? AND expectation = "
                 "'expect_table_row_count_to_be_between'", second["run_id"]) == [(True,)]


def test_validation_results_are_recorded_per_run(two_runs, truth, query):
    rows = query("SELECT expectation, \"column\", severity, success, unexpected_count "
                 "FROM validation_results WHERE run_id = ?", two_runs["first"]["run_id"])
    by_key = {(r[0], r[1]): r for r in rows}
    assert {r[2] for r in rows} == {"critical", "warning"}
    body = by_key[("expect_column_value_lengths_to_be_between", "body")]
    assert body[3] is False and body[4] == sum(
        1 for a in truth["articles"] if a["state"] == "empty_body")
    no_tags = by_key[("expect_column_values_to_be_between", "tag_count")]
    assert no_tags[2] == "warning"
    assert no_tags[4] == sum(1 for a in _expected(truth, "loaded") if not a["tags"]) + sum(
        1 for a in _expected(truth, "quarantined") if not a["tags"])


def test_every_fetch_points_into_the_archive(two_runs, query):
    from pathlib import Path

    from spiders.archive_reader import read_payloads

    run_id = two_runs["first"]["run_id"]
    archive_dir = Path(query("SELECT archive_dir FROM crawl_runs WHERE run_id = ?", run_id)[0][0])
    rows = query("SELECT url, warc_file, warc_offset FROM fetches WHERE run_id = ? "
                 "AND kind = 'article' AND status = 200", run_id)
    offsets = {offset: url for url, _, offset in rows}
    payloads = list(read_payloads(archive_dir / rows[0][1], set(offsets)))
    assert len(payloads) == len(rows)
    assert all(page.body.lstrip().startswith(b"<!DOCTYPE html>") for page in payloads)


def test_a_retried_run_reuses_its_finished_crawl(prefect_backend, tmp_path):
    from flows.crawling import CRAWL_DONE, crawl
    from sites import load_profile

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / CRAWL_DONE).touch()
    (run_dir / "manifest.jsonl").write_text("")
    # The site is unreachable: a second crawl would fail; the finished one is reused.
    profile = load_profile("demo", "http://127.0.0.1:9")
    assert crawl(profile, run_dir, "r1", {"mode": "full"}) == run_dir
    assert not (run_dir / "crawl.log").exists()


def test_generic_site_crawl_through_sitemaps(demo, truth, prefect_backend, tmp_path):
    """`--site generic`: no listing, no selectors; sitemaps find the articles."""
    from conftest import sql_rows

    from flows.pipeline import news_pipeline

    db = tmp_path / "generic.duckdb"
    summary = news_pipeline(site="generic", base_url=demo.base_url, db=str(db),
                            data_dir=str(tmp_path))
    assert summary["discovered"] == len(truth["articles"])
    assert summary["discovered"] == sum(summary[o] for o in OUTCOMES)
    stored = {url: (title, published) for url, title, published in
              sql_rows(db, "SELECT url, title, published_at FROM articles")}
    expected = [a for a in truth["articles"] if a["expected"] == "loaded"]
    agree = sum(1 for a in expected if a["url"] in stored and stored[a["url"]] == (
        a["title"], datetime.fromisoformat(a["published_at"])))
    assert agree / len(expected) >= 0.95
