"""Checking a crawl's archive against its manifest: `newscorpus archive verify`, and the
nightly quality flow.

A run's archive is sound when every answer the manifest lists is a whole record at the
listed offset, for the listed URL, with the listed payload size and digests that verify, and
every hop it lists (a redirect, a retried answer) is a whole record too. A whole record that
the manifest does not list is not a fault: a crawl killed between writing a record and listing
it leaves one, and nothing reads it (spiders/manifest.py). Each WARC file's CDXJ index must
hold exactly the lines that indexing the file gives.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from spiders.archive import WARC_NAME
from spiders.archive_index import index_problem
from spiders.archive_reader import ArchiveReadError, Response, responses
from spiders.manifest import Failed, Fetched, read_manifest


@dataclass(frozen=True)
class ArchiveCheck:
    """What checking one run's archive found."""

    run_dir: Path
    listed: int  # final answers the manifest lists
    verified: int  # of those, found whole and as listed
    unlisted: int  # whole response records the manifest does not list, as answer or hop
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_run(run_dir: Path) -> ArchiveCheck:
    """Read every WARC file the run's manifest names, whole, and hold each listed response
    against what the file holds."""
    listed: dict[str, list[Fetched]] = defaultdict(list)
    hops: dict[str, list[tuple[int, str]]] = defaultdict(list)  # offset, whose hop
    for event in read_manifest(run_dir):
        if isinstance(event, Fetched):
            listed[event.warc].append(event)
        if isinstance(event, (Fetched, Failed)):
            hops[event.warc if isinstance(event, Fetched) else WARC_NAME] += \
                [(offset, event.url) for offset in event.hops]
    problems: list[str] = []
    verified = unlisted = 0
    for name, events in sorted(listed.items()):
        held: dict[int, Response] = {}
        owed = hops.pop(name, [])
        try:
            for response in responses(run_dir / name):
                held[response.offset] = response
        except FileNotFoundError:
            problems.append(f"{run_dir / name}: missing, and the manifest lists "
                            f"{len(events)} responses in it")
            continue
        except ArchiveReadError as error:
            beyond = [e for e in events if e.offset >= error.offset]
            problems.append(f"{error} ({len(beyond)} listed responses from there on)")
            events = [e for e in events if e.offset < error.offset]
            owed = [(offset, url) for offset, url in owed if offset < error.offset]
        else:
            if (problem := index_problem(run_dir / name)) is not None:
                problems.append(problem)
        for offset, url in owed:
            if held.pop(offset, None) is None:
                problems.append(f"{run_dir / name}: no whole record at offset {offset}, where "
                                f"the manifest lists an earlier answer for {url}")
        for event in events:
            found = held.pop(event.offset, None)
            if found is None:
                problems.append(f"{run_dir / name}: no whole response at offset {event.offset}, "
                                f"where the manifest lists {event.url}")
            elif found.url != event.url:
                problems.append(f"{run_dir / name}: the record at offset {event.offset} is of "
                                f"{found.url}, the manifest says {event.url}")
            elif (problem := _size_problem(found, event.bytes)) is not None:
                problems.append(f"{run_dir / name}: the record at offset {event.offset} "
                                + problem)
            else:
                verified += 1
        unlisted += len(held)
    return ArchiveCheck(run_dir=run_dir, listed=sum(map(len, listed.values())),
                        verified=verified, unlisted=unlisted, problems=problems)


def _size_problem(found: Response, listed: int) -> str | None:
    """Why the record's decoded payload is not the size the manifest lists, or None."""
    try:
        size = len(found.body)
    except ArchiveReadError as error:
        return error.what
    return None if size == listed else f"holds {size} bytes, the manifest says {listed}"
