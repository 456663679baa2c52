"""One archived page plus its site profile -> one `Article`.

Each field comes from the first layer that has it: JSON-LD, then meta tags (OpenGraph,
`article:*`), then the profile's selectors, then a generic fallback. The layer that supplied
each field is kept in `provenance`, so a layout change shows up as a shift between layers.
The page is parsed once, with lexbor (selectolax).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from selectolax.lexbor import LexborHTMLParser, LexborNode
from w3lib.encoding import html_to_unicode

from extract.record import Article
from sites import SiteProfile
from sites.dates import parse_date_line, parse_iso
from sites.urls import canonicalize, on_site

T = TypeVar("T")
_ARTICLE_TYPES = {"NewsArticle", "Article", "ReportageNewsArticle", "AnalysisNewsArticle",
                  "BlogPosting", "OpinionNewsArticle", "LiveBlogPosting"}
_BLOCKS = {"p", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre"}
# Generic extractors: slower, and used only where a profile names them in its layers.
_OPT_IN = {"htmldate", "trafilatura"}
# Dublin Core meta names, in the spellings pages use.
_DC = {"title": ("dc.title", "DC.title", "dcterms.title"),
       "published": ("dcterms.created", "DC.date.issued", "dcterms.issued", "dc.date", "DC.date"),
       "modified": ("dcterms.modified", "DC.date.modified"),
       "creator": ("dc.creator", "DC.creator", "dcterms.creator")}
_SKIP = {"script", "style", "noscript", "figure", "aside", "nav", "form", "button", "iframe"}


def decode(body: bytes, content_type: str | None = None) -> str:
    """Bytes to text by HTTP header, then BOM and meta charset, as browsers do."""
    _encoding, text = html_to_unicode(content_type, body)
    return text


def _first(*candidates: tuple[str, Callable[[], T | None]]) -> tuple[T | None, str | None]:
    for layer, get in candidates:
        value = get()
        if value not in (None, "", []):
            return value, layer
    return None, None


def _text(node: LexborNode | None) -> str | None:
    if node is None:
        return None
    text = node.text(separator=" ", strip=True)
    return text or None


def _jsonld(tree: LexborHTMLParser) -> dict[str, Any] | None:
    """The page's article object from JSON-LD, looking inside lists and `@graph`."""
    for script in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text(strip=True) or "null")
        except ValueError:
            continue
        for item in _walk_jsonld(data):
            kinds = item.get("@type")
            kinds = set(kinds) if isinstance(kinds, list) else {kinds}
            if kinds & _ARTICLE_TYPES:
                return item
    return None


def _walk_jsonld(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _walk_jsonld(item)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _walk_jsonld(data["@graph"])


def _meta(tree: LexborHTMLParser, *keys: str) -> list[str]:
    """Contents of the meta tags named (or with the property) `keys`, in the keys' order."""
    values = []
    for key in keys:
        nodes = tree.css(f'meta[property="{key}"], meta[name="{key}"]')
        values += [c for n in nodes if (c := (n.attributes.get("content") or "").strip())]
    return values


def _meta1(tree: LexborHTMLParser, *keys: str) -> str | None:
    values = _meta(tree, *keys)
    return values[0] if values else None


def _itemprop(tree: LexborHTMLParser, name: str) -> str | None:
    """A schema.org microdata property: its content or datetime attribute, else its text."""
    node = tree.css_first(f'[itemprop="{name}"]')
    if node is None:
        return None
    attrs = node.attributes
    return (attrs.get("content") or attrs.get("datetime") or _text(node) or None)


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


def _block_texts(node: LexborNode) -> Iterator[tuple[str, str]]:
    """The text blocks under `node`, in document order, without descending into a block."""
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            text = (child.text_content or "").strip()
            if text:
                yield "p", text
        elif tag in _SKIP:
            continue
        elif tag in _BLOCKS:
            text = child.text(separator=" ", strip=True)
            if text:
                yield tag, text
        else:
            yield from _block_texts(child)


def body_text(node: LexborNode | None) -> str:
    if node is None:
        return ""
    return "\n\n".join(f"• {text}" if tag == "li" else text for tag, text in _block_texts(node))


def _tag_slugs(nodes: list[LexborNode]) -> list[str]:
    slugs = []
    for node in nodes:
        href = (node.attributes.get("href") or "").rstrip("/")
        if "/tag/" in href:
            slugs.append(href.rsplit("/tag/", 1)[1].split("?")[0])
    return slugs


def extract_article(body: bytes, url: str, profile: SiteProfile,
                    content_type: str | None = None) -> Article:
    """Extract one article; fields the page lacks stay empty for validation to judge."""
    text_html = decode(body, content_type)
    tree = LexborHTMLParser(text_html)
    ld = _jsonld(tree) or {}
    sel = profile.article
    tz = profile.tz

    def css(key: str) -> LexborNode | None:
        return tree.css_first(sel[key]) if key in sel else None

    provenance: dict[str, str] = {}

    def pick(name: str, *candidates: tuple[str, Callable[[], Any]]) -> Any:
        # A profile may reorder the layers of a field, or name extra ones, e.g.
        # published_at_layers = ["htmldate", "jsonld", "meta", "time"]
        available = dict(candidates)
        order = sel.get(f"{name}_layers") or [c for c in available if c not in _OPT_IN]
        candidates = tuple((layer, available[layer]) for layer in order)
        value, layer = _first(*candidates)
        if layer:
            provenance[name] = layer
        return value

    h1 = tree.css_first("h1")
    title_tag = tree.css_first("title")
    title = pick("title",
                 ("jsonld", lambda: ld.get("headline")),
                 ("microdata", lambda: _itemprop(tree, "headline")),
                 ("meta", lambda: _meta1(tree, "og:title", *_DC["title"])),
                 ("selector", lambda: _text(css("title"))),
                 ("generic", lambda: _text(h1) or _text(title_tag)))
    subtitle = pick("subtitle",
                    ("jsonld", lambda: ld.get("description")),
                    ("meta", lambda: _meta1(tree, "og:description", "description")),
                    ("selector", lambda: _text(css("subtitle"))))
    def structured() -> Any:
        return (parse_iso(ld.get("datePublished"), tz)
                or parse_iso(_itemprop(tree, "datePublished"), tz)
                or parse_iso(_meta1(tree, "article:published_time", *_DC["published"]), tz))

    published = pick("published_at",
                     ("jsonld", lambda: parse_iso(ld.get("datePublished"), tz)),
                     ("microdata", lambda: parse_iso(_itemprop(tree, "datePublished"), tz)),
                     ("meta", lambda: parse_iso(_meta1(tree, "article:published_time",
                                                       *_DC["published"]), tz)),
                     ("selector", lambda: parse_date_line(_text(css("date")), _text(css("time")),
                                                          profile.dates, tz)),
                     ("time", lambda: parse_iso(_time_attr(tree), tz)),
                     ("htmldate", lambda: _htmldate(text_html, tz, structured())))
    modified = pick("modified_at",
                    ("jsonld", lambda: parse_iso(ld.get("dateModified"), tz)),
                    ("microdata", lambda: parse_iso(_itemprop(tree, "dateModified"), tz)),
                    ("meta", lambda: parse_iso(_meta1(tree, "article:modified_time",
                                                      *_DC["modified"]), tz)))
    tags = pick("tags",
                ("selector", lambda: _tag_slugs(tree.css(sel["tags"])) if "tags" in sel else None),
                ("jsonld", lambda: _keywords(ld.get("keywords"))),
                ("meta", lambda: _meta(tree, "article:tag")))
    authors = pick("authors",
                   ("jsonld", lambda: _people(ld.get("author"))),
                   ("microdata", lambda: _names(_text(n.css_first('[itemprop="name"]') or n) or ""
                                                for n in tree.css('[itemprop="author"]'))),
                   ("meta", lambda: _names(_meta(tree, "author", "article:author",
                                                 *_DC["creator"]))),
                   ("selector", lambda: _names(_text(n) or "" for n in tree.css(sel["authors"]))
                    if "authors" in sel else None),
                   ("generic", lambda: _names(_text(n) or "" for n in tree.css('a[rel="author"]'))))
    html_node = tree.css_first("html")
    lang = pick("lang",
                ("jsonld", lambda: ld.get("inLanguage")),
                ("meta", lambda: _meta1(tree, "og:locale")),
                ("generic", lambda: html_node.attributes.get("lang") if html_node else None))
    section = pick("section",
                   ("jsonld", lambda: ld.get("articleSection")),
                   ("meta", lambda: _meta1(tree, "article:section")),
                   ("selector", lambda: _text(css("section"))))
    image_node = css("image")
    image = pick("image_url",
                 ("jsonld", lambda: _image_url(ld.get("image"))),
                 ("meta", lambda: _meta1(tree, "og:image")),
                 ("selector", lambda: image_node.attributes.get("src") if image_node else None))
    body_node = css("body")
    text = pick("body",
                ("jsonld", lambda: ld.get("articleBody")),
                ("selector", lambda: body_text(body_node)),
                # An empty text block is an empty body, not a reason to guess elsewhere.
                ("blocks", lambda: None if body_node is not None else body_text(
                    tree.css_first("article") or tree.css_first("main"))),
                ("trafilatura", lambda: _trafilatura(text_html)))
    labels = [t for n in tree.css(sel["labels"]) if (t := _text(n))] if "labels" in sel else []

    canonical_node = tree.css_first('link[rel="canonical"]')
    canonical = canonical_node.attributes.get("href") if canonical_node else None
    canonical = canonicalize(canonical, url) if canonical else url
    if not on_site(canonical, profile.host):
        canonical = url

    return Article(
        url=url,
        canonical_url=canonical,
        title=title,
        subtitle=subtitle,
        section=section if isinstance(section, str) else None,
        lang=(lang.split("-")[0].split("_")[0].lower() if isinstance(lang, str) else None),
        published_at=published,
        modified_at=modified,
        date_line=_text(css("date")),
        tags=list(tags or []),
        authors=list(authors or []),
        labels=labels,
        body=text or "",
        image_url=canonicalize(image, url) if isinstance(image, str) else None,
        image_caption=_text(css("caption")),
        has_jsonld=bool(ld),
        provenance=provenance,
        truncated=bool(sel.get("page_end")) and not _ends_with(text_html, sel["page_end"]),
    )


def _ends_with(html: str, end: str) -> bool:
    """Whether the document reaches `end` (say "</html>"), looking at its last few KB."""
    return end.lower() in html[-8192:].lower()


def _trafilatura(html: str) -> str | None:
    """The main text by trafilatura: for pages no selector knows (imported only then)."""
    import trafilatura

    # Reader comments are not the article (with them, bodies F1 on ../shared/realpages
    # drops from 0.966 to 0.956).
    text = trafilatura.extract(html, include_comments=False)
    return "\n\n".join(p.strip() for p in (text or "").split("\n") if p.strip()) or None


def _htmldate(html: str, tz: Any, structured: Any) -> Any:
    """The publication day by htmldate's extensive search; with the structured data's time
    when that falls on the same day, else at midnight in the site's zone."""
    from htmldate import find_date

    found = find_date(html, extensive_search=True, original_date=True)
    if not found:
        return None
    if structured is not None and structured.date().isoformat() == found:
        return structured
    return parse_iso(found, tz)


def _time_attr(tree: LexborHTMLParser) -> str | None:
    node = tree.css_first("time[datetime]")
    return node.attributes.get("datetime") if node else None
