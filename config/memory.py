"""Handing the memory a step freed back to the system, before the next step allocates.

A run's batch is many small Python objects (rows, lists, dicts) and pandas buffers, from
glibc's heap; once freed, their pages mostly stay with the process, because glibc returns
to the system only what lies at the top of a heap. Arrow's memory pool (mimalloc) keeps what
it frees for reuse too. DuckDB allocates from neither, so the stage's and the merge's memory
came on top of pages that held nothing. glibc's `malloc_trim` returns every wholly free page
of the heap (dask.distributed calls it for the same reason), and Arrow's `release_unused`
its pool's; each takes milliseconds. Measured in docs/performance.md, "Freed memory handed
back before the stage and the merge (#23)".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None under a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def give_back() -> None:
    """Return the free pages of this process's heap to the system (where glibc allows), and
    those Arrow's memory pool keeps for reuse, when Arrow is loaded."""
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    if _TRIM is not None:
        _TRIM(0)
