"""Reading listing pages: every entry, under the right day header, with its time and labels."""

from __future__ import annotations

import lxml.html

from demosite import render
from demosite.corpus import KYIV, DemoSite, build_site
from sites import load_profile
from spiders.listing import ListingEntry, ListingReader


def expected_entries(site: DemoSite, page: int) -> list[ListingEntry]:
    entries = []
    for a in site.listing_page(page):
        day = a.published.astimezone(KYIV)
        entries.append(ListingEntry(site.link(a), f"{day.day} {day:%B}, {day.year}",
                                    f"{day:%H:%M}", list(a.labels_at(site.as_of))))
    return entries


def test_a_listing_page_reads_as_the_site_lists_it():
    site = build_site(120)
    reader = ListingReader(load_profile("demo", "http://127.0.0.1:1").listing)
    first = lxml.html.fromstring(render.listing(site, 1))
    entries = list(reader.entries(first))
    # Page one pins the tracked link above the feed: no day, no time, a label.
    assert entries[0].href == f"/{site.tracked_slug}{render.TRACKING_QUERY}"
    assert (entries[0].day, entries[0].clock, entries[0].labels) == (None, None, ["Top"])
    assert entries[1:] == expected_entries(site, 1)
    assert reader.next_href(first) == "/news?page=2"
    last_page = site.page_count
    last = lxml.html.fromstring(render.listing(site, last_page))
    assert list(reader.entries(last)) == expected_entries(site, last_page)
    assert reader.next_href(last) is None
