"""Site profiles, loaded from TOML into typed sections and checked as they load.

A profile may `extends` another and override any table key, so the demo site reuses the
espreso layout with its own base URL and crawl pace. A profile with a missing or misspelt
key, a value of the wrong type, a bad pattern or an unknown time zone fails to load with one
`ProfileError` that names the file and the key: a crawl never starts on a broken profile.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config

from sites.urls import on_site

PROFILE_DIR = Path(__file__).parent
_STRICT_KEYS = ConfigDict(extra="forbid")


class ProfileError(ValueError):
    """A profile that cannot be used: the message names its file and the key at fault."""


class UnknownSiteError(ProfileError):
    """Raised for a site name with no profile file."""


class BadBaseUrlError(ValueError):
    """A base URL the crawler must not use: not http(s), no host, or with credentials."""


@with_config(_STRICT_KEYS)
@dataclass(frozen=True)
class ListingLayout:
    """The latest-first listing pages (`[listing]`); `url` empty: the site has none."""

    url: str = ""  # path with {page}, starting at 1
    entry: str = ""  # CSS of one entry (and, with `day`, of the day headers between them)
    link: str = ""  # the entry's link to the article
    time: str = ""  # the entry's time of day
    label: str = ""  # the entry's labels ("Updated", …)
    next: str = ""  # the link to the next page
    day: str = ""  # a day header, when entries are grouped under them
    day_year: str = ""
    day_date: str = ""


@with_config(_STRICT_KEYS)
@dataclass(frozen=True)
class Discovery:
    """Where article URLs are found besides the listing (`[discovery]`); empty: none."""

    sitemap: str = ""
    rss: str = ""
    # Incremental runs look back this far behind the newest article already in the corpus.
    overlap_minutes: int = 60


# The layers extraction tries for each field, in its default order (extract/article.py; a
# test holds the two together): what `<field>_layers` may name.
LAYERS: dict[str, tuple[str, ...]] = {
    "title": ("jsonld", "microdata", "meta", "selector", "learned", "generic"),
    "subtitle": ("jsonld", "microdata", "meta", "selector", "learned"),
    "body": ("jsonld", "microdata", "selector", "learned", "generic", "trafilatura"),
    "section": ("jsonld", "meta", "selector"),
    "lang": ("jsonld", "meta", "generic"),
    "published_at": ("jsonld", "microdata", "meta", "selector", "learned", "time", "dateline",
                     "textdate", "htmldate"),
    "modified_at": ("jsonld", "microdata", "meta"),
    "tags": ("selector", "learned", "generic", "jsonld", "meta"),
    "authors": ("jsonld", "microdata", "meta", "selector", "generic"),
    "image_url": ("jsonld", "meta", "selector"),
}


@with_config(_STRICT_KEYS)
@dataclass(frozen=True)
class ArticleLayout:
    """The site's CSS selectors for article fields (`[article]`); empty: not known.

    `<field>_layers` keys (say `body_layers = ["trafilatura", "jsonld"]`) reorder the
    extraction layers of a field; they are gathered in `layers`.
    """

    title: str = ""
    subtitle: str = ""
    date: str = ""  # the date line, "24 January, 2025 Friday"
    time: str = ""  # the time line, "12:37"
    body: str = ""
    tags: str = ""  # links to /tag/<slug>
    authors: str = ""
    labels: str = ""
    section: str = ""
    image: str = ""
    caption: str = ""
    page_end: str = ""  # what every whole page ends with; a page without it was cut off
    layers: dict[str, tuple[str, ...]] = field(default_factory=dict)


@with_config(_STRICT_KEYS)
@dataclass(frozen=True)
class DateRules:
    """How the site prints dates (`[dates]`): regexes with named groups, month names per
    language (January first), weekday names per language (Monday first)."""

    pattern: str  # groups day, month, year
    time_pattern: str  # groups hour, minute
    months: tuple[tuple[str, ...], ...]
    weekdays: tuple[tuple[str, ...], ...] = ()


@with_config(_STRICT_KEYS)
@dataclass(frozen=True)
class CrawlSettings:
    """Politeness and limits of a crawl (`[crawl]`)."""

    user_agent: str
    autothrottle: bool
    download_delay: float
    concurrent_requests: int
    max_page_bytes: int
    download_timeout: float
    retries: int
    retry_backoff: float
    retry_after_max: float


@dataclass(frozen=True)
class SiteProfile:
    name: str
    title: str
    base_url: str
    timezone: str
    languages: tuple[str, ...]
    founded: date  # the earliest publication date the site can have
    listing: ListingLayout
    discovery: Discovery
    article: ArticleLayout
    dates: DateRules
    crawl: CrawlSettings
    # Selectors learned from the site's own pages (`newscorpus sites calibrate --save`), kept
    # beside the runtime data as versions; the newest one is this layer (empty: none).
    learned: ArticleLayout = field(default_factory=ArticleLayout)
    learned_version: int | None = None

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def host(self) -> str:
        return re.sub(r"^https?://", "", self.base_url).split("/")[0].lower()

    def listing_url(self, page: int) -> str:
        return self.base_url + self.listing.url.format(page=page)

    @property
    def sitemap_url(self) -> str | None:
        return self.base_url + self.discovery.sitemap if self.discovery.sitemap else None

    @property
    def rss_url(self) -> str | None:
        return self.base_url + self.discovery.rss if self.discovery.rss else None


def learned_dir(name: str) -> Path:
    """Where the learned layers of a site are kept: `<data dir>/learned/<site>/v<N>.toml`."""
    from config.settings import data_dir

    return data_dir() / "learned" / name


def learned_versions(name: str) -> list[tuple[int, Path]]:
    found = [(int(p.stem[1:]), p) for p in learned_dir(name).glob("v*.toml")
             if p.stem[1:].isdigit()]
    return sorted(found)


def _learned(name: str) -> tuple[ArticleLayout, int | None]:
    versions = learned_versions(name)
    if not versions:
        return ArticleLayout(), None
    version, path = versions[-1]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProfileError(f"{path}: not valid TOML: {error}") from None
    return _section(ArticleLayout, data.get("article", {}), "article", path), version


def profile_dirs() -> list[Path]:
    """Where profiles are looked up: the folders in $NEWSCORPUS_SITES (separated by
    os.pathsep), then the built-in ones. A team keeps its own sites out of the package."""
    extra = os.environ.get("NEWSCORPUS_SITES", "")
    return [Path(p) for p in extra.split(os.pathsep) if p] + [PROFILE_DIR]


def available_sites() -> list[str]:
    return sorted({p.stem for folder in profile_dirs() for p in folder.glob("*.toml")})


def profile_path(name: str) -> Path:
    path = next((f / f"{name}.toml" for f in profile_dirs() if (f / f"{name}.toml").is_file()),
                None)
    if path is None:
        raise UnknownSiteError(
            f"unknown site {name!r}; known sites: {', '.join(available_sites())}")
    return path


def _read(name: str, chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """The profile's tables, merged over those of the profile it extends."""
    if name in chain:
        raise ProfileError(f"{profile_path(chain[0])}: `extends` loops: "
                           + " -> ".join((*chain, name)))
    path = profile_path(name)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProfileError(f"{path}: not valid TOML: {error}") from None
    parent = data.pop("extends", None)
    if parent is None:
        return data
    merged = _read(parent, (*chain, name))
    for key, value in data.items():
        inherited = merged.get(key, {})
        both_tables = isinstance(value, dict) and isinstance(inherited, dict)
        merged[key] = {**inherited, **value} if both_tables else value  # else: ours, checked
    return merged


def check_base_url(url: str) -> str:
    """The base URL without a trailing slash, or a clear error.

    Credentials are refused rather than hidden: a base URL is logged, stored in every run's
    row and in Prefect's flow-run parameters, so a password in it would leak everywhere.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadBaseUrlError(f"base URL {url!r} must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise BadBaseUrlError("base URL must not carry credentials (user:password@): they "
                              "would be logged and stored with every run")
    if parts.query or parts.fragment:
        raise BadBaseUrlError(f"base URL {url!r} must not have a query or fragment")
    return url.rstrip("/")


T = TypeVar("T")


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}  # building one costs ms: once per type


def _adapter(kind: type[T]) -> TypeAdapter[T]:
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    adapter: TypeAdapter[T] = _ADAPTERS[kind]
    return adapter


def _section(kind: type[T], data: dict[str, Any], table: str, path: Path) -> T:
    """One table of the profile as its typed section, or a ProfileError naming the key."""
    try:
        return _adapter(kind).validate_python(data)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "?"
        where = f"[{table}] {key}" if table else key
        message = "unknown key" if first["type"] == "unexpected_keyword_argument" \
            else first["msg"].lower()
        raise ProfileError(f"{path}: {where}: {message}") from None


def _article(data: dict[str, Any], path: Path) -> ArticleLayout:
    selectors = {k: v for k, v in data.items() if not k.endswith("_layers")}
    layers = {k.removesuffix("_layers"): v for k, v in data.items() if k.endswith("_layers")}
    layout = _section(ArticleLayout, {**selectors, "layers": layers}, "article", path)
    for name, order in layout.layers.items():
        if name not in LAYERS:
            raise ProfileError(f"{path}: [article] {name}_layers: unknown key")
        if unknown := [layer for layer in order if layer not in LAYERS[name]]:
            raise ProfileError(f"{path}: [article] {name}_layers: unknown layer {unknown[0]!r}"
                               f" (one of {', '.join(LAYERS[name])})")
    return layout


def _check_patterns(rules: DateRules, path: Path) -> None:
    for key, groups in (("pattern", {"day", "month", "year"}),
                        ("time_pattern", {"hour", "minute"})):
        try:
            named = set(re.compile(getattr(rules, key)).groupindex)
        except re.error as error:
            raise ProfileError(f"{path}: [dates] {key}: not a regular expression ({error})") \
                from None
        if not groups <= named:
            raise ProfileError(f"{path}: [dates] {key}: needs the named groups "
                               + ", ".join(sorted(groups - named)))
    if any(len(names) != 12 for names in rules.months):
        raise ProfileError(f"{path}: [dates] months: each list names 12 months")
    if any(len(names) != 7 for names in rules.weekdays):
        raise ProfileError(f"{path}: [dates] weekdays: each list names 7 days, Monday first")


def load_profile(name: str, base_url: str | None = None) -> SiteProfile:
    """The profile called `name`, with `base_url` in place of its own when given."""
    path = profile_path(name)
    data = _read(name)
    if base_url:
        data["base_url"] = base_url
    tables = {"listing", "discovery", "article", "dates", "crawl"}
    top = {f.name for f in fields(SiteProfile)} - tables - {"learned", "learned_version"}
    if unknown := sorted(set(data) - top - tables):
        raise ProfileError(f"{path}: unknown key {unknown[0]}")
    if missing := sorted(top - set(data)):
        raise ProfileError(f"{path}: missing key {missing[0]}")
    if not_tables := sorted(t for t in tables if not isinstance(data.get(t, {}), dict)):
        raise ProfileError(f"{path}: {not_tables[0]}: must be a table ([{not_tables[0]}])")
    listing = _section(ListingLayout, data.get("listing", {}), "listing", path)
    if listing.url and not (listing.entry and listing.link):
        raise ProfileError(f"{path}: [listing] a listing url needs entry and link selectors")
    dates = _section(DateRules, data.get("dates", {}), "dates", path)
    _check_patterns(dates, path)
    try:
        ZoneInfo(str(data["timezone"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise ProfileError(f"{path}: timezone: unknown time zone {data['timezone']!r}") from None
    learned, version = _learned(name)
    profile = _section(SiteProfile, {
        **{key: data[key] for key in top},
        "learned": learned, "learned_version": version, "listing": listing, "dates": dates,
        "discovery": _section(Discovery, data.get("discovery", {}), "discovery", path),
        "article": _article(data.get("article", {}), path),
        "crawl": _section(CrawlSettings, data.get("crawl", {}), "crawl", path)}, "", path)
    if not profile.base_url:
        return profile
    try:
        return replace(profile, base_url=check_base_url(profile.base_url))
    except BadBaseUrlError as error:
        if base_url:  # the caller's, not the file's
            raise
        raise ProfileError(f"{path}: base_url: {error}") from None


def profile_for(url: str, profiles: Iterable[SiteProfile], fallback: SiteProfile) -> SiteProfile:
    """The first of `profiles` whose site holds `url` (subdomains included), else `fallback`:
    how a page from a file, not from a crawl, finds the profile to extract it with."""
    return next((p for p in profiles if p.base_url and on_site(url, p.host)), fallback)
