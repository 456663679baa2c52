"""Self-calibration: selectors learned from the pages that carry structured data.

A page whose JSON-LD gives its headline, lead, publication time and keywords tells which of its
elements hold them. Over the first pages of a crawl, the selector (tag and classes) of those
elements that gives the structured value back on the most pages is the site's layout as it is
now: it reads the pages without structured data too. The body has no structured value on most
sites; its selector is that of the main content our generic layer finds, kept only where it is
the same element from page to page.

What is learned is shown with each field's agreement rate (the share of pages with the value
where the selector gives it back) and becomes a versioned layer of the profile only when the
user keeps it (`newscorpus sites calibrate --save`): never silently.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from selectolax.lexbor import LexborNode

from extract.article import Page, tag_slugs, text_of
from extract.content import normal
from sites import SiteProfile
from sites.dates import parse_date_line

FIELDS = ("title", "subtitle", "date", "body", "tags")
MIN_AGREEMENT = 0.8  # below it a field is not learned
_STRUCTURE = {"html", "body", "head", "title", "meta", "script", "-text"}


@dataclass(frozen=True)
class LearnedField:
    selector: str
    agreement: float  # share of the pages with a structured value that the selector gives back
    pages: int  # pages with a structured value for the field


@dataclass(frozen=True)
class Calibration:
    site: str
    pages: int  # pages read
    with_structured_data: int
    fields: dict[str, LearnedField]

    def selectors(self) -> dict[str, str]:
        """The learned selectors that agree well enough to use, by ArticleLayout field."""
        return {name: f.selector for name, f in self.fields.items()
                if f.agreement >= MIN_AGREEMENT}


def selector_of(node: LexborNode) -> str | None:
    """`tag.class1.class2`, or `parent > tag` for an element without classes."""
    if node.tag in _STRUCTURE:
        return None
    tag = node.tag or ""
    classes = [c for c in (node.attributes.get("class") or "").split() if re.fullmatch(
        r"[A-Za-z_][\w-]*", c)]
    if classes:
        return tag + "".join(f".{c}" for c in classes)
    parent = node.parent
    if parent is None or parent.tag in _STRUCTURE:
        return None
    above = selector_of(parent)
    return f"{above} > {tag}" if above else None


def _published(page: Page) -> datetime | None:
    return page.parse_iso(page.ld.get("datePublished"))


def _reads_date(profile: SiteProfile, text: str | None, moment: datetime) -> bool:
    found = parse_date_line(text, text, profile.dates, profile.tz)
    return found is not None and found == moment.replace(second=0, microsecond=0)


class _Field:
    """One field's evidence: per page with a structured value, the candidate selectors, and a
    check of whether a selector gives that value back on that page."""

    def __init__(self) -> None:
        self.candidates: Counter[str] = Counter()
        self.checks: list[Callable[[str], bool]] = []

    def add(self, candidates: set[str], check: Callable[[str], bool]) -> None:
        self.candidates.update(candidates)
        self.checks.append(check)

    def best(self) -> LearnedField | None:
        if not self.checks:
            return None
        scored = [(sum(check(s) for check in self.checks) / len(self.checks), -len(s), s)
                  for s, _ in self.candidates.most_common(20)]
        if not scored:
            return None
        agreement, _, selector = max(scored)
        return LearnedField(selector, round(agreement, 3), len(self.checks))


def calibrate(pages: Iterable[tuple[bytes, str, str | None]], profile: SiteProfile) -> Calibration:
    """Learn the article selectors from `pages` (body, URL, Content-Type)."""
    fields = {name: _Field() for name in FIELDS}
    read = structured = 0
    bodies: Counter[str] = Counter()
    for body, url, content_type in pages:
        read += 1
        page = Page(body, url, profile, content_type)
        if not page.ld:
            continue
        structured += 1
        _gather(page, fields)
        if page.main is not None and (selector := selector_of(page.main.node)):
            bodies[selector] += 1
    learned = {name: best for name, field in fields.items() if (best := field.best())}
    if bodies:
        selector, count = bodies.most_common(1)[0]
        learned["body"] = LearnedField(selector, round(count / sum(bodies.values()), 3),
                                       sum(bodies.values()))
    return Calibration(profile.name, read, structured, learned)


def _gather(page: Page, fields: dict[str, _Field]) -> None:
    for name, key in (("title", "headline"), ("subtitle", "description")):
        value = page.ld.get(key)
        if isinstance(value, str) and value.strip():
            _text_field(page, fields[name], normal(value))
    if (moment := _published(page)) is not None:
        _date_field(page, fields["date"], moment)
    keywords = {normal(k) for k in page.ld.get("keywords") or [] if isinstance(k, str)}
    if keywords:
        _tags_field(page, fields["tags"], keywords)


def _text_field(page: Page, field: _Field, want: str) -> None:
    def holds(node: LexborNode) -> bool:
        return normal(text_of(node)) == want

    def check(selector: str) -> bool:
        return normal(text_of(page.tree.css_first(selector))) == want

    field.add(_smallest(page, holds), check)


def _date_field(page: Page, field: _Field, moment: datetime) -> None:
    def holds(node: LexborNode) -> bool:
        return _reads_date(page.profile, text_of(node), moment)

    def check(selector: str) -> bool:
        return _reads_date(page.profile, text_of(page.tree.css_first(selector)), moment)

    field.add(_smallest(page, holds), check)


def _tags_field(page: Page, field: _Field, keywords: set[str]) -> None:
    links = [a for a in page.tree.css("a[href]") if normal(text_of(a)) in keywords]

    def check(selector: str) -> bool:
        chosen = page.tree.css(selector)
        return {normal(text_of(a)) for a in chosen} == keywords and bool(tag_slugs(chosen))

    field.add({f"{parent} a" for a in links
               if a.parent is not None and (parent := selector_of(a.parent))}, check)


def _smallest(page: Page, wanted: Callable[[LexborNode], bool]) -> set[str]:
    """Selectors of the innermost elements for which `wanted` holds (not their ancestors)."""
    body = page.tree.body
    nodes = [n for n in (body.css("*") if body is not None else []) if wanted(n)]
    inner = [n for n in nodes if not any(
        other is not n and _inside(other, n) for other in nodes)]
    return {s for n in inner if (s := selector_of(n))}


def _inside(node: LexborNode, ancestor: LexborNode) -> bool:
    current = node.parent
    while current is not None:
        if current.mem_id == ancestor.mem_id:
            return True
        current = current.parent
    return False


def as_toml(calibration: Calibration, version: int, learned_at: datetime,
            source: str) -> str:
    """The learned layer as a profile file (`[article]`), with its evidence as comments."""
    lines = [f"# Learned by `newscorpus sites calibrate` from {source}, "
             f"{learned_at:%Y-%m-%d %H:%M} UTC:",
             f"# {calibration.with_structured_data} of {calibration.pages} pages carried "
             "structured data. Agreement: the share of those pages where the selector gives",
             "# the structured value back.", f"version = {version}", "", "[article]"]
    for name, field in sorted(calibration.fields.items()):
        if field.agreement >= MIN_AGREEMENT:
            lines.append(f"{name} = {_quote(field.selector)}  # agreement {field.agreement:.0%} "
                         f"of {field.pages} pages")
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rows(calibration: Calibration) -> list[tuple[Any, ...]]:
    """(field, selector, agreement, pages, kept) per field, for a table."""
    return [(name, f.selector, f"{f.agreement:.0%}", f.pages,
             "yes" if f.agreement >= MIN_AGREEMENT else "no")
            for name, f in sorted(calibration.fields.items())]
