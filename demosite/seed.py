"""The captured Espreso Global page, parsed into the demo site's first article and its feed.

The text in `seed_page.txt` is the page as a reader saw it on 2025-02-10. The demo site serves
that article verbatim and turns the "Read also" feed into real listing entries, so the first
listing pages mirror what the live site showed at that moment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

KYIV = ZoneInfo("Europe/Kyiv")
SEED_FILE = Path(__file__).with_name("seed_page.txt")
LABELS = ("Exclusive", "Review", "Updated")
_TIME = re.compile(r"^\d{2}:\d{2}$")
_YEAR_LINE = re.compile(r"^(\d{4}), \w+$")
_MONTHS = {m: i for i, m in enumerate(
    ["January", "February", "March", "April", "May", "June", "July", "August",
     "September", "October", "November", "December"], start=1)}


@dataclass(frozen=True)
class SeedArticle:
    title: str
    date_line: str
    time_line: str
    published: datetime
    lead: str
    template_key: str
    blocks: tuple[tuple[str, str], ...]  # ("p" | "h2" | "li", text)


@dataclass(frozen=True)
class FeedEntry:
    published: datetime
    title: str
    label: str | None
    image_alt: str | None


def _parse_day(day_line: str, year: int) -> date:
    day, month = day_line.split()
    return date(year, _MONTHS[month], int(day))


def _is_subheading(line: str) -> bool:
    # Subheadings are short and carry no sentence punctuation ("Issue of trust").
    return len(line) < 60 and not re.search(r"[.!?:;,”\"]$", line)


@cache
def seed_page() -> tuple[SeedArticle, tuple[FeedEntry, ...]]:
    lines = [line.rstrip() for line in SEED_FILE.read_text(encoding="utf-8").split("\n")]
    # The captured page's fixed head: site name, title, date line, time, lead, template key.
    title, date_line, time_line, lead, template_key = (lines[i] for i in (2, 4, 5, 7, 9))
    day_part, _weekday = date_line.rsplit(" ", 1)
    day_month, year = day_part.split(", ")
    published = datetime.combine(
        _parse_day(day_month, int(year)), time.fromisoformat(time_line), tzinfo=KYIV
    )
    tags_at = lines.index("Tags:")
    blocks: list[tuple[str, str]] = []
    for line in lines[11:tags_at]:
        text = line.strip()
        if not text:
            continue
        if text.startswith("•"):
            blocks.append(("li", text.lstrip("• ").strip()))
        elif _is_subheading(text):
            blocks.append(("h2", text))
        else:
            blocks.append(("p", text))
    article = SeedArticle(title, date_line, time_line, published, lead, template_key, tuple(blocks))
    return article, tuple(_parse_feed(lines[lines.index("Read also:") + 2:]))


def _parse_feed(lines: list[str]) -> list[FeedEntry]:
    entries: list[FeedEntry] = []
    year, day, pending = 0, None, None
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line == "More news":
            break
        if match := _YEAR_LINE.match(line):
            year = int(match.group(1))
            day = _parse_day(lines[i + 1].strip(), year)
            i += 2
            continue
        if _TIME.match(line) and day is not None:
            pending = datetime.combine(day, time.fromisoformat(line), tzinfo=KYIV)
            extra: list[str] = []
            i += 1
            while i < len(lines) and not _TIME.match(lines[i].strip()) \
                    and not _YEAR_LINE.match(lines[i].strip()) and lines[i].strip() != "More news":
                extra.append(lines[i].strip())
                i += 1
            title = extra[-1]
            label = next((x for x in extra[:-1] if x in LABELS), None)
            alt = next((x for x in extra[:-1] if x not in LABELS), None)
            entries.append(FeedEntry(pending, title, label, alt))
            continue
        i += 1
    return entries
