"""config/memory.py: what a step frees goes back to the system."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# In a process of its own, so that nothing else's heap is measured: 400,000 objects of 600
# bytes (glibc's heap, not Python's small-object arenas), all freed but the last, which keeps
# the top of the heap in use, so that glibc's free alone returns none of it.
_FREED_BELOW_THE_TOP = """
import sys
sys.path.insert(0, {root!r})
from config import memory

def rss_mib():
    status = open("/proc/self/status").read().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

held = [bytes(600) for _ in range(400_000)]
last = held.pop()
held.clear()
freed = rss_mib()
memory.give_back()
print(freed - rss_mib())
"""


def test_give_back_returns_the_freed_heap_to_the_system():
    answer = subprocess.run([sys.executable, "-c", _FREED_BELOW_THE_TOP.format(root=str(ROOT))],
                            capture_output=True, text=True, check=True)
    assert float(answer.stdout) > 150  # of the some 240 MiB freed
