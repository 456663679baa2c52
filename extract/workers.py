"""Extraction and cleaning in worker processes: of a crawl's pages while it still runs
(`ArchiveExtraction`), and of saved pages for `newscorpus extract` (`extract_many`).

The crawl writes a manifest line only once a response's WARC record is complete
(spiders/manifest.py). The flow that follows the crawl hands `ArchiveExtraction.add` the
events it read, and every full chunk of article pages goes to a worker process, which reads
the records, extracts and cleans them. So most pages are done while the crawl runs, on the
core it leaves idle; the workers run at a lower priority, so that they never slow the crawl
down. `finish` then takes the run's fetch table, the final word on which responses count, and
does what is left.

A worker writes its chunk's cleaned rows to a Parquet part in the extraction's folder and
hands back only their keys (extract/parts.py): the rows stay on disk until the load reads
them, and the folder is removed when the extraction ends.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import pandas as pd

from config import settings
from extract.article import extract_article
from extract.clean import clean_rows
from extract.parts import Parts, write_part
from extract.record import Article
from sites import SiteProfile
from spiders.archive_reader import read_payloads
from spiders.fetches import is_article_page
from spiders.manifest import Fetched, ManifestEvent

T = TypeVar("T")
CHUNK = 256  # pages per task: large enough to amortize the hand-over, small enough to overlap
ArchivedPage = tuple[str, int, str]  # WARC file, offset, URL
SavedPage = tuple[bytes, str, SiteProfile, str | None]  # body, URL, profile, Content-Type


def extract_chunk(pages: list[ArchivedPage], profile: SiteProfile, folder: str) -> pd.DataFrame:
    """Cleaned rows of archived pages (of one WARC file), written to a part in `folder`; their
    keys (`extract.parts.KEYS`), indexed by (WARC file, offset)."""
    urls = {offset: url for _, offset, url in pages}
    warc_file = pages[0][0]
    records, offsets = [], []
    for page in read_payloads(Path(warc_file), set(urls)):
        records.append(extract_article(page.body, urls[page.offset], profile, page.content_type))
        offsets.append(page.offset)
    index = pd.MultiIndex.from_arrays([[warc_file] * len(offsets), offsets],
                                      names=["warc_file", "warc_offset"])
    part = Path(folder) / f"{uuid.uuid4().hex}.parquet"
    return write_part(clean_rows(records), part).set_axis(index)


def to_extract(fetches: pd.DataFrame) -> pd.DataFrame:
    """The rows of a run's fetch table whose pages are extracted: the article answers with no
    outcome yet (a 304 is `not_modified`, an error or a page not fetched is `failed`)."""
    return fetches[(fetches["kind"] == "article") & fetches["outcome"].isna()]


def _lower_priority() -> None:
    os.nice(10)


def worker_pool(workers: int, nice: bool = False) -> ProcessPoolExecutor:
    """Processes that import only this module's imports (forkserver: nothing of the parent's
    state, Prefect's threads included, is copied into them)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return ProcessPoolExecutor(workers, mp_context=context,
                               initializer=_lower_priority if nice else None)


def _extract_saved(page: SavedPage) -> Article:
    body, url, profile, content_type = page
    return extract_article(body, url, profile, content_type)


def extract_many(pages: Iterable[SavedPage], workers: int = 0) -> Iterator[Article]:
    """Articles of `pages`, in order, extracted by `workers` processes (0: one per core).

    Pages are handed out in bounded batches, so a large WARC is never held in memory at once.
    """
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        yield from map(_extract_saved, pages)
        return
    with worker_pool(workers) as pool:
        for batch in batches(pages, CHUNK):
            yield from pool.map(_extract_saved, batch,
                                chunksize=max(1, len(batch) // (workers * 4)))


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size` (the last one shorter), read lazily."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class ArchiveExtraction:
    """The pages of one run's archive, extracted and cleaned as they are archived."""

    def __init__(self, profile: SiteProfile, run_dir: Path | None = None,
                 workers: int | None = None) -> None:
        """`run_dir`: the crawl's folder, whose manifest events `add` is handed as the crawl
        runs, and where the parts are written (else in the system's temporary folder).
        `workers`: processes (default $NEWSCORPUS_EXTRACT_WORKERS, else one per core); 0
        extracts in this process, in `finish`."""
        self.profile, self.run_dir = profile, run_dir
        self.workers = settings.extract_workers() if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        # Each chunk handed over: its pages, and its rows' keys to come.
        self._chunks: list[tuple[set[tuple[str, int]], Future[pd.DataFrame]]] = []
        self._waiting: dict[str, list[ArchivedPage]] = defaultdict(list)
        self.extracted_early = 0  # pages handed over before `finish`

    def __enter__(self) -> ArchiveExtraction:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._folder is not None:
            self._folder.cleanup()

    @property
    def folder(self) -> str:
        """Where the parts go: made at the first chunk (a crawl's folder, once it exists)."""
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(
                prefix="rows-", dir=self.run_dir if self.run_dir and self.run_dir.is_dir()
                else None)
        return self._folder.name

    @property
    def handed_over(self) -> int:
        """Pages handed to the workers so far."""
        return sum(len(keys) for keys, _ in self._chunks)

    def restart(self) -> None:
        """Forget what was handed over: the crawl starts over (a retry rewrites the archive)."""
        for _, future in self._chunks:
            future.cancel()
        self._chunks, self._waiting = [], defaultdict(list)

    def add(self, events: list[ManifestEvent]) -> None:
        """Hand over, in full chunks, the article pages these new manifest events archived."""
        if not self.workers or self.run_dir is None:
            return
        for event in events:
            if isinstance(event, Fetched) and is_article_page(event):
                warc_file = str(self.run_dir / event.warc)
                self._waiting[warc_file].append((warc_file, event.offset, event.url))
        for pages in self._waiting.values():
            while len(pages) >= CHUNK:
                self._submit(pages[:CHUNK])
                del pages[:CHUNK]

    def finish(self, fetches: pd.DataFrame) -> Parts:
        """Cleaned rows of every page `fetches` leaves to extract, in archive order; they
        stay readable until the extraction ends.

        Pages handed over that `fetches` does not list (a later answer for the same URL
        superseded them) are left out; listed pages not handed over yet are extracted now.
        """
        todo = to_extract(fetches)
        files = {name: rank for rank, name in enumerate(dict.fromkeys(todo["warc_file"]))}
        wanted = sorted(zip(todo["warc_file"], todo["warc_offset"].astype(int),
                            todo["final_url"], strict=True),
                        key=lambda page: (files[page[0]], page[1]))
        handed = set().union(*(keys for keys, _ in self._chunks))
        missing = [page for page in wanted if (page[0], page[1]) not in handed]
        self.extracted_early = len(wanted) - len(missing)
        if not wanted:
            return Parts.empty()
        # A few pages are not worth starting processes for.
        here = not self.workers or (self._pool is None and len(missing) <= CHUNK)
        frames = []
        for name in files:
            pages = [page for page in missing if page[0] == name]
            for start in range(0, len(pages), CHUNK):
                if here:
                    frames.append(extract_chunk(pages[start:start + CHUNK], self.profile,
                                                self.folder))
                else:
                    self._submit(pages[start:start + CHUNK])
        frames += [future.result() for _, future in self._chunks]
        self._chunks = []  # held only once, below
        if self._pool is not None:  # done: its processes' memory is not held through the load
            self._pool.shutdown(wait=True)
            self._pool = None
        rows = pd.concat(frames)
        frames.clear()
        order = pd.MultiIndex.from_tuples([page[:2] for page in wanted],
                                          names=["warc_file", "warc_offset"])
        return Parts(rows.loc[order].reset_index(drop=True))

    def _submit(self, pages: list[ArchivedPage]) -> None:
        if self._pool is None:
            self._pool = worker_pool(self.workers, nice=True)
        future = self._pool.submit(extract_chunk, list(pages), self.profile, self.folder)
        self._chunks.append(({(f, o) for f, o, _ in pages}, future))
