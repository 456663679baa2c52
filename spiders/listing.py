"""Reading a listing page: each entry's link, time and labels, under the day header it follows.

The profile's CSS selectors are compiled to XPath once per crawl and run on the page's lxml
tree. Through parsel, every field of every entry was a fresh XPath compilation and a Selector
per match: a listing page cost as much CPU as ten article fetches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree
from parsel.csstranslator import css2xpath


@dataclass(frozen=True)
class ListingEntry:
    href: str
    day: str | None  # the day header above the entry, as "10 February, 2025"
    clock: str | None  # the entry's time of day, as shown
    labels: list[str]


def _compile(css: str) -> Callable[[Any], list[Any]]:
    return etree.XPath(css2xpath(css), smart_strings=False)


class ListingReader:
    """The listing layout of one profile (its `[listing]` table), compiled."""

    def __init__(self, listing: Mapping[str, str]) -> None:
        day = listing.get("day")
        self._nodes = _compile(f"{day}, {listing['entry']}" if day else listing["entry"])
        self._is_day = _compile(listing["day_date"]) if day else None
        self._day_date = _compile(f"{listing['day_date']}::text") if day else None
        self._day_year = _compile(f"{listing['day_year']}::text") if day else None
        self._link = _compile(f"{listing['link']}::attr(href)")
        self._time = _compile(f"{listing['time']}::text")
        self._label = _compile(f"{listing['label']}::text")
        self._next = _compile(f"{listing['next']}::attr(href)")

    def entries(self, root: Any) -> Iterator[ListingEntry]:
        """The entries of the page whose lxml tree is `root`, in document order."""
        day: str | None = None
        for node in self._nodes(root):
            if self._is_day is not None and self._is_day(node):
                year = re.search(r"\d{4}", _first(self._day_year, node) or "")
                date = (_first(self._day_date, node) or "").strip()
                day = f"{date}, {year.group(0)}" if year else None
                continue
            if href := _first(self._link, node):
                yield ListingEntry(href, day, _first(self._time, node),
                                   [label.strip() for label in self._label(node)])

    def next_href(self, root: Any) -> str | None:
        """The link to the next (older) listing page, if the page has one."""
        return _first(self._next, root)


def _first(xpath: Callable[[Any], list[Any]], node: Any) -> str | None:
    found = xpath(node)
    return str(found[0]) if found else None
