"""One archived page plus its site profile -> one `Article`.

Each field has its own small function that tries its layers in order and keeps the first
value: structured data (JSON-LD, microdata, meta tags), then the profile's selectors, then
layers that know no markup (the headline's `<h1>`, the site's own date format searched in the
text near the headline, the page's main content found by its paragraphs). The layer that gave
each field is kept in `provenance`, so a redesign shows up as a shift between layers, and a
profile may reorder a field's layers (`<field>_layers`). The page is parsed once, with lexbor
(selectolax); layers are computed only when asked for.
"""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from functools import cache, cached_property
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from selectolax.lexbor import LexborHTMLParser, LexborNode
from w3lib.encoding import html_to_unicode

from extract import content
from extract.record import Article
from sites import SiteProfile
from sites.dates import parse_date_line, parse_iso
from sites.profile import ArticleLayout
from sites.urls import canonicalize, on_site

T = TypeVar("T")
Layer = tuple[str, Callable[[], Any]]
_ARTICLE_TYPES = {"NewsArticle", "Article", "ReportageNewsArticle", "AnalysisNewsArticle",
                  "BlogPosting", "OpinionNewsArticle", "LiveBlogPosting"}
# Generic extractors: slower, and used only where a profile names them in its layers.
# A day without its time (`textdate`, `htmldate`) is opt-in too: a profile whose site prints
# times must not load a page at midnight for want of its time.
_OPT_IN = {"htmldate", "textdate", "trafilatura"}
# Dublin Core meta names, in the spellings pages use.
_DC = {"title": ("dc.title", "DC.title", "dcterms.title"),
       "published": ("dcterms.created", "DC.date.issued", "dcterms.issued", "dc.date", "DC.date"),
       "modified": ("dcterms.modified", "DC.date.modified"),
       "creator": ("dc.creator", "DC.creator", "dcterms.creator")}
_SEPARATOR = r"\s+[|\-–—:·•]\s+"  # between a headline and the site's name in <title>
# Lines after the headline searched for the date line, when no element holds it.
_DATELINE_WINDOW = 12
# Lines before the headline searched too, nearest first, for a date in any format: many sites
# print it just above.
_ABOVE_HEADLINE = 4
# What holds no article text: what trafilatura deletes, with all it holds, as its first step
# (settings.MANUALLY_CLEANED), less what it keeps on some pages (forms that hold most of the
# text, figures that hold a table) and `<time>`, which it deletes but which sits inside prose.
_NOT_ARTICLE = ("script, style, noscript, template, svg, head, nav, footer, aside, menu, iframe, "
                "embed, object, button, select, textarea, input")
# A date line is short (at most this many characters), and it holds 4 to 18 digits (htmldate's
# own bounds for a date expression).
_DATE_LINE_CHARS = 50


def decode(body: bytes, content_type: str | None = None) -> str:
    """Bytes to text by HTTP header, then BOM and meta charset, as browsers do."""
    _encoding, text = html_to_unicode(content_type, body)
    return text


def text_of(node: LexborNode | None) -> str | None:
    if node is None:
        return None
    text = node.text(separator=" ", strip=True)
    return text or None


def _walk_jsonld(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _walk_jsonld(item)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _walk_jsonld(data["@graph"])


def _keywords(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    return [k.strip() for k in value if isinstance(k, str) and k.strip()] if value else []


def _people(value: Any) -> list[str] | None:
    """Author names from JSON-LD `author` (a name, a Person, or a list of either)."""
    values = value if isinstance(value, list) else [value]
    names = [v.get("name") if isinstance(v, dict) else v for v in values]
    return _names(n for n in names if isinstance(n, str))


def _names(values: Any) -> list[str] | None:
    """Distinct names in order; profile URLs (article:author often holds one) are no name."""
    names = [re.sub(r"^by\s+", "", v.strip(), flags=re.I) for v in values]
    kept = list(dict.fromkeys(n for n in names if n and "://" not in n))
    return kept or None


def _image_url(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("url") or value.get("contentUrl")
    return value if isinstance(value, str) else None


def body_text(node: LexborNode | None) -> str:
    """The text blocks under `node`, blank-line separated, list items bulleted."""
    return content.join_blocks(content.blocks(node)) if node is not None else ""


def tag_slugs(nodes: list[LexborNode]) -> list[str]:
    slugs = []
    for node in nodes:
        href = node.attributes.get("href") or ""
        if match := re.search(r"/(?:tag|tags|topic|topics)/([^/?#]+)/?(?:[?#].*)?$", href):
            slugs.append(match.group(1))
    return slugs


class Page:
    """One parsed page and the values its layers need, each computed once when first asked."""

    def __init__(self, body: bytes, url: str, profile: SiteProfile,
                 content_type: str | None) -> None:
        self.url, self.profile = url, profile
        self.html = decode(body, content_type)
        self.tree = LexborHTMLParser(self.html)
        self.layout = profile.article
        self.learned = profile.learned

    def css(self, selector: str) -> LexborNode | None:
        return self.tree.css_first(selector) if selector else None

    @cached_property
    def ld(self) -> dict[str, Any]:
        """The page's article object from JSON-LD, looking inside lists and `@graph`."""
        for script in self.tree.css('script[type="application/ld+json"]'):
            try:
                data = json.loads(script.text(strip=True) or "null")
            except ValueError:
                continue
            for item in _walk_jsonld(data):
                kinds = item.get("@type")
                kinds = set(kinds) if isinstance(kinds, list) else {kinds}
                if kinds & _ARTICLE_TYPES:
                    return item
        return {}

    @cached_property
    def metas(self) -> dict[str, list[str]]:
        """The meta tags' non-empty contents by name and by property, in document order: read
        once, not by a query of the whole tree per key."""
        found: dict[str, list[str]] = defaultdict(list)
        for node in self.tree.css("meta[content]"):
            attrs = node.attributes
            if content := (attrs.get("content") or "").strip():
                for key in {attrs.get("property"), attrs.get("name")} - {None}:
                    found[cast(str, key)].append(content)
        return dict(found)

    def meta(self, *keys: str) -> list[str]:
        """Contents of the meta tags named (or with the property) `keys`, in the keys' order."""
        return [content for key in keys for content in self.metas.get(key, [])]

    def meta1(self, *keys: str) -> str | None:
        values = self.meta(*keys)
        return values[0] if values else None

    def itemprop_node(self, name: str) -> LexborNode | None:
        return self.tree.css_first(f'[itemprop="{name}"]')

    def itemprop(self, name: str) -> str | None:
        """A schema.org microdata property: its content or datetime attribute, else its text."""
        node = self.itemprop_node(name)
        if node is None:
            return None
        attrs = node.attributes
        return attrs.get("content") or attrs.get("datetime") or text_of(node) or None

    def parse_iso(self, value: str | None) -> datetime | None:
        return parse_iso(value, self.profile.tz)

    @cached_property
    def headline_node(self) -> LexborNode | None:
        """The page's headline element: the profile's, else the `<h1>` that is not the
        site's name (some sites set their logo in an `<h1>`), else the `<h2>` that reads as
        the title the page declares (some set the headline in an `<h2>`)."""
        if node := self.css(self.layout.title):
            return node
        site_names = {n.casefold() for n in self.site_names}
        if h1 := next((h for h in self.tree.css("h1")
                       if (text_of(h) or "").casefold() not in site_names and text_of(h)), None):
            return h1
        declared = {content.normal(html.unescape(t)) for t in
                    (self.ld.get("headline"), self.meta1("og:title")) if isinstance(t, str)}
        return next((h for h in self.tree.css("h2") if content.normal(text_of(h)) in declared),
                    None)

    @cached_property
    def site_names(self) -> list[str]:
        return [n for n in (self.profile.title, self.meta1("og:site_name"),
                            self.ld.get("publisher", {}).get("name")
                            if isinstance(self.ld.get("publisher"), dict) else None) if n]

    @cached_property
    def lines(self) -> list[str]:
        """The visible text of the page's body, one line per text node."""
        return self._lines[0]

    @cached_property
    def headline_at(self) -> int | None:
        """Where in `lines` the headline ends: its last text node, as a headline set in
        several elements (a kicker, a `<span>`) is several lines."""
        return self._lines[1]

    @cached_property
    def _lines(self) -> tuple[list[str], int | None]:
        lines, end = content.lines_around(self.tree.body, self.headline_node)
        if end is None:  # no headline element: the line that prints the page's <title>
            end = _printed(lines, _title_parts(self))
        return lines, end

    @cached_property
    def before_text(self) -> list[str]:
        """The lines after the headline and before the article's text, where a date line
        stands: never dates out of the text or from feeds and footers below it."""
        start = self.headline_at
        lines = self.lines
        window = lines[start + 1:start + 1 + _DATELINE_WINDOW] if start is not None else \
            lines[:_DATELINE_WINDOW * 4]
        if self.main is not None and (first := content.first_line(self.main.node)) \
                and first in window:
            window = window[:window.index(first)]
        return window

    @cached_property
    def main(self) -> content.MainContent | None:
        return content.main_content(self.tree, [text_of(self.headline_node), self.lead])

    @cached_property
    def text_html(self) -> str:
        """The page without what a generic text extractor deletes before it reads any text
        (`_NOT_ARTICLE`), removed here by the faster parser: on ../shared/realpages, half the
        bytes for trafilatura to parse and prune, and the same bodies F1."""
        copy = LexborHTMLParser(self.html)  # not tree.clone(): it fails on some pages
        for node in copy.css(_NOT_ARTICLE):
            node.decompose()
        return copy.html or ""

    @cached_property
    def lead(self) -> str | None:
        return subtitle(self)[0]

    @cached_property
    def article_node(self) -> LexborNode | None:
        """The `<article>` around the main content, or around the headline."""
        return content.closest(self.main.node if self.main else None, "article") \
            or content.closest(self.headline_node, "article")

    @cached_property
    def dateline(self) -> tuple[datetime | None, str | None]:
        return find_dateline(self)

    @cached_property
    def date_line(self) -> str | None:
        """The date line as printed, for the weekday check: the profile's element, else the
        line found near the headline (looked for only where the site prints weekdays)."""
        if line := text_of(self.css(self.layout.date)) or text_of(self.css(self.learned.date)):
            return line
        return self.dateline[1] if self.layout.date and self.profile.dates.weekdays else None

    def choose(self, name: str, *layers: Layer) -> tuple[Any, str | None]:
        """The first layer's value that is not empty, and that layer's name. The profile may
        reorder a field's layers or name opt-in ones (`<field>_layers`)."""
        available = dict(layers)
        order = self.layout.layers.get(name) or [n for n in available if n not in _OPT_IN]
        for layer in order:
            value = available[layer]()
            if value not in (None, "", []):
                return value, layer
        return None, None


def title(page: Page) -> tuple[str | None, str | None]:
    return page.choose(
        "title",
        ("jsonld", lambda: page.ld.get("headline")),
        ("microdata", lambda: page.itemprop("headline")),
        ("meta", lambda: page.meta1("og:title", *_DC["title"])),
        ("selector", lambda: text_of(page.css(page.layout.title))),
        ("learned", lambda: text_of(page.css(page.learned.title))),
        ("generic", lambda: text_of(page.headline_node) or _title_tag(page)))


def _title_tag(page: Page) -> str | None:
    """`<title>` without the site's name ("Headline | Espreso Global" -> "Headline"): the part
    that the page prints as a line of its text, else `<title>` less the names it declares."""
    parts = _title_parts(page)
    if page.headline_node is None and page.headline_at is not None:
        return page.lines[page.headline_at]
    return parts[0] if parts else None


def _title_parts(page: Page) -> list[str]:
    """`<title>` less the site names the page declares, then its runs of parts between
    separators, longest first: a site that declares no name still sets it apart with " | "
    or " - ", and a headline may hold a dash of its own."""
    text = text_of(page.tree.css_first("title"))
    for name in page.site_names if text else []:
        named = re.escape(name)
        text = re.sub(rf"^\s*{named}{_SEPARATOR}|{_SEPARATOR}{named}\s*$", "", text or "",
                      flags=re.I)
    if not text:
        return []
    pieces = re.split(f"({_SEPARATOR})", text)  # parts at even places, separators between
    runs = {"".join(pieces[start:end]) for start in range(0, len(pieces), 2)
            for end in range(start + 1, len(pieces) + 1, 2)}
    return [text, *sorted(runs - {text}, key=len, reverse=True)]


def _printed(lines: list[str], wanted: list[str]) -> int | None:
    """Where the longest of `wanted` that is a line of its own stands in `lines`. Runs of
    fewer than three words are not taken: a section's name is a menu's line too."""
    first: dict[str, int] = {}
    for i, line in enumerate(lines):
        first.setdefault(content.normal(line), i)
    return next((first[w] for want in wanted
                 if len((w := content.normal(want)).split()) >= 3 and w in first), None)


def subtitle(page: Page) -> tuple[str | None, str | None]:
    return page.choose(
        "subtitle",
        ("jsonld", lambda: page.ld.get("description")),
        ("microdata", lambda: page.itemprop("description")),
        ("meta", lambda: page.meta1("og:description", "description")),
        ("selector", lambda: text_of(page.css(page.layout.subtitle))),
        ("learned", lambda: text_of(page.css(page.learned.subtitle))))


def _structured_published(page: Page) -> datetime | None:
    return (page.parse_iso(page.ld.get("datePublished"))
            or page.parse_iso(page.itemprop("datePublished"))
            or page.parse_iso(page.meta1("article:published_time", *_DC["published"]))
            or page.parse_iso(_time_attr(page.tree)))


def published_at(page: Page) -> tuple[datetime | date | None, str | None]:
    """The publication moment, or only its day (a `date`) from the day-only layers."""
    return page.choose(
        "published_at",
        ("jsonld", lambda: page.parse_iso(page.ld.get("datePublished"))),
        ("microdata", lambda: page.parse_iso(page.itemprop("datePublished"))),
        ("meta", lambda: page.parse_iso(page.meta1("article:published_time",
                                                   *_DC["published"]))),
        ("selector", lambda: _date_line_at(page, page.layout)),
        ("learned", lambda: _date_line_at(page, page.learned)),
        ("time", lambda: page.parse_iso(_time_attr(page.tree))),
        ("dateline", lambda: page.dateline[0]),
        ("textdate", lambda: text_date(page)),
        ("htmldate", lambda: _htmldate(page.html, _structured_published(page))))


def _date_line_at(page: Page, layout: ArticleLayout) -> datetime | None:
    """The date line a layout's selectors point at (the time in its own element, or in the
    date line's)."""
    line = text_of(page.css(layout.date))
    return parse_date_line(line, text_of(page.css(layout.time)) or line, page.profile.dates,
                           page.profile.tz) if line else None


def find_dateline(page: Page) -> tuple[datetime | None, str | None]:
    """The site's date line, read from the text after the headline: (moment, line as printed).

    A redesign renames elements, not the way the site prints its dates, so the profile's
    date and time patterns find the date line wherever it moved.
    """
    window = page.before_text
    rules = page.profile.dates
    for i, line in enumerate(window):
        match = re.search(rules.pattern, line)
        if match is None:
            continue
        rest = [line[match.end():], *window[i + 1:i + 3]]
        clock = next((t for t in rest if re.search(rules.time_pattern, t)), None)
        moment = parse_date_line(line, clock, rules, page.profile.tz)
        if moment is not None:
            return moment, line
    return None, None


def text_date(page: Page) -> datetime | date | None:
    """The first date printed around the headline, in any format htmldate's rule-based parser
    reads ("12.01.2022", "January 19, 2020", "24. Januar 2022"): below it first, then just
    above it, nearest first.

    htmldate's own search weighs every date on the page; the date line beside the headline is
    what a reader takes for the publication date. On ../shared/realpages, taking it first and
    htmldate's answer only where there is none scores 0.946 against htmldate's 0.930.
    """
    start = page.headline_at
    if start is None:
        return None
    above = page.lines[max(0, start - _ABOVE_HEADLINE):start][::-1]
    for line in [*page.before_text, *above]:
        if len(line) <= _DATE_LINE_CHARS and 4 <= sum(map(str.isdigit, line)) <= 18 \
                and (day := _parse_day(line, page.profile.founded)):
            return _on_day(day, _structured_published(page))
    return None


def _parse_day(line: str, founded: date) -> str | None:
    """A calendar day (YYYY-MM-DD) read from a line by htmldate's rule-based date parser,
    between the site's founding and tomorrow. It is htmldate's internal function, which
    `find_date` applies to each text element: pinned, and held by tests/test_extract.py."""
    from htmldate.extractors import custom_parse

    latest = datetime.now() + timedelta(days=1)
    return custom_parse(line, "%Y-%m-%d", datetime.combine(founded, time_of_day()), latest)


def modified_at(page: Page) -> tuple[datetime | None, str | None]:
    return page.choose(
        "modified_at",
        ("jsonld", lambda: page.parse_iso(page.ld.get("dateModified"))),
        ("microdata", lambda: page.parse_iso(page.itemprop("dateModified"))),
        ("meta", lambda: page.parse_iso(page.meta1("article:modified_time", *_DC["modified"]))))


def tags(page: Page) -> tuple[list[str] | None, str | None]:
    return page.choose(
        "tags",
        ("selector", lambda: tag_slugs(page.tree.css(page.layout.tags))
         if page.layout.tags else None),
        ("learned", lambda: tag_slugs(page.tree.css(page.learned.tags))
         if page.learned.tags else None),
        # Links to tag pages carry the site's own slugs; keywords are names to slug.
        ("generic", lambda: tag_slugs(page.article_node.css("a[href]"))
         if page.article_node else None),
        ("jsonld", lambda: _keywords(page.ld.get("keywords"))),
        ("meta", lambda: page.meta("article:tag")))


def authors(page: Page) -> tuple[list[str] | None, str | None]:
    return page.choose(
        "authors",
        ("jsonld", lambda: _people(page.ld.get("author"))),
        ("microdata", lambda: _names(text_of(n.css_first('[itemprop="name"]') or n) or ""
                                     for n in page.tree.css('[itemprop="author"]'))),
        ("meta", lambda: _names(page.meta("author", "article:author", *_DC["creator"]))),
        ("selector", lambda: _names(text_of(n) or "" for n in page.tree.css(page.layout.authors))
         if page.layout.authors else None),
        ("generic", lambda: _names(text_of(n) or "" for n in page.tree.css('a[rel="author"]'))))


def lang(page: Page) -> tuple[str | None, str | None]:
    html_node = page.tree.css_first("html")
    value, layer = page.choose(
        "lang",
        ("jsonld", lambda: page.ld.get("inLanguage")),
        ("meta", lambda: page.meta1("og:locale")),
        ("generic", lambda: html_node.attributes.get("lang") if html_node else None))
    if not isinstance(value, str):
        return None, None
    return value.split("-")[0].split("_")[0].lower(), layer


def section(page: Page) -> tuple[str | None, str | None]:
    value, layer = page.choose(
        "section",
        ("jsonld", lambda: page.ld.get("articleSection")),
        ("meta", lambda: page.meta1("article:section")),
        ("selector", lambda: text_of(page.css(page.layout.section))))
    return (value, layer) if isinstance(value, str) else (None, None)


def image_url(page: Page) -> tuple[str | None, str | None]:
    node = page.css(page.layout.image)
    value, layer = page.choose(
        "image_url",
        ("jsonld", lambda: _image_url(page.ld.get("image"))),
        ("meta", lambda: page.meta1("og:image")),
        ("selector", lambda: node.attributes.get("src") if node else None))
    return (canonicalize(value, page.url), layer) if isinstance(value, str) else (None, None)


def body(page: Page, known: list[str | None]) -> tuple[str | None, str | None]:
    """`known`: the title and lead, which a body found without the profile must not repeat.

    A profile's text block that is there but empty is an empty body (the page is broken), not
    a reason to guess elsewhere.
    """
    selected = page.css(page.layout.body)
    learned = page.css(page.learned.body)
    return page.choose(
        "body",
        ("jsonld", lambda: page.ld.get("articleBody")),
        ("microdata", lambda: body_text(page.itemprop_node("articleBody"))),
        ("selector", lambda: body_text(selected)),
        ("learned", lambda: None if selected is not None else body_text(learned)),
        ("generic", lambda: None if selected is not None or learned is not None
         or page.main is None else page.main.text(known)),
        ("trafilatura", lambda: content.without_known(
            _trafilatura(page.text_html), [*known, text_of(page.headline_node)],
            content.link_texts(page.tree))))


def extract_article(body_bytes: bytes, url: str, profile: SiteProfile,
                    content_type: str | None = None) -> Article:
    """Extract one article; fields the page lacks stay empty for validation to judge."""
    page = Page(body_bytes, url, profile, content_type)
    provenance: dict[str, str] = {}

    def keep(name: str, found: tuple[T | None, str | None]) -> T | None:
        value, layer = found
        if layer:
            provenance[name] = layer
        return value

    the_title = keep("title", title(page))
    the_subtitle = keep("subtitle", subtitle(page))
    text = keep("body", body(page, [the_title, the_subtitle]))
    layout = profile.article
    published, precision = _with_precision(keep("published_at", published_at(page)), profile.tz)
    return Article(
        url=url,
        canonical_url=_canonical(page),
        title=the_title,
        subtitle=the_subtitle,
        section=keep("section", section(page)),
        lang=keep("lang", lang(page)),
        published_at=published,
        published_precision=precision,
        modified_at=keep("modified_at", modified_at(page)),
        date_line=page.date_line,
        tags=list(keep("tags", tags(page)) or []),
        authors=list(keep("authors", authors(page)) or []),
        labels=[t for n in page.tree.css(layout.labels) if (t := text_of(n))]
        if layout.labels else [],
        body=text or "",
        image_url=keep("image_url", image_url(page)),
        image_caption=text_of(page.css(layout.caption)),
        has_jsonld=bool(page.ld),
        provenance=provenance,
        truncated=bool(layout.page_end) and not _ends_with(page.html, layout.page_end),
    )


def _canonical(page: Page) -> str:
    node = page.tree.css_first('link[rel="canonical"]')
    href = node.attributes.get("href") if node else None
    canonical = canonicalize(href, page.url) if href else page.url
    return canonical if on_site(canonical, page.profile.host) else page.url


def _ends_with(html: str, end: str) -> bool:
    """Whether the document reaches `end` (say "</html>"), looking at its last few KB (a
    search that ignores case, not a lowered copy of them: 7% of the profile path's time)."""
    return _ignoring_case(end).search(html, max(0, len(html) - 8192)) is not None


@cache
def _ignoring_case(text: str) -> re.Pattern[str]:
    return re.compile(re.escape(text), re.I)


def _trafilatura(html: str) -> str | None:
    """The main text by trafilatura: for pages no selector knows (imported only then)."""
    import trafilatura

    # Reader comments are not the article (with them, bodies F1 on ../shared/realpages
    # drops from 0.966 to 0.956).
    text = trafilatura.extract(html, include_comments=False, fast=True)
    # Its list items start with "- "; ours (and the corpus's) with "• ".
    return "\n\n".join(re.sub(r"^- ", "• ", p.strip()) for p in (text or "").split("\n")
                       if p.strip()) or None


def _htmldate(html: str, structured: datetime | None) -> datetime | date | None:
    """The publication day by htmldate's extensive search."""
    from htmldate import find_date

    found = find_date(html, extensive_search=True, original_date=True)
    return _on_day(found, structured) if found else None


def _on_day(day: str, structured: datetime | None) -> datetime | date:
    """A publication day (YYYY-MM-DD): the structured data's moment, when that falls on the
    same day, else the day alone."""
    if structured is not None and structured.date().isoformat() == day:
        return structured
    return date.fromisoformat(day)


def _with_precision(found: datetime | date | None, tz: ZoneInfo) -> tuple[datetime | None,
                                                                        str | None]:
    """A publication moment and its precision. A day alone is stored as its midnight in the
    site's zone, marked "day": midnight is not when the page was published, and a query by
    hour or a backfill window must be able to tell."""
    if found is None or isinstance(found, datetime):
        return found, "time" if found is not None else None
    return datetime.combine(found, time_of_day(), tzinfo=tz), "day"


def _time_attr(tree: LexborHTMLParser) -> str | None:
    node = tree.css_first("time[datetime]")
    return node.attributes.get("datetime") if node else None
