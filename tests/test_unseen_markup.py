"""The seed article in markups that no profile's selectors match, as a redesigned or unknown
site would serve it: every field still comes out right, from structured data, the site's date
format in the text, or the page's main content.

The pages are written here, in the kinds a user met: JSON-LD only with other class names,
OpenGraph with `<time>`, no structured data at all (only the visible date line), microdata,
and the "Read also" feed inside `<article>`.
"""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import UTC, datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from conftest import sql_rows
from test_cli import NEWSCORPUS

from demosite.corpus import build_site
from extract.article import extract_article
from extract.clean import clean
from sites import load_profile

SITE = build_site()
SEED = SITE.articles[0]
REVISION = SEED.revision_at(SITE.as_of)
TITLE, LEAD = REVISION.title, REVISION.subtitle
FEED = [a.revision_at(SITE.as_of).title for a in SITE.visible[1:12]]
URL = "http://127.0.0.1:9/eu-supports-zelenskyys-call"


def _paragraphs() -> str:
    parts = [f"<p>{escape(SEED.template_key or '')}</p>"]
    for kind, text in REVISION.blocks:
        parts.append(f"<ul><li>{escape(text)}</li></ul>" if kind == "li"
                     else f"<{kind}>{escape(text)}</{kind}>")
    return "\n".join(parts)


def _feed(tag: str = "aside") -> str:
    entries = "\n".join(f'<li><span class="t">12:{i:02d}</span> <a href="/n-{i}">{escape(t)}</a>'
                        f"</li>" for i, t in enumerate(FEED))
    return (f'<{tag} class="rail"><div>Read also:</div><div>2025, Monday</div>'
            f"<div>10 February</div><ul>{entries}</ul><a href='/news'>More news</a></{tag}>")


def _page(head: str, main: str) -> bytes:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{escape(TITLE)} | Espreso Global</title>{head}</head><body>"
            f"<header><a class='logo' href='/'>Espreso. Global</a><ul class='menu'>"
            f"<li><a href='/news'>News</a></li><li><a href='/war'>War</a></li></ul></header>"
            f"{main}<div class='copyright'>© Espreso</div></body></html>").encode()


_JSONLD = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle",
                      "headline": TITLE, "description": LEAD,
                      "datePublished": "2025-01-24T12:37:00+02:00", "keywords": []})
_DATE_LINE = "<div class='when'><span>24 January, 2025 Friday</span> <span>12:37</span></div>"

MARKUPS = {
    "jsonld": _page(
        f'<script type="application/ld+json">{_JSONLD}</script>',
        f"<div class='post'><h1 class='post-title'>{escape(TITLE)}</h1>"
        f"<p class='post-lead'>{escape(LEAD)}</p><div class='post-body'>{_paragraphs()}</div>"
        f"<div class='post-tags'><span>Tags:</span></div></div>{_feed()}"),
    "opengraph": _page(
        f"<meta property='og:title' content='{escape(TITLE)}'>"
        f"<meta property='og:description' content='{escape(LEAD)}'>",
        f"<main><h1>{escape(TITLE)}</h1><time datetime='2025-01-24T12:37:00+02:00'>"
        f"24 January, 2025 Friday 12:37</time><div class='standfirst'>{escape(LEAD)}</div>"
        f"<section class='copy'>{_paragraphs()}</section><div class='topics'>Tags:</div>"
        f"</main>{_feed('div')}"),
    "plain": _page(
        "",
        f"<div class='story'><div class='story-head'>{escape(TITLE)}</div>{_DATE_LINE}"
        f"<div class='story-lead'>{escape(LEAD)}</div><div class='story-text'>{_paragraphs()}"
        f"</div><div class='story-keywords'>Tags:</div></div>{_feed('div')}"),
    "microdata": _page(
        "",
        f"<article itemscope itemtype='https://schema.org/NewsArticle'>"
        f"<h1 itemprop='headline'>{escape(TITLE)}</h1>"
        f"<meta itemprop='datePublished' content='2025-01-24T12:37:00+02:00'>"
        f"<p itemprop='description'>{escape(LEAD)}</p>"
        f"<div itemprop='articleBody'>{_paragraphs()}</div><p>Tags:</p></article>{_feed()}"),
    "feed_in_article": _page(
        "",
        f"<article class='item'><h1>{escape(TITLE)}</h1>{_DATE_LINE}"
        f"<div class='item-lead'>{escape(LEAD)}</div><div class='item-text'>{_paragraphs()}"
        f"</div><div class='item-tags'>Tags:</div>{_feed('section')}</article>"),
}
# Pages that print their time ("12:37") but state no offset anywhere. The generic profile knows
# no site's zone, so from them it can know the day only; it says so (precision "day").
ZONELESS = {"plain", "feed_in_article"}


def _check(site: str, markup: str, title: str | None, published: datetime | None,
           precision: str | None, tags: list[str], body: str) -> None:
    assert title == TITLE
    if site == "generic" and markup in ZONELESS:
        assert (published, precision) == (datetime(2025, 1, 24, tzinfo=UTC), "day")
    else:
        assert (published, precision) == (datetime(2025, 1, 24, 10, 37, tzinfo=UTC), "time")
    assert tags == []
    assert body.startswith("Bloomberg, citing its sources"), body[:200]
    assert "Issue of trust" in body and "• Former deputy assistant Secretary of State" in body
    for junk in ("client/title.list_title", "Tags:", "Read also", "More news", *FEED):
        assert junk not in body, junk


CASES = [(site, m) for site in ("espreso", "generic") for m in MARKUPS]


@pytest.mark.parametrize(("site", "markup"), CASES)
def test_the_seed_article_in_an_unseen_markup(site, markup):
    profile = load_profile(site, "http://127.0.0.1:9")
    record = extract_article(MARKUPS[markup], URL, profile)
    row = clean([record]).articles.iloc[0]
    _check(site, markup, row["title"], row["published_at"].to_pydatetime(),
           row["published_precision"], list(row["tags"]), row["body"])
    assert record.provenance.get("body") != "selector"


def test_newscorpus_extract_prints_the_cleaned_records(tmp_path):
    for markup, page in MARKUPS.items():
        (tmp_path / f"{markup}.html").write_bytes(page)
    for site in ("espreso", "generic"):
        result = subprocess.run(
            [NEWSCORPUS, "extract", "--site", site, "--url", URL, "--jobs", "1",
             *(str(tmp_path / f"{m}.html") for m in MARKUPS)],
            capture_output=True, text=True, check=False, timeout=120)
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(records) == len(MARKUPS)
        for markup, record in zip(MARKUPS, records, strict=True):
            _check(site, markup, record["title"], datetime.fromisoformat(record["published_at"]),
                   record["published_precision"], record["tags"], record["body"])
            assert record["provenance"]["title"] and record["provenance"]["body"]


def test_a_page_whose_text_block_is_gone_has_no_body():
    """What the main content cannot find is left empty for validation to hold back, never
    filled with the lead or the feed."""
    page = MARKUPS["plain"].replace(_paragraphs().encode(), b"")
    record = extract_article(page, URL, load_profile("espreso", "http://127.0.0.1:9"))
    assert clean([record]).articles.iloc[0]["body"] == ""


class _Pages(BaseHTTPRequestHandler):
    """A small site of the seed article in the unseen markups: an unknown listing markup, a
    sitemap with some of the articles and an RSS feed with the others."""

    pages: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def do_GET(self) -> None:
        kind, body = self.pages.get(self.path, ("text/plain", b"not found"))
        self.send_response(200 if self.path in self.pages else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(markups: list[str]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    paths = [f"/seed-{m.replace('_', '-')}" for m in markups]
    in_sitemap, in_feed = paths[: len(paths) // 2 + 1], paths[len(paths) // 2 + 1:]
    sitemap = "".join(f"<url><loc>{base}{p}</loc></url>" for p in in_sitemap)
    feed = "".join(f"<item><title>{escape(TITLE)}</title><link>{base}{p}</link>"
                   f"<pubDate>Fri, 24 Jan 2025 10:37:00 +0000</pubDate></item>" for p in in_feed)
    _Pages.pages = {
        **{p: ("text/html; charset=utf-8", MARKUPS[m]) for p, m in zip(paths, markups,
                                                                        strict=True)},
        "/news?page=1": ("text/html", _page("", "<ul class='stream'>" + "".join(
            f"<li class='stream-item'><a href='{p}'>{escape(TITLE)}</a></li>" for p in paths)
            + "</ul>")),
        "/sitemap.xml": ("application/xml", (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{sitemap}</urlset>").encode()),
        "/rss": ("application/rss+xml", f'<?xml version="1.0"?><rss version="2.0"><channel>'
                                        f"{feed}</channel></rss>".encode()),
    }
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, base


@pytest.mark.parametrize("site", ["espreso", "generic"])
def test_a_crawl_of_a_site_in_unseen_markups_loads_its_articles(site, prefect_backend,
                                                                 tmp_path):
    from flows.pipeline import news_pipeline

    markups = list(MARKUPS)
    server, base = _serve(markups)
    try:
        summary = news_pipeline(site=site, base_url=base, db=str(tmp_path / "corpus.duckdb"),
                                data_dir=str(tmp_path))
    finally:
        server.shutdown()
    assert summary["new"] == len(markups) and summary["quarantined"] == 0, summary
    in_sitemap = len(markups) // 2 + 1
    assert summary["discovered_by"] == {"sitemap": in_sitemap, "rss": len(markups) - in_sitemap}
    if site == "espreso":  # it has a listing, whose markup it does not know
        assert any("the listing found nothing" in n for n in summary["notices"])
    stored = sql_rows(tmp_path / "corpus.duckdb",
                      "SELECT url, title, published_at, published_precision, tags, body "
                      "FROM articles")
    assert len(stored) == len(markups)
    for url, title, published, precision, tags, body in stored:
        markup = url.rsplit("/seed-", 1)[1].replace("-", "_")
        _check(site, markup, title, published, precision, list(tags), body)
    # A day without its time is loaded, counted by day and not by hour, and warned of.
    day_only = len(ZONELESS) if site == "generic" else 0
    assert sql_rows(tmp_path / "corpus.duckdb", "SELECT sum(articles) FROM articles_per_hour"
                    ) == [(len(markups) - day_only,)]
    assert sql_rows(tmp_path / "corpus.duckdb",
                    "SELECT success, unexpected_count FROM validation_results "
                    "WHERE \"column\" = 'published_precision'") == [(day_only == 0, day_only)]
