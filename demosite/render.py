"""HTML, robots.txt and the truth document of the demo site, rendered from a `DemoSite`."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import datetime, timedelta
from email.utils import format_datetime
from itertools import groupby
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from jinja2 import Environment, FileSystemLoader, select_autoescape

from demosite.corpus import STATES, DemoArticle, DemoSite
from demosite.faults import FAULTS
from demosite.seed import KYIV
from demosite.vocabulary import SOURCES, tag_slug

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html", "xml"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "uk": ("січня", "лютого", "березня", "квітня", "травня", "червня", "липня", "серпня",
           "вересня", "жовтня", "листопада", "грудня"),
}
_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "uk": ("Понеділок", "Вівторок", "Середа", "Четвер", "П'ятниця", "Субота", "Неділя"),
}
FEED_SIZE = 40
TRACKING_QUERY = "?utm_source=telegram&utm_medium=social&utm_campaign=feed"


def date_line(moment: datetime, lang: str = "en") -> str:
    """The page's date line, as the site writes it: "24 January, 2025 Friday"."""
    local = moment.astimezone(KYIV)
    return (f"{local.day} {_MONTHS[lang][local.month - 1]}, {local.year} "
            f"{_WEEKDAYS[lang][local.weekday()]}")


def stamp(moment: datetime) -> str:
    """The newsroom layout's date stamp: "Fri 24 Jan 2025, 10:37" (site time)."""
    local = moment.astimezone(KYIV)
    return (f"{_WEEKDAYS['en'][local.weekday()][:3]} {local.day} "
            f"{_MONTHS['en'][local.month - 1][:3]} {local.year}, {local:%H:%M}")


def _template(site: DemoSite, name: str) -> Any:
    if site.redesigned and name == "article.html":
        return _ENV.get_template("redesign/article.html")
    return _ENV.get_template(name if site.layout == "espreso" else f"{site.layout}/{name}")


def _redesign_share(a: DemoArticle) -> int:
    """0, 1 or 2, stable per article: which structured data it keeps after the redesign."""
    return int(hashlib.sha256(a.slug.encode()).hexdigest(), 16) % 3


def _feed_days(site: DemoSite, articles: tuple[DemoArticle, ...]) -> list[dict[str, Any]]:
    days = []
    for day, group in groupby(articles, key=lambda a: a.published.astimezone(KYIV).date()):
        entries = [{
            "time": a.published.astimezone(KYIV).strftime("%H:%M"),
            "title": a.revision_at(site.as_of).title,
            "href": site.link(a),
            "stamp": stamp(a.published),
            "slug": a.slug,
            "labels": a.labels_at(site.as_of),
            "image_alt": a.image[0] if a.image else None,
        } for a in group]
        days.append({
            "year_line": f"{day.year}, {_WEEKDAYS['en'][day.weekday()]}",
            "day_line": f"{day.day} {_MONTHS['en'][day.month - 1]}",
            "entries": entries,
        })
    return days


def listing(site: DemoSite, page: int, offsite_url: str = "") -> str | None:
    articles = site.listing_page(page)
    if not articles:
        return None
    pinned = None
    if page == 1 and (tracked := site.article(site.tracked_slug)) is not None:
        pinned = {"href": f"/{tracked.slug}{TRACKING_QUERY}",
                  "title": tracked.revision_at(site.as_of).title}
    return _template(site, "listing.html").render(
        lang="en", page_title="News" if page == 1 else f"News, page {page}", pinned=pinned,
        extra_links=ignored_links(site, offsite_url) if page == 1 else [],
        days=_feed_days(site, articles),
        next_page=page + 1 if page < site.page_count else None,
    )


def ignored_links(site: DemoSite, offsite_url: str) -> list[str]:
    """Links of the `links` fault: off the site, to a PDF, to an image (never to request)."""
    if not site.fault_links:
        return []
    return [f"{offsite_url}/world/elsewhere", "/files/annual-report.pdf",
            "/images/front-page.jpg"]


def tag_page(site: DemoSite, slug: str) -> str | None:
    tagged = tuple(a for a in site.visible if slug in {tag_slug(t) for t in a.tags})
    if not tagged:
        return None
    name = next(t for t in tagged[0].tags if tag_slug(t) == slug)
    return _ENV.get_template("tag.html").render(
        lang="en", page_title=name, days=_feed_days(site, tagged[:FEED_SIZE]))


def _jsonld(a: DemoArticle, url: str, image_url: str | None, site: DemoSite,
           published: datetime | None) -> str:
    rev = a.revision_at(site.as_of)
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": rev.title,
        "description": rev.subtitle,
        "datePublished": published.isoformat() if published else None,
        "dateModified": rev.modified.isoformat(),
        "articleSection": a.section,
        "inLanguage": a.lang,
        "keywords": list(a.tags),
        "author": [{"@type": "Person", "name": name} for name in a.authors] or None,
        "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        "publisher": {"@type": "Organization", "name": "Espreso. Global"},
    }
    if image_url:
        data["image"] = {"@type": "ImageObject", "url": image_url}
    data = {k: v for k, v in data.items() if v is not None}
    # "</" would end the script element early; JSON allows the escaped form.
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def body_text(blocks: tuple[tuple[str, str], ...]) -> str:
    """Text blocks as the corpus holds a body: blank-line separated, list items bulleted,
    and runs of spaces (the seed's no-break ones too) as one space."""
    return "\n\n".join(("• " if tag == "li" else "") + " ".join(text.split())
                         for tag, text in blocks)


def _blocks(site: DemoSite, a: DemoArticle) -> tuple[tuple[str, str], ...]:
    """The text blocks as served, with the page's defect, if it has one, written in."""
    blocks = a.revision_at(site.as_of).blocks
    if a.state == "empty_body":
        return ()
    if a.state == "boilerplate":
        return (*blocks[:2], ("p", f"Read also: {site.visible[0].revisions[0].title}"),
                *blocks[2:])
    if a.state == "markup":
        return (("p", "<b>Breaking:</b> " + blocks[0][1]), *blocks[1:])
    return blocks


def _date_line(site: DemoSite, a: DemoArticle) -> str | None:
    if a.state == "missing_date":
        return None
    if site.layout == "newsroom":  # no structured data: the stamp carries the page's defect
        shown = a.published + timedelta(days=6 * 365) if a.state == "future_date" \
            else a.published
        line = stamp(shown)
        if a.state == "weekday_mismatch":
            line = stamp(shown + timedelta(days=1))[:3] + line[3:]
        return line
    line = a.date_line or date_line(a.published, a.lang)
    if a.state == "weekday_mismatch":  # the weekday of the day after
        line = line.rsplit(" ", 1)[0] + " " + date_line(
            a.published + timedelta(days=1), a.lang).rsplit(" ", 1)[1]
    return line


def article(site: DemoSite, a: DemoArticle, base_url: str) -> str:
    rev = a.revision_at(site.as_of)
    url = f"{base_url}/{a.slug}"
    image_url = f"{base_url}/images/{a.slug}.jpg" if a.image else None
    # What structured data says: six years ahead on a future-date page; nothing after a
    # date-layout drift, so that only the (renamed) date line could give the date.
    published: datetime | None = a.published + timedelta(days=6 * 365) \
        if a.state == "future_date" else a.published
    if site.drift in ("date", "undated"):
        published = None
    jsonld, opengraph = a.jsonld, a.opengraph
    if site.redesigned and a.state != "future_date":  # whose structured date is its defect
        # A third keeps JSON-LD, a third OpenGraph only, a third no structured data at all.
        share = _redesign_share(a)
        jsonld, opengraph = jsonld and share == 0, opengraph and share == 1
    return _template(site, "article.html").render(
        lang=a.lang, page_title=rev.title, a=a, rev=rev, url=url, image_url=image_url,
        labels=a.labels_at(site.as_of),
        blocks=_blocks(site, a),
        tags=[(t, tag_slug(t)) for t in a.tags],
        date_line=None if site.drift == "undated" else _date_line(site, a),
        time_line=a.published.astimezone(KYIV).strftime("%H:%M"),
        date_class="article__published-date" if site.drift == "date" else "article__date",
        time_class="article__published-time" if site.drift == "date" else "article__time",
        text_class="article__content" if site.drift == "body" else "article__text",
        published_iso=published.isoformat() if published else None,
        modified_iso=rev.modified.isoformat(),
        jsonld=_jsonld(a, url, image_url, site, published) if jsonld else None,
        opengraph=opengraph,
        days=_feed_days(site, site.visible[:FEED_SIZE]),
    )


def robots(base_url: str) -> str:
    return (f"User-agent: *\nDisallow: /search\nDisallow: /__truth__\nDisallow: /private/\n\n"
            f"Sitemap: {base_url}/sitemap.xml\n")


def validators(site: DemoSite, a: DemoArticle) -> tuple[str, datetime]:
    """ETag and Last-Modified of an article page: they change when its revision does."""
    rev = a.revision_at(site.as_of)
    tag = hashlib.sha1(f"{a.slug}|{rev.modified.isoformat()}|{a.state}".encode()).hexdigest()
    return f'"{tag[:16]}"', rev.modified


def _by_month(site: DemoSite) -> dict[str, list[DemoArticle]]:
    months: dict[str, list[DemoArticle]] = defaultdict(list)
    for a in site.visible:
        months[a.published.astimezone(KYIV).strftime("%Y-%m")].append(a)
    return months


def months(site: DemoSite) -> list[str]:
    """The months (YYYY-MM, Kyiv time) that have a sitemap."""
    return sorted(_by_month(site))


def sitemap_index(site: DemoSite, base_url: str) -> str:
    months = [{"key": key, "lastmod": max(a.revision_at(site.as_of).modified
                                          for a in articles).isoformat()}
              for key, articles in sorted(_by_month(site).items(), reverse=True)]
    return _ENV.get_template("sitemap_index.xml").render(base_url=base_url, months=months)


def sitemap(site: DemoSite, base_url: str, month: str) -> str | None:
    articles = _by_month(site).get(month)
    if not articles:
        return None
    entries = [{"loc": f"{base_url}{site.link(a)}",
                "lastmod": a.revision_at(site.as_of).modified.isoformat(),
                "published": a.published.isoformat(),
                "title": a.revision_at(site.as_of).title} for a in articles]
    return _ENV.get_template("sitemap.xml").render(entries=entries)


def rss(site: DemoSite, base_url: str, size: int = 50) -> str:
    items = [{"title": a.revision_at(site.as_of).title, "link": f"{base_url}{site.link(a)}",
              "pub_date": format_datetime(a.published)} for a in site.visible[:size]]
    return _ENV.get_template("rss.xml").render(base_url=base_url, items=items)


def change_since(site: DemoSite, a: DemoArticle, since: datetime) -> str | None:
    """"new" if published after `since`, "updated" if edited after it, else None."""
    if a.published > since:
        return "new"
    return "updated" if a.revision_at(site.as_of).modified > since else None


def truth(site: DemoSite, base_url: str, since: datetime | None = None,
          offsite_url: str = "", bodies: bool = False) -> dict[str, Any]:
    """What the site serves, and what a correct pipeline must make of each article.

    With `since`, each article also says whether it is new or updated after that moment.
    A faulted article names its fault; its expected state and reason are the fault's.
    With `bodies`, each article also gives its body as the corpus must hold it (asked for
    only by who scores text: at 200k articles it is most of the answer's size).
    """
    articles = []
    for a in site.visible:
        rev = a.revision_at(site.as_of)
        fault = site.faults.get(a.slug)
        expected, reason = (FAULTS[fault].expected, FAULTS[fault].reason) if fault \
            else STATES[a.state]
        articles.append({
            "url": f"{base_url}/{a.slug}",
            "link": f"{base_url}{site.link(a)}",
            "state": a.state,
            "fault": fault,
            "expected": expected,
            "reason": reason,
            "title": rev.title,
            "published_at": a.published.astimezone(KYIV).isoformat(),
            "modified_at": rev.modified.astimezone(KYIV).isoformat(),
            "lang": a.lang,
            "section": a.section,
            "tags": [tag_slug(t) for t in a.tags],
            "authors": list(a.authors),
            "sources": sorted({s for s in SOURCES
                               if any(s in text for _, text in rev.blocks)}),
            "labels": list(a.labels_at(site.as_of)),
            "jsonld": a.jsonld,
            "revisions": len([r for r in a.revisions if r.modified <= site.as_of]),
            **({"change": change_since(site, a, since)} if since else {}),
            **({"body": body_text(rev.blocks)} if bodies else {}),
        })
    counts: dict[str, int] = {}
    for entry in articles:
        expected = str(entry["expected"])
        counts[expected] = counts.get(expected, 0) + 1
    changes: dict[str, int] = {}
    for entry in articles:
        if change := entry.get("change"):
            changes[str(change)] = changes.get(str(change), 0) + 1
    return {
        "base_url": base_url,
        "as_of": site.as_of.isoformat(),
        "seed": site.seed,
        "size": site.size,
        "listing_pages": site.page_count,
        "tracked_url": f"{base_url}/{site.tracked_slug}{TRACKING_QUERY}",
        "articles": articles,
        "expected_counts": counts,
        **({"since": since.isoformat(), "change_counts": changes} if since else {}),
        "page_size": site.page_size,
        "drift": site.drift,
        "redesign_at": site.redesign_at.isoformat() if site.redesign_at else None,
        "redesigned": site.redesigned,
        "states": {state: {"expected": e, "reason": r} for state, (e, r) in STATES.items()},
        "faults": {mode: {"expected": f.expected, "reason": f.reason, "about": f.about,
                          "answers": list(f.answers), "every_attempt": f.every_attempt,
                          "count": sum(e["fault"] == mode for e in articles)}
                   for mode, f in FAULTS.items()},
        "ignored_links": [urljoin(base_url, link)
                          for link in ignored_links(site, offsite_url)],
    }
