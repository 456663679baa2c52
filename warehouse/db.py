"""Opening the warehouse: the one place connections are made.

DuckDB allows one writer per file. A second writer, or a writer while anything else holds
the file, fails at once; that failure becomes `WarehouseBusyError` with one clear line.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

MIGRATIONS = Path(__file__).with_name("migrations")
VIEWS = Path(__file__).with_name("views")
# How long pipeline steps wait for another process to release the file. Interactive commands
# pass wait=0 and say at once that the database is busy.
DEFAULT_LOCK_WAIT = 300.0


def lock_wait() -> float:
    return float(os.environ.get("NEWSCORPUS_LOCK_WAIT") or DEFAULT_LOCK_WAIT)


class WarehouseBusyError(RuntimeError):
    """Another process holds the DuckDB file."""


class WarehouseMissingError(FileNotFoundError):
    """A read-only open of a database that does not exist."""


class WarehouseStorageError(OSError):
    """The database could not be written (say, a full disk); the message names the path and
    the free space, and the cause."""


def storage_error(path: Path, error: BaseException) -> WarehouseStorageError:
    folder = path.parent if path.parent.exists() else Path(".")
    free = shutil.disk_usage(folder).free
    return WarehouseStorageError(
        f"could not write the database {path} ({free / 2**20:.1f} MiB free on its disk): "
        f"{str(error).splitlines()[0]}")


def connect(path: Path, read_only: bool = False,
            wait: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open the corpus; for writing, create it and apply pending migrations first.

    While another process holds the file, retry for `wait` seconds (default
    $NEWSCORPUS_LOCK_WAIT or 300), then raise WarehouseBusyError.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise WarehouseMissingError(
            f"no database at {path}; run `newscorpus run` first, or pass --db PATH")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    created = not read_only and not path.exists()
    deadline = time.monotonic() + (lock_wait() if wait is None else wait)
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"the database {path} is in use by another process "
                    f"({_holder(str(error))}); wait for it to finish and retry") from None
            time.sleep(0.5)
    con.execute("SET TimeZone = 'UTC'")
    # No progress bars on stdout (a search-index rebuild at 50k articles drew one): a run
    # reports through its logs and its own bars.
    con.execute("SET enable_progress_bar = false")
    # Never fetch extensions from the network; fts comes from its wheel (load_fts).
    con.execute("SET autoinstall_known_extensions = false")
    if not read_only:
        try:
            migrate(con)
            for view in sorted(VIEWS.glob("*.sql")):  # views hold no data: always current
                con.execute(view.read_text(encoding="utf-8"))
        except duckdb.Error as error:
            con.close()
            if created:  # never leave a half-made database behind for the next run to trip on
                for leftover in (path, path.with_name(path.name + ".wal")):
                    leftover.unlink(missing_ok=True)
            if _is_storage(error):
                raise storage_error(path, error) from error
            raise
    return con


def _is_storage(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, duckdb.IOException) or "no space" in text or "disk" in text


@contextmanager
def reading(path: Path, wait: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for the length of a `with` block."""
    con = connect(path, read_only=True, wait=wait)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def writing(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writing connection (the database created and migrated) for a `with` block."""
    con = connect(path)
    try:
        yield con
    finally:
        con.close()


def load_fts(con: duckdb.DuckDBPyConnection) -> None:
    """Load the full-text search extension from its wheel (no network), or the installed one."""
    try:
        import duckdb_extension_fts
    except ImportError:
        con.execute("LOAD fts")
        return
    wheel = Path(duckdb_extension_fts.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    con.execute(f"LOAD '{wheel / 'fts.duckdb_extension'}'")


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back what is open; a failed COMMIT left nothing to roll back, and that second
    error must not hide the first (the one that says why)."""
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


def _holder(message: str) -> str:
    match = re.search(r"\(PID (\d+)\)", message)
    return f"PID {match.group(1)}" if match else "lock held"


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the .sql files in migrations/ that this database has not seen, in order."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())")
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    pending = [script for script in sorted(MIGRATIONS.glob("*.sql")) if script.stem not in done]
    if pending:
        load_fts(con)  # the search index's macros call its stemmer
    for script in pending:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(script.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [script.stem])
            con.execute("COMMIT")
        except Exception:
            rollback(con)
            raise
        applied.append(script.stem)
    return applied
