"""A second site added as data only: a profile for the demo's "newsroom" layout.

The layout has other markup than the espreso mirror and no structured data at all, so every
field must come from the profile's selectors and date rules. The profile is written here, in
a folder named by $NEWSCORPUS_SITES, without touching any Python code.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import get_json, sql_rows
from test_cli import newscorpus

from demosite.corpus import build_site
from demosite.server import start

PROFILE = r'''
name = "newsroom"
title = "The Newsroom (demo layout)"
base_url = "http://127.0.0.1:8765"
timezone = "Europe/Kyiv"
languages = ["en", "uk"]
founded = "2013-11-22"

[listing]
url = "/news?page={page}"
entry = ".teaser"
link = ".teaser__headline a"
time = ".teaser__stamp"
label = ".teaser__badge"
next = ".pager a[rel=next]"

[discovery]
sitemap = "/sitemap.xml"
rss = ""
overlap_minutes = 60

[article]
title = ".story__headline"
subtitle = ".story__standfirst"
date = ".story__stamp"
time = ".story__stamp"
body = ".story__copy"
tags = ".story__topics a"
labels = ".story__badge"
section = ".story__kicker"
image = ".story__picture img"
caption = ".story__picture small"
page_end = "</html>"

[dates]
# "Fri 24 Jan 2025, 10:37", site time
pattern = '(?P<day>\d{1,2})\s+(?P<month>[A-Za-z]{3})\s+(?P<year>\d{4})'
time_pattern = '(?P<hour>\d{1,2}):(?P<minute>\d{2})'
months = [["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]]
weekdays = [["mon", "tue", "wed", "thu", "fri", "sat", "sun"]]

[crawl]
user_agent = "newscorpus-test"
autothrottle = false
download_delay = 0.0
concurrent_requests = 16
max_page_bytes = 5_000_000
download_timeout = 10
retries = 3
retry_backoff = 0.5
retry_after_max = 60
'''


@pytest.fixture(scope="module")
def newsroom(prefect_backend: None, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[dict[str, Any]]:
    from flows.pipeline import news_pipeline

    root = tmp_path_factory.mktemp("newsroom")
    (root / "sites").mkdir()
    (root / "sites" / "newsroom.toml").write_text(PROFILE, encoding="utf-8")
    site = start(build_site().with_layout("newsroom"))
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("NEWSCORPUS_SITES", str(root / "sites"))
    try:
        summary = news_pipeline(site="newsroom", base_url=site.base_url,
                                db=str(root / "c.duckdb"), data_dir=str(root))
        yield {"summary": summary, "db": root / "c.duckdb", "root": root,
               "truth": get_json(f"{site.base_url}/__truth__")}
    finally:
        monkeypatch.undo()
        site.stop()


def test_the_profile_is_listed_where_the_environment_points(newsroom):
    listed = newscorpus("sites", cwd=newsroom["root"],
                        env={"NEWSCORPUS_SITES": str(newsroom["root"] / "sites")})
    assert "newsroom" in listed.stdout and "espreso" in listed.stdout


def test_the_newsroom_crawl_ends_as_truth_says(newsroom):
    summary, truth = newsroom["summary"], newsroom["truth"]
    expected = truth["expected_counts"]
    assert summary["discovered"] == len(truth["articles"])
    assert (summary["new"], summary["quarantined"], summary["failed"]) == (
        expected["loaded"], expected["quarantined"], expected["failed"])
    held = dict(sql_rows(newsroom["db"], "SELECT url, reasons FROM quarantine"))
    for entry in truth["articles"]:
        if entry["expected"] == "quarantined":
            assert entry["reason"] in held[entry["url"]], entry["url"]


def test_newsroom_fields_come_from_the_profile_and_match_truth(newsroom):
    stored = {url: rest for url, *rest in sql_rows(
        newsroom["db"], "SELECT url, title, published_at, tags, section, has_jsonld, "
                        "provenance->>'title', provenance->>'published_at' FROM articles")}
    loaded = [e for e in newsroom["truth"]["articles"] if e["expected"] == "loaded"]
    assert len(stored) == len(loaded)
    for entry in loaded:
        title, published, tags, section, has_jsonld, title_from, date_from = stored[entry["url"]]
        assert title == entry["title"]
        assert published == datetime.fromisoformat(entry["published_at"])
        assert sorted(tags) == sorted(entry["tags"])
        assert section == entry["section"]
        assert not has_jsonld and title_from == "selector" and date_from == "selector"


def test_no_python_file_names_the_newsroom_profile():
    root = Path(__file__).parents[1]
    sources = [p for p in root.glob("*/*.py") if p.parent.name in
               ("flows", "spiders", "sites", "extract", "expectations", "warehouse")]
    assert sources and not [p for p in sources if "newsroom" in p.read_text(encoding="utf-8")]
