"""config/memory.py: what a step frees goes back to the system."""

from __future__ import annotations

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
    "glibc's heap": "held = [bytes(600) for _ in range(400_000)]\n"
                    "last = held.pop()\n"
                    "held.clear()",
    # Arrow's pool (mimalloc, in the wheels) keeps what it frees for reuse.
    "Arrow's pool": "import pyarrow\n"
                    "held = [pyarrow.array([b'x' * 600] * 1000) for _ in range(400)]\n"
                    "held.clear()",
}


@pytest.mark.parametrize("allocate", ALLOCATIONS.values(), ids=list(ALLOCATIONS))
def test_give_back_returns_what_was_freed_to_the_system(allocate):
    script = _FREED.format(root=str(ROOT), allocate=allocate)
    answer = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert float(answer.stdout) > 150  # MiB, of the some 240 freed
