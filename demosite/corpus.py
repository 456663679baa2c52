"""A deterministic news corpus for the demo site.

Everything is a pure function of (seed, size): the same arguments give the same articles,
the same faults at the same places, and the same truth. Articles carry revisions with their
own timestamps, and the site is always looked at "as of" a moment, so time travel, sitemaps,
RSS and fault modes are views over this one model rather than separate generators.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property

from demosite import faults as fault_modes
from demosite import vocabulary as vocab
from demosite.seed import KYIV, seed_page
from demosite.vocabulary import slugify

# The moment the seed page was captured: its newest feed entry is 12:28 that day.
DEFAULT_AS_OF = datetime(2025, 2, 10, 12, 30, tzinfo=KYIV)
DEFAULT_ARTICLES = 300
DEFAULT_SEED = 7
MIN_ARTICLES = 50

Block = tuple[str, str]  # ("p" | "h2" | "li", text)

# How a page misbehaves: the state the pipeline must give it, and the reason it must record
# (the `reason` of the expectation in expectations/articles.json, or the fetch error).
STATES: dict[str, tuple[str, str | None]] = {
    "ok": ("loaded", None),
    "not_found": ("failed", "HTTP 404"),  # the listing links to a page that answers 404
    "empty_body": ("quarantined", "body is empty"),  # the text block is empty
    "missing_date": ("quarantined", "published_at is missing"),  # no date anywhere
    "future_date": ("quarantined", "published_at is in the future or before the site existed"),
    "boilerplate": ("quarantined", "body contains boilerplate"),  # "Read also:" in the text
    "markup": ("quarantined", "body contains markup"),  # escaped tags shown as text
    "weekday_mismatch": ("quarantined", "the date line's weekday disagrees with its date"),
}
BAD_STATES = tuple(state for state in STATES if state != "ok")
# Layout drift of every article page: the date elements renamed and no structured dates
# (`date`), the text block renamed (`body`): both recoverable from the page. `undated`: no
# date line and no structured date at all, which nothing can recover.
DRIFTS = ("date", "body", "undated")
# Whole layouts: the espreso mirror, and "newsroom", the same articles in other markup (no
# structured data, other classes, a one-line date stamp) for a profile written as data only.
LAYOUTS = ("espreso", "newsroom")


@dataclass(frozen=True)
class Revision:
    modified: datetime
    title: str
    subtitle: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class DemoArticle:
    index: int
    slug: str
    published: datetime
    section: str
    lang: str
    tags: tuple[str, ...]
    labels: tuple[str, ...]
    revisions: tuple[Revision, ...]
    image: tuple[str, str] | None = None  # (alt, caption)
    jsonld: bool = True
    opengraph: bool = True
    template_key: str | None = None
    state: str = "ok"
    date_line: str | None = None  # the seed's own date line, verbatim
    authors: tuple[str, ...] = ()

    def revision_at(self, moment: datetime) -> Revision:
        return [r for r in self.revisions if r.modified <= moment][-1]

    def labels_at(self, moment: datetime) -> tuple[str, ...]:
        updated = self.revision_at(moment) is not self.revisions[0]
        return self.labels + (("Updated",) if updated and "Updated" not in self.labels else ())


@dataclass(frozen=True)
class DemoSite:
    """The whole corpus, looked at as of one moment."""

    articles: tuple[DemoArticle, ...]
    as_of: datetime
    tracked_slug: str  # the article also linked with tracking parameters
    seed: int
    size: int
    page_size: int = 20
    drift: str | None = None  # one of DRIFTS: every article page changes its layout
    faults: dict[str, str] = field(default_factory=dict, compare=False)  # slug -> fault mode
    fault_links: bool = False  # the listing also links off the site and to files (`links`)
    layout: str = "espreso"  # one of LAYOUTS
    # From this moment on (as the site is looked at: `as_of`), article pages are served in the
    # redesigned markup: other class names, less structured data, the feed inside the article.
    redesign_at: datetime | None = None
    by_slug: dict[str, DemoArticle] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_slug", {a.slug: a for a in self.articles})

    def at(self, moment: datetime) -> DemoSite:
        """The same corpus, as it stood at `moment` (time travel)."""
        if moment.tzinfo is None:
            raise ValueError("the as-of moment needs a time zone offset")
        return replace(self, as_of=moment)

    def drifted(self, drift: str | None) -> DemoSite:
        """The same corpus with its article layout changed (see DRIFTS), or restored."""
        if drift is not None and drift not in DRIFTS:
            raise ValueError(f"unknown drift {drift!r}; one of {', '.join(DRIFTS)}")
        return replace(self, drift=drift)

    def redesigned_at(self, moment: datetime | None) -> DemoSite:
        """The same corpus, whose article pages change markup at `moment` (None: never)."""
        if moment is not None and moment.tzinfo is None:
            raise ValueError("the redesign moment needs a time zone offset")
        return replace(self, redesign_at=moment)

    @property
    def redesigned(self) -> bool:
        """Whether the site, as of `as_of`, serves its articles in the redesigned markup."""
        return self.redesign_at is not None and self.as_of >= self.redesign_at

    def with_layout(self, layout: str) -> DemoSite:
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; one of {', '.join(LAYOUTS)}")
        return replace(self, layout=layout)

    def with_faults(self, spec: dict[str, float]) -> DemoSite:
        """The same corpus with fault modes (demosite.faults) on some of its healthy articles.

        The seed article and the one linked with tracking parameters are never faulted.
        """
        candidates = [(a.slug, a.lang) for a in self.articles
                      if a.state == "ok" and a.index != 0 and a.slug != self.tracked_slug]
        return replace(self, faults=fault_modes.assign(candidates, spec, self.seed, self.size),
                       fault_links=spec.get(fault_modes.LINKS, 0) > 0)

    def link(self, a: DemoArticle) -> str:
        """The path the site links the article under (a faulted link's differs)."""
        prefix = fault_modes.LINK_PREFIXES.get(self.faults.get(a.slug, ""), "/")
        return f"{prefix}{a.slug}"

    @cached_property
    def visible(self) -> tuple[DemoArticle, ...]:
        """Articles published by `as_of`, newest first, as the listing shows them."""
        shown = [a for a in self.articles if a.published <= self.as_of]
        return tuple(sorted(shown, key=lambda a: (-a.published.timestamp(), a.index)))

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(len(self.visible) / self.page_size))

    def listing_page(self, page: int) -> tuple[DemoArticle, ...]:
        start = (page - 1) * self.page_size
        return self.visible[start:start + self.page_size]

    def article(self, slug: str) -> DemoArticle | None:
        found = self.by_slug.get(slug)
        return found if found is not None and found.published <= self.as_of else None


def _with_update(original: Revision, after: timedelta,
                 rng: random.Random) -> tuple[Revision, Revision]:
    """The original text, and an edit `after` it that appends an update note."""
    edit = Revision(original.modified + after, original.title, original.subtitle,
                    (*original.blocks, ("p", vocab.update_note(rng))))
    return original, edit


def _seed_articles() -> list[DemoArticle]:
    seed_article, feed = seed_page()
    articles = [
        DemoArticle(
            index=0,
            slug=slugify(seed_article.title),
            published=seed_article.published,
            section="News",
            lang="en",
            tags=(),
            labels=(),
            revisions=(Revision(seed_article.published, seed_article.title,
                                seed_article.lead, seed_article.blocks),),
            image=None,
            template_key=seed_article.template_key,
            date_line=seed_article.date_line,
        )
    ]
    rng = random.Random("seed-feed")
    for i, entry in enumerate(feed, start=1):
        original = Revision(entry.published, entry.title, vocab.subtitle(rng), vocab.body(rng))
        revisions: tuple[Revision, ...] = (original,)
        if entry.label == "Updated":
            revisions = _with_update(original, timedelta(hours=1, minutes=15), rng)
        articles.append(DemoArticle(
            index=i,
            slug=slugify(entry.title),
            published=entry.published,
            section=rng.choice(vocab.SECTIONS),
            lang="en",
            tags=vocab.tags(rng),
            labels=(entry.label,) if entry.label and entry.label != "Updated" else (),
            revisions=revisions,
            image=(entry.image_alt, entry.image_alt) if entry.image_alt else None,
        ))
    return articles


def _pick(rng: random.Random, pool: list[int], count: int) -> set[int]:
    chosen = set(rng.sample(pool, min(count, len(pool))))
    pool[:] = [i for i in pool if i not in chosen]
    return chosen


def build_site(size: int = DEFAULT_ARTICLES, seed: int = DEFAULT_SEED,
               as_of: datetime = DEFAULT_AS_OF) -> DemoSite:
    """Build the corpus: the seed article and its feed, then `size` articles in all."""
    if size < MIN_ARTICLES:
        raise ValueError(f"the demo site needs at least {MIN_ARTICLES} articles, got {size}")
    articles = _seed_articles()
    rng = random.Random(seed)
    generated = size - len(articles)
    oldest_feed = min(a.published for a in articles[1:])
    days = max(30, math.ceil(generated / 50))
    step = timedelta(days=days) / generated
    indices = list(range(len(articles), len(articles) + generated))
    rare = max(1, generated // 200)
    pool = list(indices)
    bad = {state: _pick(rng, pool, rare) for state in BAD_STATES}
    ukrainian = _pick(rng, pool, max(1, generated // 100))
    tracked = min(_pick(rng, pool, 1))
    updated = _pick(rng, pool, max(1, generated * 5 // 100))
    leaked = _pick(rng, pool, max(1, generated // 20))

    for n, index in enumerate(indices, start=1):
        published = (oldest_feed - step * n - timedelta(minutes=rng.randint(0, 9)))
        published = published.replace(second=0, microsecond=0)
        lang = "uk" if index in ukrainian else "en"
        title = vocab.title(rng, lang)
        original = Revision(published, title, vocab.subtitle(rng, lang), vocab.body(rng, lang))
        revisions: tuple[Revision, ...] = (original,)
        if index in updated:
            # Half the edits come within a day, half days later (late corrections).
            delay = rng.randint(2, 30) if rng.random() < 0.5 else rng.randint(24, 144)
            revisions = _with_update(original, timedelta(hours=delay), rng)
        state = next((s for s, chosen in bad.items() if index in chosen), "ok")
        articles.append(DemoArticle(
            index=index,
            slug=f"{slugify(title) or 'novyna'}-{index}",
            published=published,
            section=rng.choice(vocab.SECTIONS),
            lang=lang,
            tags=vocab.tags(rng, lang),
            labels=vocab.labels(rng),
            revisions=revisions,
            image=vocab.image(rng),
            jsonld=(rng.random() < 0.85 or state == "future_date") and state != "missing_date",
            opengraph=rng.random() < 0.85 and state not in ("missing_date", "future_date"),
            template_key=rng.choice(vocab.TEMPLATE_KEYS) if index in leaked else None,
            state=state,
            authors=vocab.authors(index, seed),
        ))
    tracked_slug = next(a.slug for a in articles if a.index == tracked)
    return DemoSite(tuple(articles), as_of, tracked_slug, seed, size)
