"""The article record, defined once.

`Article` is what extraction yields for one page; cleaning adds the derived article_id,
word_count and content_hash, giving `CORPUS_COLUMNS` (plus `VALIDATION_ONLY`, which the
suites check but the corpus does not store). The warehouse's `articles` table, the
Great Expectations suites and the tests follow `CORPUS_COLUMNS`; a test checks the table's
DDL against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime


@dataclass
class Article:
    url: str                         # the fetched URL (canonical form of the discovered link)
    canonical_url: str               # the page's own canonical URL, when it names one on-site
    title: str | None = None
    subtitle: str | None = None
    section: str | None = None
    lang: str | None = None
    published_at: datetime | None = None  # timezone-aware
    # "time"; or "day" where the page gives only its day: published_at is then that day's
    # midnight in the site's zone, which is not a time of publication.
    published_precision: str | None = None
    modified_at: datetime | None = None
    date_line: str | None = None     # the page's date line as printed: "24 January, 2025 Friday"
    tags: list[str] = field(default_factory=list)    # tag slugs, as the site's tag pages name them
    authors: list[str] = field(default_factory=list)  # bylines' names, in the page's order
    labels: list[str] = field(default_factory=list)  # "Exclusive", "Review", "Updated", …
    body: str = ""                   # paragraphs and subheadings, blank-line separated
    image_url: str | None = None
    image_caption: str | None = None
    has_jsonld: bool = False
    provenance: dict[str, str] = field(default_factory=dict)  # field -> layer that supplied it
    truncated: bool = False          # the page stops before the end its profile declares


ARTICLE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Article))
# Checked by validation, not stored: a truncated page is quarantined, never loaded.
VALIDATION_ONLY: tuple[str, ...] = ("truncated",)
CORPUS_COLUMNS: tuple[str, ...] = ("article_id",
                                   *(f for f in ARTICLE_FIELDS if f not in VALIDATION_ONLY),
                                   "word_count", "content_hash")
