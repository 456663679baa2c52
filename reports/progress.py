"""Progress bars for people at a terminal (Rich), off for workers and scripts.

The CLI turns them on (NEWSCORPUS_PROGRESS=1) when stderr is a terminal and --json is not
given; under a Prefect worker they stay off and the logs tell the story.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Update = Callable[[int, int | None], None]  # (done, total)


def _ignore(done: int, total: int | None = None) -> None:
    """The update of a progress bar that is off."""


def enabled() -> bool:
    return os.environ.get("NEWSCORPUS_PROGRESS") == "1"


@contextmanager
def bar(description: str, total: int | None = None) -> Iterator[Update]:
    """A progress bar on stderr; yields update(done, total). A no-op when disabled."""
    if not enabled():
        yield _ignore
        return
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
               TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)

        def update(done: int, new_total: int | None = None) -> None:
            progress.update(task, completed=done,
                            total=new_total if new_total is not None else total)

        yield update
