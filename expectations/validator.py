"""Great Expectations in a process of its own, which ends with the batch it judged.

Importing GX adds about 150 MiB to a process, and judging a batch adds about 12 MiB per
1,000 articles more, which Python's allocator keeps after the batch. In the flow's process
all of it stayed through staging and the merge, which peaked on top of it
(docs/performance.md). A child process gives it back to the system when it exits, before
the load begins; the flow's process never imports GX at all.

`start` spawns the child and has it import GX (seconds) while the crawl or the extraction
workers run, so that it is ready when the batch is; `validate_apart` hands it the batch as
the caller reads it (the flow: a part at a time from disk), `HAND_OVER` rows at a time, and
no more than `IN_FLIGHT` hand-overs ahead of the child: the batch pickled whole was a second
copy of its text in the flow's process while it was sent (+218 MiB at 50k articles). The
child judges the rows as they arrive and keeps only the narrow columns the whole-batch
expectations read (`Judging`), so neither process holds the whole batch's text for
validation. A child that judged a batch of `KEEP_BELOW` rows or more exits then; one that
judged a smaller batch, which leaves it little to keep, waits for the next: a backfill
judges a batch per chunk, and a new child for each took twice the backfill's time
(docs/performance.md).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import chain
from typing import Any

import pandas as pd

from expectations.validate import Judging, Validation, import_gx, judged_columns, validate

KEEP_BELOW = 5_000  # rows
HAND_OVER = 2_500  # rows
# Hand-overs sent and not yet judged: the executor keeps each one's frame until the child
# takes it, so handing over the whole batch at once would hold all of it here.
IN_FLIGHT = 2
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


def validate_apart(frames: Iterable[pd.DataFrame], params: dict[str, Any]) -> Validation:
    """`validate` of the batch that `frames` make up (one empty frame, at least, for an empty
    batch), with Great Expectations run in the validation process, which is handed the
    frames as they are read."""
    slices = _hand_overs(frames)
    first = next(slices)
    if first.empty:  # the batch has no rows
        return validate(first, params, judge=lambda frame, given: _in_child([frame], given))
    return _in_child(chain([first], slices), params)


def _hand_overs(frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The batch's rows, the suites' columns only, in frames of `HAND_OVER` rows (the last
    one fewer); one empty frame when there are none."""
    waiting: list[pd.DataFrame] = []
    rows, handed = 0, False
    empty = None
    for frame in frames:
        frame = frame[judged_columns(frame)]
        empty = frame.iloc[:0]
        for start in range(0, len(frame), HAND_OVER):
            waiting.append(frame.iloc[start:start + HAND_OVER])
            rows += len(waiting[-1])
            if rows >= HAND_OVER:
                yield pd.concat(waiting)
                waiting, rows, handed = [], 0, True
    if waiting:
        yield pd.concat(waiting)
    elif not handed:
        if empty is None:
            raise ValueError("a batch to validate needs one frame at least")
        yield empty


def _in_child(slices: Iterable[pd.DataFrame], params: dict[str, Any]) -> Validation:
    """The batch judged by the validation process, which is taken for the batch's length: no
    other batch's slices can come between its own."""
    global _child
    start()
    with _lock:
        child, _child = _child, None
    assert child is not None
    rows, keep = 0, True
    try:
        received: deque[Future[None]] = deque()
        for number, part in enumerate(slices):
            # The child takes tasks in order; the first one starts the batch.
            received.append(child.submit(_receive, part, params, number == 0))
            rows += len(part)
            while len(received) > IN_FLIGHT:
                received.popleft().result()  # a slice it could not judge is the batch's error
        for slice_received in received:
            slice_received.result()
        return child.submit(_judge_received).result()
    except BrokenProcessPool as error:
        keep = False
        raise RuntimeError("the validation process ended before it answered (killed, or out "
                           "of memory?)") from error
    finally:
        with _lock:
            if keep and rows < KEEP_BELOW and _child is None:
                _child, child = child, None
        if child is not None:
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
