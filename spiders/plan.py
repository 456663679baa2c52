"""The crawl plan: what a flow asks of one crawl, written as `plan.json` in the run's folder.

The flow process writes it (`CrawlPlan.write`) and the crawl subprocess reads it
(`CrawlPlan.read`); nothing else spells its keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

Mode = Literal["full", "incremental", "discover", "urls"]
MODES: tuple[Mode, ...] = ("full", "incremental", "discover", "urls")


@dataclass(frozen=True)
class KnownUrl:
    """What the corpus holds of a URL: enough to decide a re-fetch and make it conditional."""

    modified: str | None = None  # ISO time the stored version was last modified
    labels: list[str] = field(default_factory=list)  # listing labels when it was stored
    etag: str | None = None
    last_modified: str | None = None  # the Last-Modified header, as the server sent it


@dataclass(frozen=True)
class CrawlPlan:
    """- `full`: every listing page and every article they link;
    - `incremental`: what is new since `cutoff`, and known URLs that changed;
    - `discover`: list the articles published in [`since`, `until`) without fetching them;
    - `urls`: fetch `urls`."""

    mode: Mode = "full"
    known: dict[str, KnownUrl] = field(default_factory=dict)
    cutoff: datetime | None = None
    since: datetime | None = None
    until: datetime | None = None
    urls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown crawl mode {self.mode!r}; one of {', '.join(MODES)}")
        for name in ("cutoff", "since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"the plan's {name} must carry a time zone: {moment}")

    def write(self, path: Path) -> None:
        # vars, not asdict: asdict deep-copies every known URL (seconds at 200k).
        data = {**vars(self), "known": {url: vars(known) for url, known in self.known.items()}}
        for name in ("cutoff", "since", "until"):
            data[name] = data[name].isoformat() if data[name] else None
        path.write_text(json.dumps(data), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> CrawlPlan:
        data = json.loads(path.read_text(encoding="utf-8"))
        moments = {name: datetime.fromisoformat(data[name]) if data.get(name) else None
                   for name in ("cutoff", "since", "until")}
        return cls(mode=data["mode"], urls=data.get("urls", []),
                   known={url: KnownUrl(**known) for url, known in data["known"].items()},
                   **moments)
