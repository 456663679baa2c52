"""Reading a listing page: each entry's link, time and labels, under the day header it follows.

The profile's CSS selectors are compiled to XPath once per crawl and run on the page's lxml
tree. Through parsel, every field of every entry was a fresh XPath compilation and a Selector
per match: a listing page cost as much CPU as ten article fetches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree
from parsel.csstranslator import css2xpath

from sites.profile import ListingLayout


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

    def __init__(self, listing: ListingLayout) -> None:
        day = listing.day
        self._nodes = _compile(f"{day}, {listing.entry}" if day else listing.entry)
        # A day header's (test, date, year) XPaths, when entries are grouped under day headers.
        self._day = (_compile(listing.day_date), _compile(f"{listing.day_date}::text"),
                     _compile(f"{listing.day_year}::text")) if day else None
        self._link = _compile(f"{listing.link}::attr(href)")
        self._time = _compile(f"{listing.time}::text") if listing.time else _nothing
        self._label = _compile(f"{listing.label}::text") if listing.label else _nothing
        self._next = _compile(f"{listing.next}::attr(href)") if listing.next else _nothing

    def entries(self, root: Any) -> Iterator[ListingEntry]:
        """The entries of the page whose lxml tree is `root`, in document order."""
        day: str | None = None
        for node in self._nodes(root):
            if self._day is not None and self._day[0](node):
                _, day_date, day_year = self._day
                year = re.search(r"\d{4}", _first(day_year, node) or "")
                date = (_first(day_date, node) or "").strip()
                day = f"{date}, {year.group(0)}" if year else None
                continue
            if href := _first(self._link, node):
                yield ListingEntry(href, day, _first(self._time, node),
                                   [label.strip() for label in self._label(node)])

    def next_href(self, root: Any) -> str | None:
        """The link to the next (older) listing page, if the page has one."""
        return _first(self._next, root)


def _nothing(node: Any) -> list[Any]:
    """A selector the profile leaves out matches nothing."""
    return []


def _first(xpath: Callable[[Any], list[Any]], node: Any) -> str | None:
    found = xpath(node)
    return str(found[0]) if found else None
