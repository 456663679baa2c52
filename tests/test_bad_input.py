"""Bad input never crashes the pure parts: random HTML, random dates, random URLs.

Property-based (hypothesis): whatever the input, the extractor returns a record (fields empty
when the page does not have them), the date parsers return a datetime or None, and URL
canonicalization returns an absolute URL without tracking parameters or raises a ValueError.
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extract.article import extract_article
from extract.clean import clean
from sites import load_profile
from sites.dates import parse_date_line, parse_iso, weekday_agrees
from sites.urls import canonicalize

PROFILE = load_profile("demo", "http://127.0.0.1:9")
TAGS = ["p", "div", "h1", "h2", "article", "script", "span", "li", "ul", "time", "meta", "a"]


@st.composite
def html_pages(draw: st.DrawFn) -> bytes:
    """Tag soup: random nesting, stray closers, JSON-LD that may not be JSON, odd bytes."""
    parts = []
    for _ in range(draw(st.integers(0, 30))):
        tag = draw(st.sampled_from(TAGS))
        attrs = draw(st.sampled_from([
            "", ' class="article__title"', ' class="article__text"', ' class="article__date"',
            ' type="application/ld+json"', ' property="og:title" content="x"',
            ' datetime="2025-13-45T99:99"', ' href="/tag/x"']))
        text = draw(st.text(max_size=40))
        parts.append(draw(st.sampled_from([f"<{tag}{attrs}>{text}</{tag}>", f"<{tag}{attrs}>",
                                           f"</{tag}>", text, '{"@type": "NewsArticle", '])))
    raw = "".join(parts).encode("utf-8", "surrogatepass")
    return raw + draw(st.binary(max_size=20))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=html_pages())
def test_extractor_never_crashes(page: bytes) -> None:
    record = extract_article(page, "http://127.0.0.1:9/x", PROFILE)
    assert record.url == "http://127.0.0.1:9/x"
    assert isinstance(record.body, str) and isinstance(record.tags, list)
    assert record.published_at is None or record.published_at.tzinfo is not None
    batch = clean([record])
    assert len(batch.articles) == 1


@settings(max_examples=500, deadline=None)
@given(date_text=st.one_of(st.none(), st.text(max_size=60)),
       time_text=st.one_of(st.none(), st.text(max_size=10)))
def test_date_line_parser_gives_a_date_or_none(date_text, time_text) -> None:
    parsed = parse_date_line(date_text, time_text, PROFILE.dates, PROFILE.tz)
    assert parsed is None or (isinstance(parsed, datetime) and parsed.tzinfo is not None)
    assert weekday_agrees(date_text, parsed, PROFILE.dates, PROFILE.tz) in (True, False, None)


@settings(max_examples=500, deadline=None)
@given(value=st.one_of(st.none(), st.text(max_size=40),
                       st.datetimes().map(lambda d: d.isoformat())))
def test_iso_parser_gives_an_aware_datetime_or_none(value) -> None:
    parsed = parse_iso(value, PROFILE.tz)
    assert parsed is None or parsed.tzinfo is not None


@settings(max_examples=500, deadline=None)
@given(path=st.text(max_size=40), key=st.sampled_from(["utm_source", "fbclid", "id", "q"]),
       value=st.text(max_size=10))
def test_canonical_urls_are_absolute_and_untracked(path, key, value) -> None:
    from urllib.parse import parse_qsl, quote, urlsplit

    try:
        url = canonicalize(f"/{quote(path, safe='')}?{key}={quote(value)}#frag",
                           "http://Example.com/a")
    except ValueError:
        return  # a clear error is an answer too
    assert url.startswith("http://example.com/")
    parts = urlsplit(url)
    assert parts.fragment == ""
    assert not {k for k, _ in parse_qsl(parts.query)} & {"utm_source", "fbclid"}
    assert canonicalize(url) == url  # canonical forms are stable
