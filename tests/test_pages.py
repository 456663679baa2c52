"""The pages people look at (the report and the data docs), in a real headless browser:
Debian's Chromium, driven by Playwright, at 1400 px. Each page loads with no console error
and no request off the machine, and the report's numbers are SQL's over the corpus.

Screenshots go to the test's folder; with NEWSCORPUS_SCREENSHOTS=docs/img they also go there
(that is how docs/img/report.png and docs/img/data-docs.png are made).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import sql_rows
from test_cli import newscorpus

CHROMIUM = shutil.which("chromium")  # Debian's package; .ci/run installs it where missing


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Debian's chromium is not installed (.ci/run installs it)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _open(browser: Any, page_file: Path, shot: Path) -> tuple[Any, list[str], list[str]]:
    """The page at 1400 px, with the console errors and the off-machine requests it made;
    a full-page screenshot is saved as `shot` (and under $NEWSCORPUS_SCREENSHOTS)."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    remote: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "about:"))
            else remote.append(r.url))
    page.goto(page_file.resolve().as_uri(), wait_until="load")
    page.screenshot(path=str(shot), full_page=True)
    if folder := os.environ.get("NEWSCORPUS_SCREENSHOTS"):
        shutil.copy(shot, Path(folder) / shot.name)
    return page, errors, remote


def _table(page: Any, chart: str) -> list[list[str]]:
    return page.evaluate("""chart => [...document.querySelector(`table[data-chart="${chart}"]`)
        .rows].slice(1).map(row => [...row.cells].map(cell => cell.textContent.trim()))""",
                         chart)


def test_the_report_in_a_browser_shows_the_corpus_numbers(two_runs, browser, tmp_path):
    db = two_runs["db"]
    out = tmp_path / "report.html"
    result = newscorpus("report", "--db", str(db), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page, errors, remote = _open(browser, out, tmp_path / "report.png")
    assert errors == [] and remote == []
    assert page.evaluate("document.querySelectorAll('svg').length") == 5
    # Each chart's numbers, against SQL written here, not the report's own queries.
    per_day = sql_rows(db, "SELECT strftime(CAST(published_at AT TIME ZONE 'Europe/Kyiv' AS "
                           "DATE), '%Y-%m-%d'), count(*) FROM articles GROUP BY 1 ORDER BY 1")
    assert _table(page, "per_day") == [[d, str(n)] for d, n in per_day]
    tags = sql_rows(db, "SELECT tag, count(*) FROM article_tags GROUP BY tag "
                        "ORDER BY 2 DESC, tag LIMIT 10")
    assert _table(page, "top_tags") == [[t, str(n)] for t, n in tags]
    runs = sql_rows(db, "SELECT run_id, discovered, round(100.0 * quarantined / discovered, 2) "
                        "FROM crawl_runs WHERE status = 'completed' AND discovered > 0 "
                        "ORDER BY started_at")
    assert _table(page, "quarantine_rate") == [[r, str(d), str(q)] for r, d, q in runs]
    assert len(runs) == 1  # the second run discovered nothing: no bar of 0 % for it
    (articles,), = sql_rows(db, "SELECT count(*) FROM articles")
    header = page.inner_text("dl")
    assert f"Articles\t{articles}" in header or f"Articles\n{articles}" in header
    assert "Europe/Kyiv" in page.inner_text("p.muted")  # one time zone, said once
    # Nothing overflows the page at 1400 px: every chart fits its column.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400


def test_the_data_docs_in_a_browser_link_their_examples(two_runs, browser, tmp_path):
    db = two_runs["db"]
    result = newscorpus("docs", "--db", str(db), "--out", str(tmp_path / "docs"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page, errors, remote = _open(browser, tmp_path / "docs" / "index.html",
                                 tmp_path / "data-docs.png")
    assert errors == [] and remote == []
    text = page.inner_text("body")
    assert two_runs["first"]["run_id"] in text and two_runs["second"]["run_id"] in text
    links = page.evaluate("[...document.querySelectorAll('a[href^=http]')].map(a => a.href)")
    held = {url for (url,) in sql_rows(db, "SELECT url FROM fetches")}
    assert links and set(links) <= held  # every example links to a page the run fetched
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
