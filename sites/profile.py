"""Loading site profiles from TOML.

A profile may `extends` another and override any table key, so the demo site reuses the
espreso layout with its own base URL and crawl pace.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

PROFILE_DIR = Path(__file__).parent


class BadBaseUrlError(ValueError):
    """A base URL the crawler must not use: not http(s), no host, or with credentials."""


class UnknownSiteError(ValueError):
    """Raised for a site name with no profile file."""


@dataclass(frozen=True)
class SiteProfile:
    name: str
    title: str
    base_url: str
    timezone: str
    languages: tuple[str, ...]
    founded: date
    listing: dict[str, str]
    discovery: dict[str, Any]
    article: dict[str, str]
    dates: dict[str, Any]
    crawl: dict[str, Any]

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def host(self) -> str:
        return re.sub(r"^https?://", "", self.base_url).split("/")[0].lower()

    def listing_url(self, page: int) -> str:
        return self.base_url + self.listing["url"].format(page=page)

    @property
    def sitemap_url(self) -> str | None:
        path = self.discovery.get("sitemap")
        return self.base_url + path if path else None


def profile_dirs() -> list[Path]:
    """Where profiles are looked up: the folders in $NEWSCORPUS_SITES (separated by
    os.pathsep), then the built-in ones. A team keeps its own sites out of the package."""
    extra = os.environ.get("NEWSCORPUS_SITES", "")
    return [Path(p) for p in extra.split(os.pathsep) if p] + [PROFILE_DIR]


def available_sites() -> list[str]:
    return sorted({p.stem for folder in profile_dirs() for p in folder.glob("*.toml")})


def _read(name: str) -> dict[str, Any]:
    path = next((f / f"{name}.toml" for f in profile_dirs() if (f / f"{name}.toml").is_file()),
                None)
    if path is None:
        raise UnknownSiteError(
            f"unknown site {name!r}; known sites: {', '.join(available_sites())}")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    parent = data.pop("extends", None)
    if parent is None:
        return data
    merged = _read(parent)
    for key, value in data.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
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


def load_profile(name: str, base_url: str | None = None) -> SiteProfile:
    data = _read(name)
    if base_url:
        data["base_url"] = base_url
    return SiteProfile(
        name=data["name"],
        title=data["title"],
        base_url=check_base_url(data["base_url"]) if data["base_url"] else "",
        timezone=data["timezone"],
        languages=tuple(data["languages"]),
        founded=date.fromisoformat(data["founded"]),
        listing=data.get("listing", {}),
        discovery=data.get("discovery", {}),
        article=data.get("article", {}),
        dates=data["dates"],
        crawl=data["crawl"],
    )
