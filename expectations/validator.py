"""Great Expectations in a process of its own, which ends with the batch it judged.

Importing GX adds about 150 MiB to a process, and judging a batch adds about 12 MiB per
1,000 articles more, which Python's allocator keeps after the batch. In the flow's process
all of it stayed through staging and the merge, which peaked on top of it
(docs/performance.md). A child process gives it back to the system when it exits, before
the load begins; the flow's process never imports GX at all.

`start` spawns the child and has it import GX (seconds) while the crawl or the extraction
workers run, so that it is ready when the batch is; `validate_apart` hands it the batch,
`HAND_OVER` rows at a time: the batch pickled whole was a second copy of its text in the
flow's process while it was sent (+218 MiB at 50k articles). The child judges the rows as
they arrive and keeps only the narrow columns the whole-batch expectations read
(`Judging`), so neither process holds the whole batch's text for validation. A child that
judged a batch of `KEEP_BELOW` rows or more exits then; one that judged a smaller batch,
which leaves it little to keep, waits for the next: a backfill judges a batch per chunk,
and a new child for each took twice the backfill's time (docs/performance.md).
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pandas as pd

from expectations.validate import Judging, Validation, import_gx, validate

KEEP_BELOW = 5_000  # rows
HAND_OVER = 2_500  # rows
_lock = threading.Lock()
_child: ProcessPoolExecutor | None = None  # started, and waiting for a batch
_judging: Judging | None = None  # in the child: the batch whose slices are being handed over


def start() -> None:
    """Spawn the validation process, unless one is waiting, and have it import GX now.

    Spawned, not forked: the child starts from a fresh interpreter, with nothing of this
    process's memory or threads (Prefect's, the crawl's) in it."""
    global _child
    with _lock:
        if _child is None:
            _child = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            _child.submit(import_gx)


def validate_apart(articles: pd.DataFrame, params: dict[str, Any]) -> Validation:
    """`validate`, with Great Expectations run in the validation process."""
    return validate(articles, params, judge=_in_child)


def _in_child(articles: pd.DataFrame, params: dict[str, Any]) -> Validation:
    global _child
    start()
    with _lock:
        child = _child
        if len(articles) >= KEEP_BELOW:
            _child = None
    assert child is not None
    try:
        received = [child.submit(_receive, articles.iloc[first:first + HAND_OVER], params,
                                 first == 0)  # the child takes tasks in order
                    for first in range(0, len(articles) or 1, HAND_OVER)]
        for slice_received in received:  # a slice it could not judge is the batch's error
            slice_received.result()
        return child.submit(_judge_received).result()
    except BrokenProcessPool as error:
        with _lock:
            if _child is child:
                _child = None
        raise RuntimeError("the validation process ended before it answered (killed, or out "
                           "of memory?)") from error
    finally:
        if child is not _child:
            child.shutdown(wait=True)


def _receive(part: pd.DataFrame, params: dict[str, Any], first: bool) -> None:
    """In the child: judge a slice of the batch as it arrives (the first one starts a new
    batch, and forgets any before)."""
    global _judging
    if first:
        _judging = Judging(params)
    assert _judging is not None
    _judging.add(part)


def _judge_received() -> Validation:
    """In the child: the validation of the batch that the slices handed over make up."""
    global _judging
    judging, _judging = _judging, None
    assert judging is not None
    return judging.result()
