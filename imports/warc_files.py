"""WARC files that others wrote (Common Crawl's CC-NEWS, the Internet Archive, Media Cloud's
exports), sorted into sites and turned into fetch rows, so that they load as a crawl does.

Every response and revisit record of a file ends in exactly one fetch row of kind "article":
- a page to extract: status 200, HTML (or no Content-Type at all, as a crawl's);
- failed, with the reason: an answer other than 200, a payload that is not HTML, a revisit
  record (its payload is another record's), a URL that is not HTTP;
- quarantined: a page to extract whose URL an earlier page of the file holds (the first is
  the one extracted).

Records are grouped by site: the profile whose host holds the URL, or the one the user chose,
else the generic profile. The flow (flows/imports.py) loads each group as one run of mode
`import`, whose id is the file's content digest and the profile: importing a file twice, or
resuming an import that stopped, skips the runs that completed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sites import ProfileError, SiteProfile, available_sites, load_profile, profile_for
from spiders.archive_reader import Response, responses
from spiders.fetches import FetchRow, is_html

MODE = "import"


@dataclass(frozen=True)
class ImportGroup:
    """The records of one file that one profile extracts: one import run."""

    profile: SiteProfile
    run_id: str
    rows: list[FetchRow] = field(default_factory=list)


def profile_chooser(site: str, warn: Callable[[str], object]) -> Callable[[str], SiteProfile]:
    """The profile for each URL: `site`'s for all, or under "auto" the profile whose host
    holds the URL, else the generic one. A profile that fails to load is left out, and
    `warn` is told why."""
    if site != "auto":
        chosen = load_profile(site)
        return lambda url: chosen
    profiles: list[SiteProfile] = []
    for name in available_sites():
        try:
            profiles.append(load_profile(name))
        except ProfileError as error:
            warn(f"profile {name} left out: {error}")
    generic = load_profile("generic")
    return lambda url: profile_for(url, profiles, generic)


def file_digest(path: Path) -> str:
    """The file's content digest (BLAKE2b, hex): the same file under any name is one import."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "blake2b").hexdigest()


def run_id(digest: str, profile: SiteProfile) -> str:
    return f"{MODE}-{digest[:16]}-{profile.name}"


def scan(path: Path, profile_of: Callable[[str], SiteProfile]) -> list[ImportGroup]:
    """The file's response and revisit records as fetch rows, grouped by the profile that
    `profile_of` gives each URL, in file order. Raises `ArchiveReadError` at the first record
    that is not whole, before anything is loaded."""
    path = path.resolve()  # the fetch rows name it for reprocessing, from anywhere
    digest = file_digest(path)
    groups: dict[str, ImportGroup] = {}
    first_of: dict[str, int] = {}  # URL -> offset of its first page to extract
    for record in responses(path):
        profile = profile_of(record.url)
        group = groups.setdefault(profile.name, ImportGroup(profile, run_id(digest, profile)))
        group.rows.append(fetch_row(record, first_of))
    return list(groups.values())


def fetch_row(record: Response, first_of: dict[str, int]) -> FetchRow:
    """The record's one fetch row. `first_of` maps the URL of each page to extract so far to
    its record's offset; a page whose URL is there already is held as a duplicate."""
    headers = record.http_headers
    outcome: str | None = "failed"
    error = failure(record)
    if error is None:
        first = first_of.setdefault(record.url, record.offset)
        if first != record.offset:
            outcome, error = "quarantined", (f"duplicate: the record at offset {first} of this "
                                             "file holds the same URL")
        else:
            outcome = None
    return FetchRow(url=record.url, kind="article", final_url=record.url, status=record.status,
                    error=error, fetched_at=record.warc_date, warc_file=str(record.file),
                    warc_offset=record.offset,
                    etag=headers.get_header("ETag") if headers else None,
                    last_modified=headers.get_header("Last-Modified") if headers else None,
                    content_type=record.content_type, attempts=1, outcome=outcome)


def failure(record: Response) -> str | None:
    """Why the record is no page to extract, or None."""
    if not record.url.lower().startswith(("http://", "https://")):
        return "not an HTTP URL"
    if record.rec_type == "revisit":
        return f"a revisit record: its payload is another record's (HTTP {record.status})"
    if record.status != 200:
        return f"HTTP {record.status}"
    if not is_html(record.content_type):
        return f"not an HTML page ({record.content_type})"
    return None
