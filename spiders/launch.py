"""Start crawl processes (`python -m spiders.crawl`), one of them ahead of time.

A crawl process spends about half a second on Python and Scrapy's imports before it sends a
request, which is an eighth of a `newscorpus run` that finds nothing new. A command that knows
it will crawl calls `start_ahead()` as soon as its environment is set: that process imports,
then waits for its arguments on stdin, on the other core while the command imports Prefect
and the flows. `start` hands it the crawl's arguments if it is still waiting and was started
in the same environment and folder as the crawl would be; else it is stopped, and a new
process started. A crawl process reads nothing else from its parent, so the two are the same
crawl. Both run `-P`, so that a folder of the user's own named like one of our packages
(say `./sites/`) cannot shadow it.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

COMMAND = [sys.executable, "-P", "-m", "spiders.crawl"]
AHEAD = "--arguments-on-stdin"  # the option of a process started ahead
STARTED_AHEAD = "This crawl process was started ahead, before its arguments were known."


@dataclass(frozen=True)
class _Ahead:
    process: subprocess.Popen[bytes]
    environ: dict[str, str]
    cwd: str


_ahead: _Ahead | None = None


def start_ahead() -> None:
    """Start a crawl process that waits for its arguments (at most one at a time)."""
    global _ahead
    if _ahead is None:
        process = subprocess.Popen([*COMMAND, AHEAD], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _ahead = _Ahead(process, dict(os.environ), os.getcwd())


def start(arguments: list[str], log: Path) -> subprocess.Popen[bytes]:
    """A crawl process for `arguments`, writing its output to `log` (the one started ahead
    says so in its first line)."""
    ahead = _take_ahead()
    if ahead is not None:
        if ahead.environ == dict(os.environ) and ahead.cwd == os.getcwd() and _hand(
                ahead.process, arguments, log):
            return ahead.process
        _stop(ahead.process)
    with open(log, "wb") as output:
        return subprocess.Popen([*COMMAND, *arguments], stdout=output, stderr=subprocess.STDOUT)


def _take_ahead() -> _Ahead | None:
    global _ahead
    ahead, _ahead = _ahead, None
    return ahead


def _hand(process: subprocess.Popen[bytes], arguments: list[str], log: Path) -> bool:
    """Send the arguments to a waiting process; False if it is gone (it failed to import)."""
    assert process.stdin is not None
    try:
        process.stdin.write(json.dumps({"arguments": arguments, "log": str(log)}).encode()
                            + b"\n")
        process.stdin.close()
    except (BrokenPipeError, ValueError):
        return False
    return process.poll() is None


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()


def receive() -> list[str] | None:
    """In a process started ahead: wait for the arguments, then write stdout and stderr to
    the crawl's log as a process started by `start` does. None: the parent left without
    crawling (its end of the pipe closed)."""
    line = sys.stdin.readline()
    if not line:
        return None
    message = json.loads(line)
    log = os.open(message["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    print(STARTED_AHEAD, flush=True)
    return list(message["arguments"])


@atexit.register
def _stop_unused() -> None:
    """A process started ahead that no crawl took stops with its parent (it would anyway, on
    the end of its stdin; this does not leave it to finish its imports first)."""
    ahead = _take_ahead()
    if ahead is not None:
        _stop(ahead.process)
