"""Failed runs that could not be recorded, kept until the warehouse takes them.

A run that fails because the database is busy, read-only or on a full disk cannot write its own
`crawl_runs` row then. It leaves that record here instead, one JSON file per run under
`<data dir>/journal/`, and the next run that can write the database replays it. So every run
ends recorded, late rather than never. Replaying is idempotent: `record_failed_run` leaves a
run alone that completed meanwhile (a retry of it succeeded).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from warehouse.db import (
    Target,
    WarehouseBusyError,
    WarehouseReadOnlyError,
    WarehouseStorageError,
)
from warehouse.load import RunInfo, record_failed_run

_TIMES = ("started_at", "window_since", "window_until")


@dataclass(frozen=True)
class FailedRun:
    """What `record_failed_run` takes, kept as one file."""

    run: RunInfo
    finished_at: datetime
    error: str
    validation: list[dict[str, Any]] | None = None  # the drift alarm's results, as records

    def to_json(self) -> str:
        run = {k: v.isoformat() if isinstance(v, datetime) else v
               for k, v in asdict(self.run).items()}
        return json.dumps({"run": run, "finished_at": self.finished_at.isoformat(),
                           "error": self.error, "validation": self.validation},
                          default=str, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> FailedRun:
        data = json.loads(text)
        run: dict[str, Any] = {k: datetime.fromisoformat(v) if k in _TIMES and v else v
                               for k, v in data["run"].items()}
        return cls(run=RunInfo(**run), finished_at=datetime.fromisoformat(data["finished_at"]),
                   error=data["error"], validation=data["validation"])


def keep(folder: Path, entry: FailedRun) -> Path:
    """Write the entry, whole or not at all (a temporary file, then a rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{entry.run.run_id}.json"
    partial = target.with_suffix(".json.partial")
    partial.write_text(entry.to_json(), encoding="utf-8")
    os.replace(partial, target)
    return target


def pending(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def replay(db: Target, folder: Path) -> list[str]:
    """Record the kept runs; returns their run ids. Stops, keeping the rest, while the
    database still cannot be written."""
    done = []
    for path in pending(folder):
        entry = FailedRun.from_json(path.read_text(encoding="utf-8"))
        validation = pd.DataFrame(entry.validation) if entry.validation is not None else None
        try:
            record_failed_run(db, entry.run, entry.finished_at, entry.error, validation)
        except (WarehouseBusyError, WarehouseStorageError, WarehouseReadOnlyError):
            break
        path.unlink()
        done.append(entry.run.run_id)
    return done
