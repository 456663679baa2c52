"""How newscorpus's processes hand memory back to the system.

- **Arrow allocates from glibc's heap.** pandas' string columns are Arrow arrays. Arrow's
  own pool in the wheels (mimalloc) keeps what it frees for itself, so in a process that
  also allocates from glibc (Python objects, DuckDB's results, pandas' buffers), each kept
  memory the other could not reuse. On its system pool the two share one heap: judging a
  10k batch in Great Expectations' process peaked at 369 MiB against 416–432
  (docs/performance.md, "Freed memory handed back, and Arrow on glibc's heap").
  `arrow_on_glibc` runs as `config` is imported, before any stage allocates, and the
  processes a process starts inherit it through the environment. A pool the environment
  names ($ARROW_DEFAULT_MEMORY_POOL) is left as it is.
- **What a step freed goes back before the next one allocates** (`give_back`). glibc returns
  to the system only what lies at the top of a heap, and a freed batch lies below what is
  still held; `malloc_trim` returns every wholly free page (dask.distributed calls it for the
  same reason), in milliseconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable

ARROW_POOL = "ARROW_DEFAULT_MEMORY_POOL"


def arrow_on_glibc() -> None:
    """Arrow's system pool, in this process and those it starts, unless
    $ARROW_DEFAULT_MEMORY_POOL names another. Arrow reads the variable when it is first
    imported; once imported, it is told."""
    if os.environ.setdefault(ARROW_POOL, "system") != "system":
        return
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.set_memory_pool(arrow.system_memory_pool())


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None under a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def give_back() -> None:
    """Return the wholly free pages of this process's heap to the system (under glibc)."""
    if _TRIM is not None:
        _TRIM(0)
