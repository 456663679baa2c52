"""The crawl plan: what a flow asks of one crawl, written as `plan.json` in the run's folder.

The flow process writes it (`CrawlPlan.write`) and the crawl subprocess reads it
(`CrawlPlan.read`); nothing else spells its keys. Its known URLs go beside it, as an Arrow
file (`plan.known.arrow`): an incremental run's plan holds every URL of the site, and as
JSON and one object per URL the plan took seconds to build, write and read at 200k URLs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import cached_property
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc

Mode = Literal["full", "incremental", "discover", "urls"]
MODES: tuple[Mode, ...] = ("full", "incremental", "discover", "urls")


@dataclass(frozen=True)
class KnownUrl:
    """What the corpus holds of a URL: enough to decide a re-fetch and make it conditional."""

    modified: datetime | None = None  # when the stored version was last modified (UTC)
    labels: list[str] = field(default_factory=list)  # listing labels when it was stored
    etag: str | None = None
    last_modified: str | None = None  # the Last-Modified header, as the server sent it

    @property
    def changed_at(self) -> datetime | None:
        """What a sitemap's <lastmod> is compared with: the later of `modified` and
        `last_modified`. A page that states no modified time keeps its published time as
        `modified`, and without the header its edit's <lastmod> would ask for it at every run.
        Parsed here, for the URLs a crawl meets, not in the plan's query: parsing every
        known URL's header there took 0.4 s of a no-change run at 200k URLs."""
        try:
            header = parsedate_to_datetime(self.last_modified) if self.last_modified else None
        except ValueError:  # not an HTTP date: the stored version's time alone
            header = None
        if header is None or header.tzinfo is None:
            return self.modified
        return header if self.modified is None else max(self.modified, header)


KNOWN_SCHEMA = pa.schema([("url", pa.string()), ("modified", pa.timestamp("us", tz="UTC")),
                          ("labels", pa.list_(pa.string())), ("etag", pa.string()),
                          ("last_modified", pa.string())])


class KnownUrls(Mapping[str, KnownUrl]):
    """Known URLs by URL, held as columns (`KNOWN_SCHEMA`); a URL's first row counts.

    A crawl looks up only the URLs its listing pages and sitemaps show, so a `KnownUrl` is
    made only for those. Each page's URLs are looked up together (`meet`), by one pass over
    the URL column in Arrow: at 200k known URLs a pass took 4-6 ms, and the index of every
    URL (a dict) 80-130 ms, which a no-change run, meeting two or three pages, never repays.
    After `PASSES` pages the index is built after all, and serves every lookup."""

    PASSES = 16  # about what one index costs, in passes

    def __init__(self, table: pa.Table | None = None) -> None:
        self.table = KNOWN_SCHEMA.empty_table() if table is None else table.cast(KNOWN_SCHEMA)
        self._rows: dict[str, int] | None = None
        self._met: dict[str, int | None] = {}  # met URLs' rows (None: not known)
        self._passes = 0

    @property
    def rows(self) -> dict[str, int]:
        """Every URL's (first) row."""
        if self._rows is None:
            rows: dict[str, int] = {}
            for row, url in enumerate(self.table.column("url").to_pylist()):
                rows.setdefault(url, row)
            self._rows = rows
        return self._rows

    def meet(self, urls: Iterable[str]) -> None:
        """Look up these URLs (a page's) together, so that their lookups build no index.
        Once the index is built, or after `PASSES` pages, it does nothing: the lookups use
        the index (built at the first lookup of a URL not met)."""
        if self._rows is not None or self._passes >= self.PASSES:
            return
        batch = list(dict.fromkeys(url for url in urls if url not in self._met))
        if not batch:
            return
        self._passes += 1
        found = pc.index_in(self._urls, value_set=pa.array(batch, pa.string()))
        rows = pc.indices_nonzero(pc.is_valid(found))
        met: dict[str, int | None] = dict.fromkeys(batch)
        for row, position in zip(rows.to_pylist(), found.take(rows).to_pylist(), strict=True):
            if met[batch[position]] is None:  # rows come in order: the first one counts
                met[batch[position]] = row
        self._met.update(met)

    @cached_property
    def _urls(self) -> pa.StringArray:
        return self.table.column("url").combine_chunks()

    def __getitem__(self, url: str) -> KnownUrl:
        row = self._met[url] if url in self._met else self.rows[url]
        if row is None:
            raise KeyError(url)
        modified, labels, etag, last_modified = (
            self.table.column(name)[row].as_py()
            for name in ("modified", "labels", "etag", "last_modified"))
        return KnownUrl(modified, labels or [], etag, last_modified)

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def only(self, urls: Iterable[str]) -> KnownUrls:
        """These URLs' rows (those known)."""
        rows = sorted({self.rows[url] for url in urls if url in self.rows})
        return KnownUrls(self.table.take(pa.array(rows, pa.int64())))


@dataclass(frozen=True)
class CrawlPlan:
    """- `full`: every listing page and every article they link;
    - `incremental`: what is new since `cutoff`, and known URLs that changed;
    - `discover`: list the articles published in [`since`, `until`) without fetching them;
    - `urls`: fetch `urls`."""

    mode: Mode = "full"
    known: KnownUrls = field(default_factory=KnownUrls)
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
        """`path` (JSON) and, beside it, its known URLs (`_known_path`)."""
        data = {**vars(self), "known": _known_path(path).name}
        for name in ("cutoff", "since", "until"):
            data[name] = data[name].isoformat() if data[name] else None
        with pa.OSFile(str(_known_path(path)), "wb") as sink, \
                pa.ipc.new_file(sink, KNOWN_SCHEMA) as writer:
            writer.write_table(self.known.table)
        path.write_text(json.dumps(data), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> CrawlPlan:
        data = json.loads(path.read_text(encoding="utf-8"))
        moments = {name: datetime.fromisoformat(data[name]) if data.get(name) else None
                   for name in ("cutoff", "since", "until")}
        with pa.OSFile(str(path.with_name(data["known"]))) as source:
            known = KnownUrls(pa.ipc.open_file(source).read_all())
        return cls(mode=data["mode"], urls=data.get("urls", []), known=known, **moments)


def _known_path(plan: Path) -> Path:
    return plan.with_name(f"{plan.stem}.known.arrow")
