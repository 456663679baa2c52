"""Extraction on every core, for the generic path.

trafilatura and htmldate cost about 20 ms a page, so one core tops out near 45 pages/s; the
profile path (selectolax only) does thousands a second and gains nothing from processes.
Pages are handed out in bounded batches, so a large WARC is never held in memory at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from itertools import islice

from extract.article import extract_article
from extract.record import Article
from sites import SiteProfile

Page = tuple[bytes, str, SiteProfile, str | None]  # body, URL, profile, Content-Type
BATCH = 256


def _extract(page: Page) -> Article:
    body, url, profile, content_type = page
    return extract_article(body, url, profile, content_type)


def extract_many(pages: Iterable[Page], workers: int = 0) -> Iterator[Article]:
    """Articles of `pages`, in order, extracted by `workers` processes (0: one per core)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        yield from map(_extract, pages)
        return
    queue = iter(pages)
    with ProcessPoolExecutor(workers) as pool:
        while batch := list(islice(queue, BATCH)):
            yield from pool.map(_extract, batch, chunksize=max(1, len(batch) // (workers * 4)))
