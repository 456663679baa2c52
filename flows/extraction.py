"""Extraction and cleaning of archived pages in worker processes, while the crawl still runs.

The crawl writes a manifest line only once a response's WARC record is complete
(spiders/archive.py). `ArchiveExtraction.poll` reads the lines written since its last call and
hands every full chunk of article pages to a worker process, which reads the records, extracts
and cleans them. So most pages are done while the crawl runs, on the core it leaves idle; the
workers run at a lower priority, so that they never slow the crawl down. `finish` then takes
the run's fetch table, the final word on which responses count, and does what is left.

No Prefect here: the worker processes import this module.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import defaultdict
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from types import TracebackType

import pandas as pd

from extract.article import extract_article
from extract.clean import clean_rows
from flows import settings
from flows.archive_index import is_html
from sites import SiteProfile
from spiders.archive import MANIFEST_NAME, read_payloads

CHUNK = 256  # pages per task: large enough to amortize the hand-over, small enough to overlap
Page = tuple[str, int, str]  # WARC file, offset, URL


def extract_chunk(pages: list[Page], profile: SiteProfile) -> pd.DataFrame:
    """Cleaned rows of archived pages (of one WARC file), indexed by (WARC file, offset)."""
    urls = {offset: url for _, offset, url in pages}
    warc_file = pages[0][0]
    records, offsets = [], []
    for offset, content_type, body in read_payloads(Path(warc_file), set(urls)):
        records.append(extract_article(body, urls[offset], profile, content_type))
        offsets.append(offset)
    index = pd.MultiIndex.from_arrays([[warc_file] * len(offsets), offsets],
                                      names=["warc_file", "warc_offset"])
    return clean_rows(records).set_axis(index)


def _lower_priority() -> None:
    os.nice(10)


class ArchiveExtraction:
    """The pages of one run's archive, extracted and cleaned as they are archived."""

    def __init__(self, profile: SiteProfile, run_dir: Path | None = None,
                 workers: int | None = None) -> None:
        """`run_dir`: the crawl's folder, to follow while it runs (see `poll`). `workers`:
        processes (default $NEWSCORPUS_EXTRACT_WORKERS, else one per core); 0 extracts in
        this process, in `finish`."""
        self.profile, self.run_dir = profile, run_dir
        self.workers = settings.extract_workers() if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None
        self._chunks: list[tuple[set[tuple[str, int]], Future[pd.DataFrame]]] = []
        self._waiting: dict[str, list[Page]] = defaultdict(list)
        self._read = 0  # bytes of the manifest read so far
        self.extracted_early = 0  # pages handed over before `finish`

    def __enter__(self) -> ArchiveExtraction:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def handed_over(self) -> int:
        """Pages handed to the workers so far."""
        return sum(len(keys) for keys, _ in self._chunks)

    def restart(self) -> None:
        """Forget what was read: the crawl starts over (a retry rewrites the archive)."""
        for _, future in self._chunks:
            future.cancel()
        self._chunks, self._waiting, self._read = [], defaultdict(list), 0

    def poll(self) -> None:
        """Hand over, in full chunks, the article pages archived since the last call."""
        if not self.workers or self.run_dir is None \
                or not (manifest := self.run_dir / MANIFEST_NAME).exists():
            return
        with open(manifest, "rb") as events:
            events.seek(self._read)
            for line in events:
                if not line.endswith(b"\n"):
                    break  # a line still being written: read it next time
                self._read += len(line)
                event = json.loads(line)
                if event["event"] == "fetched" and event["kind"] == "article" \
                        and event["status"] == 200 and is_html(event.get("content_type")):
                    warc_file = str(self.run_dir / event["warc"])
                    self._waiting[warc_file].append((warc_file, event["offset"], event["url"]))
        for pages in self._waiting.values():
            while len(pages) >= CHUNK:
                self._submit(pages[:CHUNK])
                del pages[:CHUNK]

    def finish(self, fetches: pd.DataFrame) -> pd.DataFrame:
        """Cleaned rows of every page `fetches` leaves to extract, in archive order.

        Pages handed over that `fetches` does not list (a later answer for the same URL
        superseded them) are dropped; listed pages not handed over yet are extracted now.
        """
        todo = fetches[(fetches["kind"] == "article") & fetches["outcome"].isna()]
        files = {name: rank for rank, name in enumerate(dict.fromkeys(todo["warc_file"]))}
        wanted = sorted(zip(todo["warc_file"], todo["warc_offset"].astype(int),
                            todo["final_url"], strict=True),
                        key=lambda page: (files[page[0]], page[1]))
        handed = set().union(*(keys for keys, _ in self._chunks))
        missing = [page for page in wanted if (page[0], page[1]) not in handed]
        self.extracted_early = len(wanted) - len(missing)
        if not wanted:
            return clean_rows([])
        # A few pages are not worth starting processes for.
        here = not self.workers or (self._pool is None and len(missing) <= CHUNK)
        frames = []
        for name in files:
            pages = [page for page in missing if page[0] == name]
            for start in range(0, len(pages), CHUNK):
                if here:
                    frames.append(extract_chunk(pages[start:start + CHUNK], self.profile))
                else:
                    self._submit(pages[start:start + CHUNK])
        frames += [future.result() for _, future in self._chunks]
        self._chunks = []  # held only once, below
        rows = pd.concat(frames)
        frames.clear()
        order = pd.MultiIndex.from_tuples([page[:2] for page in wanted],
                                          names=["warc_file", "warc_offset"])
        return rows.loc[order].reset_index(drop=True)

    def _submit(self, pages: list[Page]) -> None:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                             initializer=_lower_priority)
        future = self._pool.submit(extract_chunk, list(pages), self.profile)
        self._chunks.append(({(f, o) for f, o, _ in pages}, future))
