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
- **At most two glibc heaps** (`few_arenas`). glibc gives a thread that allocates while
  the others hold theirs a heap ("arena") of its own, up to 8 per core, and each keeps what
  was freed in it for the threads that use it: the flow's process runs Prefect's threads
  (its logs, events and heartbeats) beside its own. Two heaps took 5-12 MiB off the largest
  process of a 10k run (docs/performance.md, "Two heaps and smaller index slices"). glibc
  reads $MALLOC_ARENA_MAX as a process starts, so the processes this one starts inherit
  it; a number the environment names is left as it is.
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


def _glibc(function: str) -> Callable[..., int] | None:
    """A function of glibc's malloc, or None under a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), function) if name else None
    except (OSError, AttributeError):
        return None


_TRIM = _glibc("malloc_trim")
_MALLOPT = _glibc("mallopt")
ARENAS = "MALLOC_ARENA_MAX"
M_ARENA_MAX = -8  # mallopt's parameter for it, in glibc's malloc.h


def few_arenas() -> None:
    """At most two glibc heaps in this process and those it starts, unless
    $MALLOC_ARENA_MAX names another number. glibc read the variable as this process
    started; here it is told, before the threads that would each take a heap start."""
    arenas = os.environ.setdefault(ARENAS, "2")
    if _MALLOPT is not None and arenas.isdigit():
        _MALLOPT(M_ARENA_MAX, int(arenas))


def give_back() -> None:
    """Return the wholly free pages of this process's heap to the system (under glibc)."""
    if _TRIM is not None:
        _TRIM(0)
