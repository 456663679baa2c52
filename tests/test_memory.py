"""config/memory.py: Arrow on glibc's heap, and what a step frees goes back to the system."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each in a process of its own, so that nothing else's memory is measured. Some 240 MiB is
# allocated and freed, and what `give_back` returns of it is printed.
_FREED = """
import sys
sys.path.insert(0, {root!r})
from config import memory

def rss_mib():
    status = open("/proc/self/status").read().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

{allocate}
freed = rss_mib()
memory.give_back()
print(freed - rss_mib())
"""
ALLOCATIONS = {
    # 400,000 objects of 600 bytes (glibc's heap, not Python's small-object arenas), all
    # freed but the last, which keeps the top of the heap in use: glibc's `free` alone
    # returns none of it.
    "Python objects": "held = [bytes(600) for _ in range(400_000)]\n"
                      "last = held.pop()\n"
                      "held.clear()",
    # Arrow's arrays of 60 kB, in glibc's heap too (below the size glibc maps on its own);
    # on Arrow's own pool (mimalloc) they were kept by it, and none returned.
    "Arrow arrays": "import pyarrow\n"
                    "held = [pyarrow.array([b'x' * 600] * 100) for _ in range(4000)]\n"
                    "last = held.pop()\n"
                    "held.clear()",
}


@pytest.mark.parametrize("allocate", ALLOCATIONS.values(), ids=list(ALLOCATIONS))
def test_give_back_returns_what_was_freed_to_the_system(allocate):
    script = _FREED.format(root=str(ROOT), allocate=allocate)
    answer = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert float(answer.stdout) > 150  # MiB, of the some 240 freed


_POOLS = """
import subprocess, sys
sys.path.insert(0, {root!r})
{first}
import config
import pyarrow
child = "import pyarrow; print(pyarrow.default_memory_pool().backend_name)"
print(pyarrow.default_memory_pool().backend_name,
      subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout)
"""


@pytest.mark.parametrize("chosen, first, expected", [
    (None, "", "system system"),
    (None, "import pyarrow", "system system"),  # Arrow imported before config
    ("jemalloc", "", "jemalloc jemalloc"),
])
def test_arrow_allocates_from_glibc_in_a_process_and_the_ones_it_starts(chosen, first,
                                                                         expected):
    """Unless the environment names Arrow's pool: that one is kept."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    answer = subprocess.run([sys.executable, "-c", _POOLS.format(root=str(ROOT), first=first)],
                            capture_output=True, text=True, check=True, env=env)
    assert answer.stdout.split() == expected.split()


# Eight threads that allocate at once, then the number of glibc heaps ("arenas") the process
# has, as `malloc_info` reports them: without a limit, glibc gives each such thread its own.
_ARENAS = """
import ctypes, ctypes.util, subprocess, sys, tempfile, threading
sys.path.insert(0, {root!r})
{first}
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fopen.restype = ctypes.c_void_p
started = threading.Barrier(8)

def allocate():
    held = [bytes(600) for _ in range(1000)]  # beyond Python's small objects: malloc's
    started.wait()

threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
report = tempfile.mktemp()
out = libc.fopen(report.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(out))
libc.fclose(ctypes.c_void_p(out))
print(open(report).read().count("<heap nr="))
{then}
"""
# The same count, in a process that this one starts.
_IN_A_CHILD = ("subprocess.run([sys.executable, '-c', {script!r}], check=True)")


@pytest.mark.parametrize("chosen, first, expected", [
    (None, "import config", 2),
    (None, "", None),  # the limit is config's: without it, a heap per thread (9 here)
    ("4", "import config", 4),  # a number the environment names is kept
])
def test_a_process_has_at_most_two_heaps_and_so_have_the_ones_it_starts(chosen, first,
                                                                       expected):
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    if chosen:
        env["MALLOC_ARENA_MAX"] = chosen
    child = _ARENAS.format(root=str(ROOT), first="", then="")
    script = _ARENAS.format(root=str(ROOT), first=first,
                            then=_IN_A_CHILD.format(script=child))
    answer = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, env=env)
    heaps = [int(n) for n in answer.stdout.split()]
    assert len(heaps) == 2
    if expected is None:
        assert min(heaps) > 4
    else:
        assert heaps == [expected, expected]
