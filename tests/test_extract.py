"""Extraction and cleaning as pure functions, on pages the demo site renders."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd
import pytest

from demosite import render
from demosite.corpus import build_site
from extract.article import extract_article
from extract.clean import clean
from sites import load_profile
from sites.dates import parse_date_line
from sites.urls import article_id, canonicalize, on_site

BASE = "http://127.0.0.1:9"
PROFILE = load_profile("demo", BASE)
SITE = build_site()


def page(index: int, **changes) -> tuple[bytes, str]:
    article = replace(next(a for a in SITE.articles if a.index == index), **changes)
    return render.article(SITE, article, BASE).encode(), f"{BASE}/{article.slug}"


def test_seed_page_fields():
    record = extract_article(*page(0), PROFILE)
    assert record.title.startswith("EU supports Zelenskyy’s call")
    assert record.published_at == datetime(2025, 1, 24, 10, 37, tzinfo=UTC)
    assert record.tags == [] and record.has_jsonld
    assert record.body.splitlines()[0] == "client/title.list_title"  # cleaning drops it
    assert "Read also" not in record.body and "More news" not in record.body
    assert record.provenance["published_at"] == "jsonld"


def test_layers_agree_without_jsonld_and_opengraph():
    with_ld = extract_article(*page(0), PROFILE)
    without = extract_article(*page(0, jsonld=False, opengraph=False), PROFILE)
    assert without.provenance["published_at"] == "selector"
    assert without.provenance["title"] == "selector"
    for field in ("title", "subtitle", "published_at", "body", "section"):
        assert getattr(without, field) == getattr(with_ld, field), field


def test_ukrainian_date_line_in_kyiv_time():
    rules = PROFILE.dates
    parsed = parse_date_line("24 січня, 2025 П'ятниця", "12:37", rules, PROFILE.tz)
    assert parsed == datetime(2025, 1, 24, 10, 37, tzinfo=UTC)
    summer = parse_date_line("1 July, 2024 Monday", "09:05", rules, PROFILE.tz)
    assert summer == datetime(2024, 7, 1, 6, 5, tzinfo=UTC)  # EEST, UTC+3
    assert parse_date_line("31 February, 2025", "10:00", rules, PROFILE.tz) is None
    assert parse_date_line("no date here", None, rules, PROFILE.tz) is None


def test_ukrainian_article_without_structured_data():
    index = next(a.index for a in SITE.articles if a.lang == "uk")
    record = extract_article(*page(index, jsonld=False, opengraph=False), PROFILE)
    assert record.lang == "uk"
    assert record.published_at == next(
        a.published for a in SITE.articles if a.index == index).astimezone(UTC)


def test_missing_date_and_empty_body_stay_empty():
    ok = next(a.index for a in SITE.articles if a.state == "ok" and a.index > 40)
    no_date = extract_article(*page(ok, state="missing_date", jsonld=False, opengraph=False),
                              PROFILE)
    assert no_date.published_at is None
    empty = extract_article(*page(ok, state="empty_body"), PROFILE)
    assert empty.body == ""


def test_clean_normalizes_and_derives():
    record = extract_article(*page(0), PROFILE)
    messy = replace(record, url=record.url + "?utm_source=x#top", title="  A\u00a0 title ",
                    tags=["Donald Trump", "donald-trump", "NATO"])
    batch = clean([record, messy])
    assert len(batch.articles) == 1 and len(batch.duplicates) == 1
    row = batch.articles.iloc[0]
    assert not row["body"].startswith("client/") and "\u00a0" not in row["body"]
    assert row["article_id"] == article_id(row["canonical_url"])
    assert row["word_count"] == len(row["body"].split())
    dup = batch.duplicates.iloc[0]
    assert dup["title"] == "A title" and dup["url"] == record.url
    assert dup["tags"] == ["donald-trump", "nato"]
    assert dup["content_hash"] != row["content_hash"]


def test_clean_empties_a_template_key_line_wherever_it_stands_and_keeps_one_in_prose():
    record = extract_article(*page(0), PROFILE)
    body = ("client/title.list_title\nFirst\u00a0 paragraph.\n\nclient/news.read_more \n\n\n\n"
            "Its file is client/report.pdf here.\u2009\u2009Second.\r\n common/article.share_title")
    row = clean([replace(record, body=body)]).articles.iloc[0]
    assert row["body"] == "First paragraph.\n\nIts file is client/report.pdf here. Second."


def test_content_hash_ignores_labels_but_not_text():
    record = extract_article(*page(0), PROFILE)
    same = clean([record]).articles.iloc[0]["content_hash"]
    relabeled = clean([replace(record, labels=["Updated"])]).articles.iloc[0]["content_hash"]
    edited = clean([replace(record, body=record.body + "\n\nA new paragraph.")])
    assert same == relabeled
    assert edited.articles.iloc[0]["content_hash"] != same


def test_canonical_urls():
    assert canonicalize("/a?utm_source=t&utm_medium=s&id=2#x", "HTTP://Example.COM/b") == \
        "http://example.com/a?id=2"
    assert canonicalize("http://example.com/a?fbclid=1") == "http://example.com/a"
    assert on_site("http://sub.example.com/x", "example.com")
    assert not on_site("http://example.com.evil.net/x", "example.com")


def test_extract_command_on_html_and_warc_files(tmp_path):
    import gzip
    import io
    import json
    import subprocess

    from test_cli import NEWSCORPUS
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    body, url = page(0)
    (tmp_path / "seed.html.gz").write_bytes(gzip.compress(body))
    with open(tmp_path / "pages.warc.gz", "wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for payload, target, kind in ((body, url, "text/html; charset=utf-8"),
                                      (b"User-agent: *", f"{BASE}/robots.txt", "text/plain")):
            writer.write_record(writer.create_warc_record(
                target, "response", payload=io.BytesIO(payload),
                http_headers=StatusAndHeaders("200 OK", [("Content-Type", kind)],
                                              protocol="HTTP/1.1")))
    result = subprocess.run([NEWSCORPUS, "extract", "--site", "demo", "--url", url,
                             str(tmp_path / "seed.html.gz"), str(tmp_path / "pages.warc.gz")],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 2 and {r["url"] for r in rows} == {url}
    for row in rows:
        assert set(row) == {"url", "title", "subtitle", "published_at",
                            "published_precision", "modified_at", "body",
                            "tags", "authors", "lang", "section", "site", "provenance",
                            "quarantine"}
        assert row["quarantine"] == []  # a run would load it
        assert row["title"].startswith("EU supports Zelenskyy’s call")
        # As the corpus stores it: cleaned (no template key), in UTC.
        assert row["published_at"] == "2025-01-24T10:37:00+00:00"
        assert row["body"].startswith("Bloomberg, citing its sources")
        assert row["provenance"]["published_at"] == "jsonld"
    missing = subprocess.run([NEWSCORPUS, "extract", str(tmp_path / "nope.html")],
                             capture_output=True, text=True, check=False, timeout=60)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_generic_path_agrees_with_the_demo_profile():
    """No selectors at all: JSON-LD, meta, htmldate and trafilatura against the profile."""
    import re
    from collections import Counter

    generic = load_profile("generic")

    def shingles(text: str) -> Counter:
        words = re.findall(r"\w+", text)
        return Counter(tuple(words[i:i + 4]) for i in range(max(0, len(words) - 3)))

    titles = times = 0
    f1s = []
    pages = [a.index for a in SITE.visible if a.state == "ok"]
    for index in pages:
        html, url = page(index)
        ours, theirs = extract_article(html, url, PROFILE), extract_article(html, url, generic)
        titles += ours.title == theirs.title
        times += ours.published_at == theirs.published_at
        want, got = shingles(ours.body), shingles(theirs.body)
        hits = sum((want & got).values())
        precision, recall = hits / max(1, sum(got.values())), hits / max(1, sum(want.values()))
        f1s.append(2 * precision * recall / (precision + recall) if hits else 0.0)
    assert titles / len(pages) >= 0.95 and times / len(pages) >= 0.95
    assert sum(f1s) / len(f1s) >= 0.95


@pytest.mark.parametrize(("markup", "expected", "layer"), [
    ('<script type="application/ld+json">{"@type": "NewsArticle", "author": [{"@type": '
     '"Person", "name": "Ann Lee"}, "Bo Yang", {"name": "Ann Lee"}]}</script>',
     ["Ann Lee", "Bo Yang"], "jsonld"),
    ('<meta name="author" content="By Ann Lee"><meta property="article:author" '
     'content="https://facebook.com/annlee">', ["Ann Lee"], "meta"),
    ('<a rel="author" href="/people/bo">Bo Yang</a>', ["Bo Yang"], "generic"),
    ("<p>No byline.</p>", [], None),
])
def test_authors_come_from_the_first_layer_that_names_them(markup, expected, layer):
    html = f"<html><head>{markup}</head><body><h1>T</h1>{markup}</body></html>".encode()
    record = extract_article(html, f"{BASE}/a", load_profile("generic"))
    assert record.authors == expected
    assert record.provenance.get("authors") == layer


@pytest.mark.parametrize(("markup", "layer"), [
    ('<div itemscope itemtype="https://schema.org/NewsArticle"><h2 itemprop="headline">Grid '
     'repairs go on</h2><time itemprop="datePublished" datetime="2025-01-24T12:37:00+02:00">'
     '24 Jan</time><span itemprop="author" itemscope><span itemprop="name">Ann Lee</span>'
     '</span></div>', "microdata"),
    ('<meta name="DC.title" content="Grid repairs go on"><meta name="dcterms.created" '
     'content="2025-01-24T12:37:00+02:00"><meta name="DC.creator" content="Ann Lee">', "meta"),
])
def test_microdata_and_dublin_core_give_title_time_and_authors(markup, layer):
    html = f"<html><head>{markup}</head><body>{markup}<p>Text.</p></body></html>".encode()
    record = extract_article(html, f"{BASE}/a", load_profile("generic"))
    assert record.title == "Grid repairs go on"
    assert record.published_at == datetime(2025, 1, 24, 10, 37, tzinfo=UTC)
    assert record.authors == ["Ann Lee"]
    assert record.provenance["title"] == record.provenance["authors"] == layer


@pytest.mark.parametrize(("around", "expected", "layer"), [
    # Printed under the headline, in formats and languages the profile's pattern does not know.
    ("<h1>Grid repairs go on</h1><p>12.01.2022</p>", "2022-01-12", "textdate"),
    ("<h1>Grid repairs go on</h1><span>Stand: 19.10.2019 11:05 Uhr</span>", "2019-10-19",
     "textdate"),
    ("<h1>Grid repairs go on</h1><div>January 19, 2020 /  12:25 PM</div>", "2020-01-19",
     "textdate"),
    # Just above it; and set in several elements, so the headline is several text lines.
    ("<div>06.11.2023</div><h1><span>Grid</span> repairs go on</h1>", "2023-11-06", "textdate"),
    # A date line far below, in a feed: not the article's. htmldate's search has the last word.
    ("<h1>Grid repairs go on</h1>" + "<p>x</p>" * 20 + "<p>01.02.2021</p>", None, None),
])
def test_generic_dates_come_from_the_line_by_the_headline(around, expected, layer):
    text = "<p>" + "The crews worked through the night to restore power to the city. " * 3 + \
        "</p>"
    html = (f'<html><body><main>{around}<div class="text">{text}</div></main>'
            '<footer>© 01.01.2020</footer></body></html>').encode()
    record = extract_article(html, f"{BASE}/a", load_profile("generic"))
    if layer:
        assert record.published_at.date().isoformat() == expected
        assert record.provenance["published_at"] == layer
    else:
        assert record.provenance.get("published_at") != "textdate"


@pytest.mark.parametrize(("title", "printed", "expected"), [
    # no site name declared: the part the page prints, a dash of the headline's own kept
    ("Grid repairs go on — report | Daily Planet", "Grid repairs go on — report",
     "Grid repairs go on — report"),
    # a section's name printed in the menu is not taken for the headline
    ("Grid repairs go on - News - Daily Planet", "Grid repairs go on", "Grid repairs go on"),
    # nothing printed: <title> as it is
    ("Grid repairs go on - Daily Planet", None, "Grid repairs go on - Daily Planet"),
])
def test_a_title_tag_loses_the_site_name_the_page_does_not_print(title, printed, expected):
    headline = f"<div class='head'>{printed}</div>" if printed else ""
    html = (f"<html><head><title>{title}</title></head><body><ul><li>News</li></ul>"
            f"{headline}<div>{'The crews worked through the night. ' * 20}</div>"
            "</body></html>").encode()
    record = extract_article(html, f"{BASE}/a", load_profile("generic"))
    assert (record.title, record.provenance["title"]) == (expected, "generic")


def test_a_day_alone_is_loaded_as_a_day():
    """The generic profile's day-only layers give a day where the page prints no time and
    states no offset: its midnight in the site's zone, marked as a day, not as a time."""
    html = (b"<html><body><h1>Grid repairs go on</h1><p>12.01.2022</p><p>" + b"Text. " * 40
            + b"</p></body></html>")
    record = extract_article(html, f"{BASE}/a", load_profile("generic"))
    assert (record.published_at, record.published_precision) == \
        (datetime(2022, 1, 12, tzinfo=UTC), "day")


def test_a_day_without_its_time_is_opt_in():
    """The espreso site prints times: a page whose date it cannot read is quarantined, not
    loaded at midnight by the day-only layers."""
    html = (b"<html><body><h1>Grid repairs go on</h1><p>12.01.2022</p><p>" + b"Text. " * 40
            + b"</p></body></html>")
    assert extract_article(html, f"{BASE}/a", PROFILE).published_at is None


def test_the_layers_a_profile_may_name_are_those_extraction_tries(monkeypatch):
    """`sites.profile.LAYERS` checks profiles when they load; it must list each field's layers
    as extraction offers them, in the same (default) order."""
    from extract.article import Page
    from sites.profile import LAYERS

    offered = {}
    choose = Page.choose

    def spy(self, name, *layers):
        offered[name] = tuple(layer for layer, _ in layers)
        return choose(self, name, *layers)

    monkeypatch.setattr(Page, "choose", spy)
    extract_article(*page(0), PROFILE)
    assert offered == LAYERS


def test_a_misspelt_layer_is_one_error_naming_the_profile(tmp_path, monkeypatch):
    from sites.profile import ProfileError

    monkeypatch.setenv("NEWSCORPUS_SITES", str(tmp_path))
    (tmp_path / "mine.toml").write_text('extends = "generic"\n[article]\n'
                                        'body_layers = ["trafilatur"]\n')
    with pytest.raises(ProfileError, match=r"mine\.toml: \[article\] body_layers: unknown "
                                           r"layer 'trafilatur' \(one of jsonld,"):
        load_profile("mine")
    (tmp_path / "mine.toml").write_text('extends = "generic"\n[article]\nbdy_layers = []\n')
    with pytest.raises(ProfileError, match=r"\[article\] bdy_layers: unknown key"):
        load_profile("mine")


def test_generic_text_leaves_out_feed_entries_buttons_and_the_headline():
    """trafilatura keeps a link's text as text; a paragraph that is a link whole is a feed
    entry or a button, unless it reads as an address (a cited source)."""
    prose = ["The crews worked through the night to restore power to the eastern districts.",
             "Officials said repairs to the substation would take at least another week.",
             "By morning most homes had light again, though heating was still patchy."]
    html = ("<html><body><h1>Grid repairs go on</h1><ul><li><a href='/print'>Print Article</a>"
            "</li></ul><article>" + "".join(f"<p>{p}</p>" for p in prose[:2])
            + "<p>READ MORE: <a href='/b'>Storm cuts power to half the city</a></p>"
            "<p><a href='/c'>Ministers promise faster repairs after outage</a> [INSIGHT]</p>"
            f"<p>{prose[2]}</p><p>Source: <a href='https://example.org/report'>"
            "https://example.org/report</a></p></article></body></html>").encode()
    record = extract_article(html, f"{BASE}/a", load_profile("generic"))
    assert record.provenance["body"] == "trafilatura"
    assert record.body.split("\n\n") == [*prose, "Source: https://example.org/report"]


def test_the_headline_is_placed_by_its_element_not_by_a_repeat_of_its_text():
    """A ticker above repeats the headline with an older date; the date line under the real
    headline wins. A page with no `<h1>` has its headline in the `<h2>` that reads as its
    declared title."""
    text = "<p>" + "The crews worked through the night to restore power to the city. " * 3 + \
        "</p>"
    ticker = "<div><span>Grid repairs go on</span><span>01.03.2021</span></div>"
    html = (f"<html><body>{ticker}<main><h1>Grid repairs go on</h1><p>12.01.2022</p>"
            f'<div class="text">{text}</div></main></body></html>').encode()
    record = extract_article(html, f"{BASE}/a", load_profile("generic"))
    assert record.published_at.date().isoformat() == "2022-01-12"
    html = ('<html><head><meta property="og:title" content="Grid &#039;repairs&#039; go on">'
            f"</head><body>{ticker}<main><h2>Grid 'repairs' go on</h2><p>12.01.2022</p>"
            f'<div class="text">{text}</div></main></body></html>').encode()
    record = extract_article(html, f"{BASE}/a", load_profile("generic"))
    assert record.published_at.date().isoformat() == "2022-01-12"
    assert record.provenance["published_at"] == "textdate"


def test_rows_written_to_a_part_read_back_as_cleaning_made_them(tmp_path):
    """What the load and the quarantine records read is what cleaning made: missing text
    stays None (not NaN, which a JSON record cannot hold), lists stay lists, provenance a
    dict, times the same instants; and a selection reads back in the batch's order."""
    import json

    from extract.clean import clean_rows
    from extract.parts import Parts, write_part

    records = [extract_article(*page(index), PROFILE) for index in range(6)]
    records[1] = replace(records[1], title=None, published_at=None, modified_at=None, tags=[],
                         authors=[], provenance={})
    rows = clean_rows(records)
    first = write_part(rows.iloc[:4], tmp_path / "a.parquet")
    second = write_part(rows.iloc[4:].reset_index(drop=True), tmp_path / "b.parquet")
    parts = Parts(pd.concat([second, first], ignore_index=True))  # another order than written
    back = parts.read()
    expected = pd.concat([rows.iloc[4:], rows.iloc[:4]], ignore_index=True)
    assert list(back.columns) == list(rows.columns)

    def values(frame: pd.DataFrame) -> str:  # any missing value as None
        return json.dumps(frame.astype(object).where(frame.notna(), None).to_dict("records"),
                          default=str)
    assert values(back) == values(expected)
    assert "NaN" not in json.dumps(back.to_dict("records"), default=str)
    assert back.loc[3, "title"] is None and back.loc[3, "tags"] == []  # records[1]
    chosen = Parts(parts.keys[parts.keys["article_id"].isin(rows["article_id"].iloc[[0, 5]])])
    assert list(chosen.read()["article_id"]) == list(rows["article_id"].iloc[[5, 0]])
    assert chosen.files == [str(tmp_path / "b.parquet"), str(tmp_path / "a.parquet")]
    assert Parts.empty().read().columns.tolist() == rows.columns.tolist()
