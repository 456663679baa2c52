"""Cleaning a batch of extracted articles with pandas, column by column.

Normalizes Unicode and whitespace, drops leaked template keys (`client/title.list_title`),
canonicalizes URLs, normalizes tags to slugs, derives `article_id`, `word_count` and
`content_hash`, and separates rows that duplicate another row's article id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from extract.record import ARTICLE_FIELDS, CORPUS_COLUMNS, VALIDATION_ONLY, Article
from sites.urls import article_id, canonicalize

# A template key is a lone path-like token with a dotted leaf: "client/title.list_title".
TEMPLATE_KEY = r"[a-z][a-z0-9_-]*(?:/[a-z0-9_-]+)+\.[a-z0-9_.]+"
_TEXT_COLUMNS = ("title", "subtitle", "section", "image_caption", "date_line")
# A run of spaces becomes one " ". The pattern spells the characters themselves, not "\u"
# escapes: pandas hands a pattern with escapes to Python's re, a call per row, instead of
# pyarrow's RE2 over the column. And it matches runs of two or more, or one other than " ":
# a lone " " needs no change, and matching each one took ten times as long.
_OTHER_SPACES = "\t\r\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000"
_SPACES = f"[ {_OTHER_SPACES}]{{2,}}|[{_OTHER_SPACES}]"


@dataclass(frozen=True)
class CleanBatch:
    """Cleaned rows split by article id: whole rows (`clean`), or in a run, the keys of rows
    written to parts (extract/parts.py, `KEYS`)."""

    articles: pd.DataFrame    # one row per article id
    duplicates: pd.DataFrame  # rows whose article id an earlier row already has


def _normalize_text(series: pd.Series) -> pd.Series:
    cleaned = (series.astype("string").str.normalize("NFC")
               .str.replace(_SPACES, " ", regex=True).str.strip())
    cleaned = cleaned.mask(cleaned.str.fullmatch(TEMPLATE_KEY, na=False))
    return cleaned.mask(cleaned == "").astype(object).where(cleaned.notna(), None)


def _normalize_body(series: pd.Series) -> pd.Series:
    return (series.fillna("").astype("string").str.normalize("NFC")
            .str.replace(_SPACES, " ", regex=True)
            # A key's line is emptied, its line break kept. Not "$": pandas gives a pattern
            # with "$" to Python's re when the text has line breaks (all bodies have).
            .str.replace(rf"(?m)^ ?{TEMPLATE_KEY} ?(\n|\Z)", r"\1", regex=True)
            .str.replace(r" *\n *", "\n", regex=True)
            .str.replace(r"\n{3,}", "\n\n", regex=True)
            .str.strip().astype(object))


def _slug_tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        slug = "-".join(str(tag).lower().split())
        if slug:
            seen.setdefault(slug, None)
    return list(seen)


def content_hash(title: str | None, subtitle: str | None, body: str, tags: list[str]) -> str:
    """What counts as an edit: title, lead, body and tags. Labels and timestamps do not."""
    joined = "\x1f".join([title or "", subtitle or "", body, "\x1e".join(tags)])
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def clean_rows(records: list[Article]) -> pd.DataFrame:
    """Each record cleaned on its own: rows of any split of a batch concatenate to the whole's."""
    # The records' own dicts, not `asdict`'s deep copies (41% of this function's time under
    # cProfile): nothing here changes a record's list in place (tags and labels are made anew
    # below; authors pass through as they are), so the records stay as the caller gave them.
    frame = pd.DataFrame([vars(r) for r in records], columns=list(ARTICLE_FIELDS))
    for column in _TEXT_COLUMNS:
        frame[column] = _normalize_text(frame[column])
    frame["body"] = _normalize_body(frame["body"])
    frame["url"] = frame["url"].map(canonicalize)
    frame["canonical_url"] = frame["canonical_url"].map(canonicalize)
    frame["tags"] = frame["tags"].map(_slug_tags)
    frame["labels"] = frame["labels"].map(lambda labels: list(dict.fromkeys(labels)))
    for column in ("published_at", "modified_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    # A page that states no edit time was last modified when it was published.
    frame["modified_at"] = frame["modified_at"].fillna(frame["published_at"])
    frame["article_id"] = frame["canonical_url"].map(article_id)
    # A split per body: pandas' `.str.split().str.len()` took 2.6 times as long.
    frame["word_count"] = pd.Series([len(body.split()) for body in frame["body"]],
                                    index=frame.index, dtype="int64")
    frame["content_hash"] = [content_hash(*row) for row in
                             frame[["title", "subtitle", "body", "tags"]].itertuples(index=False)]
    return frame[[*CORPUS_COLUMNS, *VALIDATION_ONLY]]


def split_duplicates(rows: pd.DataFrame) -> CleanBatch:
    """The batch: the first row of each article id; later rows with that id are duplicates."""
    duplicated = rows["article_id"].duplicated(keep="first")
    return CleanBatch(rows[~duplicated].reset_index(drop=True),
                      rows[duplicated].reset_index(drop=True))


def clean(records: list[Article]) -> CleanBatch:
    return split_duplicates(clean_rows(records))
