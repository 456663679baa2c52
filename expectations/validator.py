"""Great Expectations in a process of its own, which ends with the batch it judged.

Importing GX adds about 150 MiB to a process, and judging a batch adds about 12 MiB per
1,000 articles more, which Python's allocator keeps after the batch. In the flow's process
all of it stayed through staging and the merge, which peaked on top of it
(docs/performance.md). A child process gives it back to the system when it exits, before
the load begins; the flow's process never imports GX at all.

`start` spawns the child and has it import GX (seconds) while the crawl or the extraction
workers run, so that it is ready when the batch is; `validate_apart` hands it the batch and
waits for the child to exit. The next batch gets a new child.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pandas as pd

from expectations.validate import Validation, import_gx, validate, validate_with_gx

_lock = threading.Lock()
_child: ProcessPoolExecutor | None = None  # started, and not yet handed its batch


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
        child, _child = _child, None
    assert child is not None
    try:
        return child.submit(validate_with_gx, articles, params).result()
    except BrokenProcessPool as error:
        raise RuntimeError("the validation process ended before it answered (killed, or out "
                           "of memory?)") from error
    finally:
        child.shutdown(wait=True)
