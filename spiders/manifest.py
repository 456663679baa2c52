"""The crawl manifest: one JSON line per event, beside the crawl's WARC file.

This module is the manifest's one writer and one reader. Events:
- `Discovered`: an article URL was found (with what the listing or sitemap said of it);
- `Fetched`: a URL's final answer was archived (status, WARC offset and length); `requested`
  is the URL first asked for, which differs from `url` after redirects, and `hops` are the
  offsets of the answers archived on the way (redirects, retried 5xx and 429);
- `Failed`: a request ended without a final answer (error text, and `hops` as above);
- `Notice`: something the run's summary should tell (say, a listing whose entries the
  profile's selectors no longer find).

A line is written only after its WARC record is complete and flushed, so a reader that goes by
the manifest never meets a partial record. A line without its newline is still being written
(or was torn by a crash): readers never parse it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

MANIFEST_NAME = "manifest.jsonl"


@dataclass(frozen=True)
class Discovered:
    url: str
    at: str
    via: str = ""  # what found it: "listing", "sitemap", "rss" or "plan"
    listing_url: str | None = None  # the page that linked it
    labels: list[str] = field(default_factory=list)
    listed_time: str | None = None  # ISO time the listing showed
    published: str | None = None  # ISO publication time a sitemap or listing gave


@dataclass(frozen=True)
class Fetched:
    url: str
    requested: str
    kind: str  # "article", "listing", "sitemap", "other"
    status: int
    at: str
    warc: str  # the WARC file's name, in the run's folder
    offset: int
    length: int
    bytes: int
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    attempts: int = 1
    note: str | None = None  # why the retries gave up, when they did
    # The WARC offsets of the answers before this one: redirect hops and retried answers.
    hops: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Failed:
    url: str
    kind: str
    error: str
    at: str
    attempts: int = 1
    hops: list[int] = field(default_factory=list)  # answers archived before it failed


@dataclass(frozen=True)
class Notice:
    what: str  # a sentence for the run's summary
    url: str
    at: str


ManifestEvent = Discovered | Fetched | Failed | Notice
_NAMES: dict[type[Any], str] = {Discovered: "discovered", Fetched: "fetched", Failed: "failed",
                                Notice: "notice"}
_TYPES = {name: kind for kind, name in _NAMES.items()}


def encode(event: ManifestEvent) -> str:
    return json.dumps({"event": _NAMES[type(event)], **asdict(event)}, ensure_ascii=False) + "\n"


def decode(line: bytes | str) -> ManifestEvent:
    data = json.loads(line)
    kind = _TYPES[data.pop("event")]
    if kind is Failed:
        data.pop("status", None)  # manifests before 2026-12 wrote "status": null
    event: ManifestEvent = kind(**data)
    return event


class ManifestWriter:
    """Appends events to a run's manifest, flushing each line."""

    def __init__(self, run_dir: Path) -> None:
        self._file: IO[str] = open(run_dir / MANIFEST_NAME, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, event: ManifestEvent) -> None:
        self._file.write(encode(event))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ManifestReader:
    """Follows a run's manifest as it grows: each call returns the whole lines added since.

    A crawl that is retried starts a new manifest file; the reader notices (another file, or a
    shorter one) and starts again from its first line, so it never resumes mid-line.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / MANIFEST_NAME
        self._offset = 0
        self._file_id: tuple[int, int] | None = None

    def new_events(self) -> list[ManifestEvent]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        file_id = (stat.st_dev, stat.st_ino)
        if file_id != self._file_id or stat.st_size < self._offset:
            self._file_id, self._offset = file_id, 0
        if stat.st_size == self._offset:
            return []
        with open(self.path, "rb") as lines:
            lines.seek(self._offset)
            chunk = lines.read()
        end = chunk.rfind(b"\n") + 1  # an unterminated last line waits for the next call
        self._offset += end
        return [decode(line) for line in chunk[:end].splitlines()]


def read_manifest(run_dir: Path) -> Iterator[ManifestEvent]:
    """Every whole line of a finished crawl's manifest, one event at a time (none if it has no
    manifest). Read whole, a 50k-article crawl's manifest (40 MB) and its events grew the
    process by 170 MiB; its readers keep what they need of each event and let it go."""
    path = run_dir / MANIFEST_NAME
    if not path.exists():
        return
    with open(path, "rb") as lines:
        for line in lines:
            if line.endswith(b"\n"):  # an unterminated last line was torn by a crash
                yield decode(line)


def run_dirs(archive_root: Path) -> list[Path]:
    """Every folder under `archive_root` that holds a crawl's manifest (backfill chunks too)."""
    return sorted(path.parent for path in archive_root.rglob(MANIFEST_NAME))


def discovery_summary(run_dir: Path) -> dict[str, Any]:
    """What found the crawl's article URLs (`discovered_by`: listing, sitemap, rss, plan) and
    what the crawl noticed (`notices`), for the run's summary."""
    found: dict[str, int] = {}
    notices: list[str] = []
    for event in read_manifest(run_dir):
        if isinstance(event, Discovered):
            found[event.via or "listing"] = found.get(event.via or "listing", 0) + 1
        elif isinstance(event, Notice):
            notices.append(f"{event.what} ({event.url})")
    return {"discovered_by": found, "notices": notices}


def remove_manifest(run_dir: Path) -> None:
    """Before a crawl (re)starts: followers must not read the last attempt's lines."""
    (run_dir / MANIFEST_NAME).unlink(missing_ok=True)
