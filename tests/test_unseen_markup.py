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
from datetime import UTC, datetime
from html import escape

import pytest
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
# The generic profile knows no site's time zone: it dates only pages that state an offset.
GENERIC_MARKUPS = ("jsonld", "opengraph", "microdata")


def _check(title: str | None, published: datetime | None, tags: list[str], body: str) -> None:
    assert title == TITLE
    assert published == datetime(2025, 1, 24, 10, 37, tzinfo=UTC)
    assert tags == []
    assert body.startswith("Bloomberg, citing its sources"), body[:200]
    assert "Issue of trust" in body and "• Former deputy assistant Secretary of State" in body
    for junk in ("client/title.list_title", "Tags:", "Read also", "More news", *FEED):
        assert junk not in body, junk


CASES = [("espreso", m) for m in MARKUPS] + [("generic", m) for m in GENERIC_MARKUPS]


@pytest.mark.parametrize(("site", "markup"), CASES)
def test_the_seed_article_in_an_unseen_markup(site, markup):
    profile = load_profile(site, "http://127.0.0.1:9")
    record = extract_article(MARKUPS[markup], URL, profile)
    row = clean([record]).articles.iloc[0]
    _check(row["title"], row["published_at"].to_pydatetime(), list(row["tags"]), row["body"])
    assert record.provenance.get("body") != "selector"


def test_newscorpus_extract_prints_the_cleaned_records(tmp_path):
    for markup, page in MARKUPS.items():
        (tmp_path / f"{markup}.html").write_bytes(page)
    for site, markups in (("espreso", list(MARKUPS)), ("generic", list(GENERIC_MARKUPS))):
        result = subprocess.run(
            [NEWSCORPUS, "extract", "--site", site, "--url", URL, "--jobs", "1",
             *(str(tmp_path / f"{m}.html") for m in markups)],
            capture_output=True, text=True, check=False, timeout=120)
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(records) == len(markups)
        for record in records:
            _check(record["title"], datetime.fromisoformat(record["published_at"]),
                   record["tags"], record["body"])
            assert record["provenance"]["title"] and record["provenance"]["body"]


def test_a_page_whose_text_block_is_gone_has_no_body():
    """What the main content cannot find is left empty for validation to hold back, never
    filled with the lead or the feed."""
    page = MARKUPS["plain"].replace(_paragraphs().encode(), b"")
    record = extract_article(page, URL, load_profile("espreso", "http://127.0.0.1:9"))
    assert clean([record]).articles.iloc[0]["body"] == ""
