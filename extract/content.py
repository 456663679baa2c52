"""Text blocks, and a page's main content found without knowing its markup.

`main_content` is what the body falls back to when no structured data and no profile selector
gives it: the element that holds the most paragraph text, read block by block, without what
surrounds an article on a news page (the headline and lead, tag blocks, "Read also" feeds,
share bars, navigation). It works on the lexbor tree the page was parsed into once, so it
costs a fraction of a generic extractor's time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

BLOCKS = {"p", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre"}
SKIP = {"script", "style", "noscript", "template", "figure", "aside", "nav", "form", "button",
        "iframe", "footer", "svg", "select"}
# Class or id words of what surrounds an article, not of the article.
_BOILERPLATE = {"tag", "tags", "share", "sharing", "social", "related", "feed", "comments",
                "comment", "breadcrumb", "breadcrumbs", "subscribe", "newsletter", "promo",
                "advert", "ads", "banner", "menu", "nav", "navigation", "footer", "sidebar",
                "readmore", "recommended", "popular", "latest", "trending", "widget", "topics",
                "keywords"}
_LABEL_LINE = re.compile(r"^(tags|topics|read also|read more|related|see also|more news|share|"
                         r"don'?t miss|most read)\s*:?\s*$", re.I)
# What starts a feed entry's line ("READ MORE: <headline>") or a bullet ("• ").
_ENTRY_LEAD = re.compile(r"^(?:•\s*|(?:[^\W\d_]+\s+){0,2}[^\W\d_]+\s*:\s*)", re.I)
# A tag after a feed entry's headline ("... after eating marmot [INSIGHT]").
_ENTRY_TAIL = re.compile(r"\s*\[[^\]]{1,20}\]\s*$")
# Characters of link text below which a link ("Home", "More") is too common a text to mark a
# paragraph that reads the same as not prose.
_MIN_LINK = 12
_MIN_PARAGRAPH = 25  # characters: shorter text blocks are captions, labels, buttons
_MIN_TEXT = 120  # characters of paragraphs below which no element is taken for the content
_LINKY = 0.5  # a part whose text is at least this much link text is a list of links


def blocks(node: LexborNode, skip: frozenset[int] = frozenset()) -> Iterator[tuple[str, str]]:
    """(tag, text) of the text blocks under `node`, in document order, without descending into
    a block; `skip` names nodes (by `mem_id`) left out with what they hold."""
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            text = (child.text_content or "").strip()
            if text:
                yield "p", text
        elif tag in SKIP or child.mem_id in skip:
            continue
        elif tag in BLOCKS:
            text = child.text(separator=" ", strip=True)
            if text:
                yield tag, text
        else:
            yield from blocks(child, skip)


def join_blocks(found: Iterator[tuple[str, str]] | list[tuple[str, str]]) -> str:
    return "\n\n".join(f"• {text}" if tag == "li" else text for tag, text in found)


def first_line(node: LexborNode) -> str | None:
    """The first visible line under `node` (scripts and styles left out)."""
    return next((line for _, line in _visible(node)), None)


def lines_around(node: LexborNode | None, mark: LexborNode | None) -> tuple[list[str], int | None]:
    """Every visible text node's text under `node`, in order, and the index of the last line
    of `mark` in them (None: `mark` is not under `node` or holds no text). Found by the
    node, not by its text, so a breadcrumb or a ticker that repeats the headline above it is
    not taken for it."""
    if node is None:
        return [], None
    marked = {text.mem_id for text in _texts(mark)} if mark is not None else set()
    lines: list[str] = []
    end = None
    for mem_id, line in _visible(node):
        lines.append(line)
        if mem_id in marked:
            end = len(lines) - 1
    return lines, end


_HIDDEN = "script, style, noscript, template"


def _visible(node: LexborNode) -> Iterator[tuple[int, str]]:
    """(text node's `mem_id`, its stripped text) of the visible text under `node`, in order.
    The walk is lexbor's own (`traverse`): a walk in Python cost the generic path a tenth of
    its time on ../shared/realpages."""
    hidden = {text.mem_id for part in node.css(_HIDDEN) for text in _texts(part)}
    for text in _texts(node):
        if text.mem_id not in hidden and (line := (text.text_content or "").strip()):
            yield text.mem_id, line


def _texts(node: LexborNode) -> Iterator[LexborNode]:
    """The text nodes under `node`, in document order."""
    return (n for n in node.traverse(include_text=True) if n.tag == "-text")


def _words(node: LexborNode) -> set[str]:
    attrs = node.attributes
    return set(re.split(r"[^a-z0-9]+", f"{attrs.get('class') or ''} {attrs.get('id') or ''}"
                                         .lower()))


def _is_boilerplate(node: LexborNode) -> bool:
    return bool(_words(node) & _BOILERPLATE)


def _link_share(node: LexborNode) -> tuple[float, int]:
    """The share of the node's text that is link text, and how many links it has."""
    text = len(node.text(strip=True))
    links = node.css("a")
    linked = sum(len(a.text(strip=True)) for a in links)
    return (linked / text if text else 0.0), len(links)


def normal(text: str | None) -> str:
    """Text compared as a reader sees it: spaces collapsed, case folded."""
    return " ".join((text or "").split()).casefold()


@dataclass
class MainContent:
    node: LexborNode

    def text(self, known: list[str | None]) -> str | None:
        """The content's blocks, without lists of links and label lines ("Tags:"), and without
        leading blocks that repeat `known` texts (the headline and the lead)."""
        skip = set()
        for part in self.node.css("*"):
            if part.tag in BLOCKS:
                continue
            share, links = _link_share(part)
            if _is_boilerplate(part) or (links >= 3 and share >= _LINKY):
                skip.add(part.mem_id)
        kept = [(tag, text) for tag, text in blocks(self.node, frozenset(skip))
                if not _LABEL_LINE.match(text)
                and not (tag == "li" and _link_only(text, self.node))]
        return join_blocks(_drop_leading(kept, known)) or None


def _drop_leading(kept: list[tuple[str, str]], known: list[str | None]) -> list[tuple[str, str]]:
    """Without the leading blocks that repeat `known` texts (printed above the body)."""
    repeated = {normal(t) for t in known if t}
    start = 0
    while start < len(kept) and normal(kept[start][1]) in repeated:
        start += 1
    return kept[start:]


def without_known(text: str | None, known: list[str | None],
                  links: frozenset[str] = frozenset()) -> str | None:
    """A generic extractor's text (paragraphs blank-line separated) without the headline and
    lead it starts with, and without what is not prose: label lines ("Tags:"), and paragraphs
    that are the whole text of a link on the page (`links`, from `link_texts`): feed entries
    ("READ MORE: <headline>") and buttons ("• Print Article"), which such an extractor keeps
    as text because it drops the links. A link that reads as its address is a source the
    text cites, and stays."""
    if not text:
        return None
    kept = [("p", p) for p in (p.strip() for p in text.split("\n\n"))
            if not _LABEL_LINE.match(p) and not _is_link(p, links)]
    return "\n\n".join(p for _, p in _drop_leading(kept, known)) or None


def link_texts(tree: LexborHTMLParser) -> frozenset[str]:
    """The normalized texts of the page's links, which a paragraph of prose never is whole."""
    return frozenset(text for a in tree.css("a[href]")
                     if len(text := normal(a.text(separator=" ", strip=True))) >= _MIN_LINK)


def _is_link(paragraph: str, links: frozenset[str]) -> bool:
    text = normal(_ENTRY_TAIL.sub("", paragraph))
    entry = normal(_ENTRY_LEAD.sub("", text))
    if not links or entry.startswith(("http://", "https://")):
        return False
    return text in links or entry in links


def _link_only(text: str, node: LexborNode) -> bool:
    """A list item that is a bare link (a feed entry, a menu item), not a bullet point."""
    return any(normal(a.text(strip=True)) == normal(text) for a in node.css("li a"))


def main_content(tree: LexborHTMLParser, known: list[str | None]) -> MainContent | None:
    """The element holding the page's main text, found by where its paragraphs are.

    `known` texts (the headline, the lead) count for nothing: a page whose text block is
    empty must come out without a body, not with its lead and bylines for one."""
    repeated = {normal(t) for t in known if t}
    scores: dict[int, tuple[float, LexborNode]] = {}
    boxed: dict[int, bool] = {}
    for paragraph in tree.css("p"):
        text = paragraph.text(strip=True)
        if len(text) < _MIN_PARAGRAPH or normal(text) in repeated \
                or _boxed(paragraph.parent, boxed):
            continue
        for weight, ancestor in ((1.0, paragraph.parent), (0.5, _parent(paragraph.parent))):
            if ancestor is not None:
                score = scores.get(ancestor.mem_id, (0.0, ancestor))[0]
                scores[ancestor.mem_id] = (score + weight * len(text), ancestor)
    if not scores:
        return None
    score, node = max(scores.values(), key=lambda entry: entry[0])
    return MainContent(node) if score >= _MIN_TEXT else None


def _parent(node: LexborNode | None) -> LexborNode | None:
    return node.parent if node is not None else None


def closest(node: LexborNode | None, tag: str) -> LexborNode | None:
    """`node` or its nearest ancestor with this tag."""
    while node is not None:
        if node.tag == tag:
            return node
        node = node.parent
    return None


def _boxed(node: LexborNode | None, known: dict[int, bool]) -> bool:
    """Whether `node` or an element above it (below `<body>`) is one that surrounds an
    article (SKIP, or a boilerplate class); `known` keeps the answers by node, since a page's
    paragraphs share most of their ancestors."""
    path: list[LexborNode] = []
    boxed = False
    while node is not None and node.tag not in ("body", "html"):
        if (answer := known.get(node.mem_id)) is not None:
            boxed = answer
            break
        path.append(node)
        if node.tag in SKIP or _is_boilerplate(node):
            boxed = True
            break
        node = node.parent
    for seen in path:
        known[seen.mem_id] = boxed
    return boxed
