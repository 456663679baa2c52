"""The analytics layer on the demo corpus: views, full-text search, exports, the report.

Expected numbers are computed here from the demo site's /__truth__, not read back from SQL.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
from conftest import sql_rows as rows
from test_cli import newscorpus
from test_quality import _Links

from reports.export import export
from reports.report import build as build_report
from reports.search import search

KYIV = ZoneInfo("Europe/Kyiv")



def loaded(truth: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in truth["articles"] if a["expected"] == "loaded"]


def kyiv(article: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(article["published_at"]).astimezone(KYIV)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def test_counts_per_day_week_and_hour(two_runs, truth):
    db, articles = two_runs["db"], loaded(truth)
    per_day = dict(rows(db, "SELECT day, sum(articles) FROM articles_per_day GROUP BY day"))
    assert per_day == Counter(kyiv(a).date() for a in articles)
    per_week = {(w, lang): n for w, lang, n in rows(
        db, "SELECT week, lang, sum(articles) FROM articles_per_week GROUP BY ALL")}
    assert per_week == Counter((monday(kyiv(a).date()), a["lang"]) for a in articles)
    per_section = dict(rows(db, "SELECT section, sum(articles) FROM articles_per_week "
                                "GROUP BY section"))
    assert per_section == Counter(a["section"] for a in articles)
    per_hour = dict(rows(db, "SELECT hour, articles FROM articles_per_hour"))
    assert per_hour == Counter(kyiv(a).hour for a in articles)


def test_labels_per_week(two_runs, truth):
    got = {(w, label): n for w, label, n in rows(two_runs["db"],
                                                "SELECT * FROM articles_per_label")}
    assert got == Counter((monday(kyiv(a).date()), label)
                          for a in loaded(truth) for label in a["labels"])
    assert {label for _, label in got} >= {"Exclusive", "Updated"}


def test_tags_per_week_and_top_tags(two_runs, truth):
    got = {(w, t): (n, rank) for w, t, n, rank in rows(two_runs["db"],
                                                      "SELECT * FROM tags_per_week")}
    expected = Counter((monday(kyiv(a).date()), t) for a in loaded(truth) for t in a["tags"])
    assert {k: n for k, (n, _) in got.items()} == expected
    for (week, tag), (n, rank) in got.items():
        best = max(c for (w, _), c in expected.items() if w == week)
        assert (rank == 1) == (n == best), (week, tag)


def test_rising_tags(two_runs, truth):
    articles = loaded(truth)
    newest = max(datetime.fromisoformat(a["published_at"]) for a in articles)
    last, previous = Counter(), Counter()
    for a in articles:
        age = newest - datetime.fromisoformat(a["published_at"])
        for tag in a["tags"]:
            if age < timedelta(days=7):
                last[tag] += 1
            elif age < timedelta(days=14):
                previous[tag] += 1
    expected = {t: (last[t], previous[t]) for t in last if last[t] > previous[t]}
    got = {t: (n, p) for t, n, p, _ in rows(two_runs["db"], "SELECT * FROM rising_tags")}
    assert got == expected and got


def test_sources_cited(two_runs, truth):
    got = set(rows(two_runs["db"], "SELECT a.url, s.source FROM sources s "
                                   "JOIN articles a USING (article_id)"))
    expected = {(a["url"], s) for a in loaded(truth) for s in a["sources"]}
    assert got == expected
    seed = [s for url, s in got if "eu-supports-zelenskyy" in url]
    assert seed == ["Bloomberg"]


def test_run_health(two_runs, truth):
    (rate, missing_tags), = rows(two_runs["db"], "SELECT quarantine_rate, missing_tags "
                                                 "FROM run_health WHERE run_id = ?",
                                 two_runs["first"]["run_id"])
    counts = truth["expected_counts"]
    assert rate == counts["quarantined"] / len(truth["articles"])
    assert missing_tags == sum(1 for a in loaded(truth) if not a["tags"]) / len(loaded(truth))


def test_search_ranks_the_seed_article_first(two_runs):
    hits = search(two_runs["db"], "peacekeepers")
    assert hits[0]["title"].startswith("EU supports Zelenskyy’s call for U.S. peacekeepers")
    assert "peacekeeping" in hits[0]["snippet"]
    assert search(two_runs["db"], "peacekeepers", since=date(2025, 2, 1))[0]["title"] != \
        hits[0]["title"]
    cli = newscorpus("search", "peacekeepers", "--limit", "3", "--db", str(two_runs["db"]),
                     cwd=two_runs["root"])
    assert cli.returncode == 0 and cli.stdout.splitlines()[0].startswith("1. EU supports")


def test_parquet_export_reads_back_equal(two_runs, tmp_path):
    target, count = export(two_runs["db"], tmp_path, "parquet")
    assert count == rows(two_runs["db"], "SELECT count(*) FROM articles")[0][0]
    partitions = sorted(p.name for p in target.iterdir())
    assert partitions[0].startswith("published_date=2025-01")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"ATTACH '{two_runs['db']}' AS corpus (READ_ONLY)")
        exported = f"read_parquet('{target}/*/*.parquet', hive_partitioning = true)"
        differ = con.execute(
            f"SELECT count(*) FROM ((SELECT * EXCLUDE (published_date) FROM {exported} "
            f"EXCEPT ALL SELECT * FROM corpus.articles) UNION ALL (SELECT * FROM "
            f"corpus.articles EXCEPT ALL SELECT * EXCLUDE (published_date) FROM {exported}))"
        ).fetchone()[0]
    finally:
        con.close()
    assert differ == 0


def test_csv_and_jsonl_exports_with_a_window(two_runs, tmp_path):
    target, count = export(two_runs["db"], tmp_path, "jsonl", date(2025, 2, 1),
                           date(2025, 2, 7))
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == count > 0
    expected = rows(two_runs["db"], "SELECT count(*) FROM articles WHERE published_at AT TIME "
                                    "ZONE 'Europe/Kyiv' >= '2025-02-01' AND published_at AT "
                                    "TIME ZONE 'Europe/Kyiv' < '2025-02-08'")[0][0]
    assert count == expected
    csv, _ = export(two_runs["db"], tmp_path, "csv")
    assert csv.read_text(encoding="utf-8").startswith("article_id,url,")


def test_report_is_self_contained_with_charts(two_runs, tmp_path):
    page = build_report(two_runs["db"], tmp_path / "report.html")
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") == 5
    # #22: the weekly chart ended in a partial week that read as a collapse. The weeks the
    # corpus does not cover whole (Monday to Sunday, site time) are counted in its title.
    first, last = rows(two_runs["db"], "SELECT min(published_local)::DATE, "
                                       "max(published_local)::DATE FROM articles_local")[0]
    partial = (first.weekday() != 0) + (last.weekday() != 6)
    assert partial and f"(dashed: partial week, {partial})" in html
    assert "Quarantine rate per run" in html  # charts' text is text, not outlines
    links = _Links()
    links.feed(html)
    assert links.loads == [] and "<script" not in html.lower()


def test_partial_weeks_are_the_ends_the_corpus_does_not_cover_whole():
    import pandas as pd

    from reports.report import partial_weeks

    weeks = pd.DatetimeIndex(["2025-01-06", "2025-01-13", "2025-01-20"])  # Mondays
    day = pd.Timestamp
    assert partial_weeks(weeks, day("2025-01-06"), day("2025-01-26")) == []
    assert partial_weeks(weeks, day("2025-01-08"), day("2025-01-26")) == [weeks[0]]
    assert partial_weeks(weeks, day("2025-01-06"), day("2025-01-22")) == [weeks[-1]]
    one = pd.DatetimeIndex(["2025-01-06"])
    assert partial_weeks(one, day("2025-01-07"), day("2025-01-08")) == [one[0]]
