"""`newscorpus run ARGS...`, killed with SIGKILL at a chosen point (for test_crash.py).

    python tests/crash_at.py STAGE -- run --base-url ... --db ... --data-dir ...

STAGE is where the process kills itself: `extract` (as the extraction finishes, after the
crawl, with pages extracted in worker processes meanwhile), `validate` (as the suite starts),
`stage` (inside the staging transaction, once every row is appended) or `merge` (inside the
merge's transaction, once the batch is merged into `articles`).
A kill during the crawl needs no help: the test kills the process group from outside.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any


def _kill_on(function: Callable[..., Any], when: Callable[..., bool],
             after: bool = False) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not after and when(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        result = function(*args, **kwargs)
        if after and when(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapped


def main() -> None:
    stage, args = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    from extract import workers as extraction
    from flows import process
    from newscorpus.cli import app
    from warehouse import queries

    if stage == "extract":
        extraction.ArchiveExtraction.finish = _kill_on(  # type: ignore[method-assign]
            extraction.ArchiveExtraction.finish, lambda *a, **k: True)
    elif stage == "validate":
        process.validate_apart = _kill_on(process.validate_apart, lambda *a, **k: True)
    elif stage in ("stage", "merge"):
        last = "stage_articles" if stage == "stage" else "insert_articles"
        queries.run = _kill_on(queries.run, lambda con, name, **k: name == last, after=True)
    else:
        raise SystemExit(f"unknown stage {stage!r}")
    app(args)


if __name__ == "__main__":
    main()
