"""Opening the warehouse: the one place connections are made.

The corpus is a DuckDB file or a lake (`warehouse.lake.Lake`); `target` says which, from the
commands' options and the environment, and everything above this module passes that along.

DuckDB allows one writer per file. A second writer, or a writer while anything else holds
the file, fails at once; that failure becomes `WarehouseBusyError` with one clear line.
A lake takes any number of readers and writers, but its writes must not interleave (DuckLake
has no keys, and concurrent MERGEs duplicate rows), so `writing` holds the lake's write lock,
an advisory lock in its PostgreSQL catalog, for the length of the block. Readers never wait.
A run opens the corpus several times (its plan, its validation's history, its load, its
failure's record); inside `one_lock_wait` those opens share one lock wait, so a busy database
costs a run the lock wait once, not once per open.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import duckdb

from config import settings
from warehouse.lake import Lake, LakeError, open_lake

Target = Path | Lake  # where the corpus is

MIGRATIONS = Path(__file__).with_name("migrations")
VIEWS = Path(__file__).with_name("views")
# How long pipeline steps wait for another process to release the file. Interactive commands
# pass wait=0 and say at once that the database is busy.
DEFAULT_LOCK_WAIT = 300.0


def lock_wait() -> float:
    return float(os.environ.get("NEWSCORPUS_LOCK_WAIT") or DEFAULT_LOCK_WAIT)


class _Budget:
    """The seconds of lock wait left to the opens of one `one_lock_wait` block."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds


_shared: ContextVar[_Budget | None] = ContextVar("newscorpus_lock_wait", default=None)


@contextmanager
def one_lock_wait() -> Iterator[None]:
    """Let every open in the block (that passes no `wait` of its own) draw on one lock wait.

    A nested block shares the outer one's. The budget is a mutable object in a context
    variable, so the copies of the context that Prefect's task runs get draw on it too.
    """
    if _shared.get() is not None:
        yield
        return
    token = _shared.set(_Budget(lock_wait()))
    try:
        yield
    finally:
        _shared.reset(token)


class WarehouseBusyError(RuntimeError):
    """Another process holds the DuckDB file."""


class WarehouseMissingError(FileNotFoundError):
    """A read-only open of a database that does not exist."""


class WarehouseStorageError(OSError):
    """The database could not be written (say, a full disk); the message names the path and
    the free space, and the cause."""


class WarehouseMemoryError(RuntimeError):
    """DuckDB needed more memory than a load may take ($NEWSCORPUS_LOAD_MEMORY, or
    $NEWSCORPUS_STAGE_MEMORY for a stage)."""


class WarehouseReadOnlyError(PermissionError):
    """The database, or the folder it lives in, cannot be written."""


def target(db: str | Path | None = None, data_dir: str | Path | None = None,
           warehouse: str | None = None, lake_data: str | Path | None = None) -> Target:
    """The corpus that options (`--db`, `--warehouse`, `--lake-data`, `--data-dir`) and the
    environment name: the DuckDB file by default, a lake for `ducklake:postgres:…`. A file
    given as an option (`--db`) beats a lake that only the environment names."""
    if db and warehouse is None:
        return settings.db_path(db, data_dir)
    spec = settings.warehouse(warehouse)
    if spec == "duckdb":
        return settings.db_path(db, data_dir)
    if spec.startswith("ducklake:"):
        if db:
            raise LakeError("--db names a DuckDB file: give either it or a lake "
                            "(--warehouse ducklake:…), not both")
        return Lake(spec.removeprefix("ducklake:"), settings.lake_data(lake_data, data_dir))
    raise LakeError(f"the warehouse is `duckdb` or `ducklake:postgres:…`, not {spec!r}")


def require_writable(corpus: Target) -> None:
    """Raise WarehouseReadOnlyError unless the database can be written: the file, when it
    exists, and its folder (DuckDB writes a .wal beside it); a lake's data folder. Runs call
    it before they crawl, so that a read-only database fails them in a second, not after a
    whole crawl."""
    if isinstance(corpus, Lake):
        folder = _existing_folder(corpus.data_path / "x")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise WarehouseReadOnlyError(f"cannot write in {folder}, where the lake's data "
                                         "goes; give a writable one with --lake-data")
        return
    path = Path(corpus)
    folder = _existing_folder(path)
    if path.exists() and not os.access(path, os.W_OK):
        raise WarehouseReadOnlyError(f"the database {path} is read-only; give a writable one "
                                     "with --db, or NEWSCORPUS_DB")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WarehouseReadOnlyError(f"cannot write in {folder}, where the database {path} "
                                     "and its .wal go; give a writable one with --db")


def _existing_folder(path: Path) -> Path:
    """The nearest folder of `path` that exists: where it will be made."""
    folder = path.resolve().parent
    while not folder.exists():
        folder = folder.parent
    return folder


def storage_error(path: Path, error: BaseException) -> WarehouseStorageError:
    folder = _existing_folder(path)
    disk = folder
    while not os.path.ismount(disk):
        disk = disk.parent
    free = shutil.disk_usage(folder).free
    return WarehouseStorageError(
        f"could not write the database {path.resolve()} ({free / 2**20:.1f} MiB free on the "
        f"disk mounted at {disk}): {str(error).splitlines()[0]}")


def connect(target: Target, read_only: bool = False, wait: float | None = None,
            as_of: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the corpus, a DuckDB file or a lake; for writing, create it and apply pending
    migrations first.

    While another process holds a DuckDB file, retry for `wait` seconds (default: what is left
    of the `one_lock_wait` block's wait, else $NEWSCORPUS_LOCK_WAIT or 300), then raise
    WarehouseBusyError. A lake has no such lock: its readers read snapshots, and its
    writers migrate under its write lock. `as_of` opens a lake read-only at that snapshot
    (a version number or a timestamp); a DuckDB file keeps no snapshots.
    """
    if as_of and not isinstance(target, Lake):
        raise LakeError("--as-of reads a lake's snapshots; a DuckDB file keeps none")
    if isinstance(target, Lake):
        read_only = read_only or bool(as_of)
        with contextlib.nullcontext() if read_only or _catalog_made(target) \
                else lake_lock(target, wait):  # two first writers would both make it
            con, created = _open_lake(target, read_only, as_of), False
        if read_only and not as_of and target not in _current:
            if not _up_to_date(con):
                con = _reopened_after_migration(target, con, wait)
            _current.add(target)
    else:
        target = Path(target)
        con, created = _open_file(target, read_only, wait)
    con.execute("SET TimeZone = 'UTC'")
    # No progress bars on stdout (a search-index rebuild at 50k articles drew one): a run
    # reports through its logs and its own bars.
    con.execute("SET enable_progress_bar = false")
    # Never fetch extensions from the network; fts comes from its wheel (load_fts).
    con.execute("SET autoinstall_known_extensions = false")
    if not read_only:
        try:
            if not _up_to_date(con):  # checked first: an up-to-date lake needs no lock
                with lake_lock(target, wait) if isinstance(target, Lake) \
                        else contextlib.nullcontext():
                    migrate(con)
        except duckdb.Error as error:
            con.close()
            if isinstance(target, Path):
                if created:  # never leave a half-made database for the next run to trip on
                    for leftover in (target, target.with_name(target.name + ".wal")):
                        leftover.unlink(missing_ok=True)
                if _is_storage(error):
                    raise storage_error(target, error) from error
            raise
        except BaseException:  # a lake's write lock not had in time, an interrupt
            con.close()
            raise
    return con


def _open_file(path: Path, read_only: bool,
               wait: float | None) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A connection to the DuckDB file, and whether this open created it."""
    if read_only and not path.exists():
        raise WarehouseMissingError(
            f"no database at {path}; run `newscorpus run` first, or pass --db PATH")
    if not read_only:
        require_writable(path)
        path.parent.mkdir(parents=True, exist_ok=True)
    created = not read_only and not path.exists()
    allowed, budget = _allowance(wait)
    try:
        con, waited = _open(path, read_only, allowed)
    except WarehouseBusyError:
        waited = allowed
        raise
    finally:
        if budget:
            budget.left = max(0.0, budget.left - waited)
    return con, created


def _allowance(wait: float | None) -> tuple[float, _Budget | None]:
    """The seconds an open may wait for a lock, and the budget it draws on (if any)."""
    budget = _shared.get() if wait is None else None
    return (wait if wait is not None else budget.left if budget else lock_wait()), budget


# The advisory lock key of a lake's writers, in its catalog database.
_LAKE_LOCK = 0x6E65_7773  # "news"
_held: set[tuple[Lake, int]] = set()  # (lake, thread) pairs that hold the lock


@contextmanager
def lake_lock(lake: Lake, wait: float | None = None) -> Iterator[None]:
    """Hold the lake's write lock for a `with` block; reentrant within a thread.

    The lock is a PostgreSQL advisory lock, held by a connection of its own: when the
    process dies, even by SIGKILL, the connection drops and the lock goes with it. It waits
    as a DuckDB file's lock does (`wait`, else the `one_lock_wait` budget), then raises
    WarehouseBusyError.
    """
    key = (lake, threading.get_ident())
    if key in _held:
        yield
        return
    allowed, budget = _allowance(wait)
    started = time.monotonic()
    with _catalog(lake) as pg:
        try:
            while not _try_lock(pg):
                if time.monotonic() - started >= allowed:
                    raise WarehouseBusyError(
                        f"the lake {lake} is being written by another process "
                        f"(waited {round(allowed, 1):g} s, NEWSCORPUS_LOCK_WAIT={lock_wait():g})"
                        "; wait for it to finish and retry")
                time.sleep(0.2)
        finally:
            if budget:
                budget.left = max(0.0, budget.left - (time.monotonic() - started))
        _held.add(key)
        try:
            yield
        finally:
            _held.discard(key)


_made: set[Lake] = set()  # lakes whose catalog tables this process has seen
# Lakes this process has read once its schema was there: a migration only adds to it.
_current: set[Lake] = set()


def _catalog_made(lake: Lake) -> bool:
    """Whether DuckLake made the lake's catalog tables already. A writer's first ATTACH
    makes them, and two at once fail on PostgreSQL's unique names ("duplicate key value
    violates unique constraint"), so the first ATTACH takes the write lock. Asked of the
    catalog once per process: made tables stay made."""
    if lake not in _made:
        with _catalog(lake) as pg:
            row = pg.execute("SELECT to_regclass('ducklake_metadata') IS NOT NULL").fetchone()
        if row and row[0]:
            _made.add(lake)
    return lake in _made


def _catalog(lake: Lake) -> Any:
    """A connection of our own to the lake's catalog database (psycopg's, autocommit)."""
    import psycopg

    try:
        return psycopg.connect(lake.catalog.removeprefix("postgres:"), autocommit=True)
    except psycopg.OperationalError as error:
        raise LakeError(f"cannot reach the lake's catalog {lake.catalog}: "
                        f"{str(error).strip().splitlines()[0]}") from None


def _try_lock(pg: Any) -> bool:
    row = pg.execute("SELECT pg_try_advisory_lock(%s::bigint)", [_LAKE_LOCK]).fetchone()
    return bool(row and row[0])


def _reopened_after_migration(lake: Lake, con: duckdb.DuckDBPyConnection,
                              wait: float | None) -> duckdb.DuckDBPyConnection:
    """A lake read while its schema is not current: a writer may be making or migrating it,
    each migration in a transaction of its own, under the write lock. So wait for that lock,
    then open it again. A lake with none of the schema yet holds nothing, as one not made."""
    con.close()
    with lake_lock(lake, wait):
        pass
    con = _open_lake(lake, True, None)
    if "schema_migrations" not in _tables(con):
        con.close()
        raise WarehouseMissingError(f"the lake {lake} holds no corpus yet")
    return con


def _open_lake(lake: Lake, read_only: bool, as_of: str | None) -> duckdb.DuckDBPyConnection:
    """open_lake, its failures said in one line: a lake not made yet (read-only), a snapshot
    it does not have, a catalog that cannot be reached."""
    try:
        return open_lake(lake, read_only, as_of)
    except duckdb.InvalidInputException as error:
        if as_of and "snapshot" in str(error).lower():
            raise LakeError(f"no snapshot {as_of} in the lake: "
                            f"{str(error).splitlines()[0]}") from None
        if "does not exist" not in str(error):
            raise
        raise WarehouseMissingError(f"no lake at {lake}; run `newscorpus run --warehouse "
                                    "ducklake:…` first") from None
    except duckdb.IOException as error:
        cause = str(error).split(": ", 2)[-1].splitlines()[0]
        raise LakeError(f"cannot reach the lake's catalog {lake.catalog}: {cause}") from None


def _open(path: Path, read_only: bool, wait: float) -> tuple[duckdb.DuckDBPyConnection, float]:
    """The file attached (`_attached`), retried while it is held, for `wait` seconds; the
    connection, and how long it waited for the lock."""
    busy_since: float | None = None
    while True:
        try:
            con = _attached(path, read_only)
            return con, 0.0 if busy_since is None else time.monotonic() - busy_since
        except (duckdb.IOException, duckdb.BinderException) as error:
            if (holder := _holder(error)) is None:
                raise
            busy_since = busy_since or time.monotonic()
            left = busy_since + wait - time.monotonic()
            if left <= 0:
                who, *details = holder
                if wait:
                    details.append(f"waited {round(wait, 1):g} s, "
                                   f"NEWSCORPUS_LOCK_WAIT={lock_wait():g}")
                said = f" ({'; '.join(details)})" if details else ""
                raise WarehouseBusyError(f"the database {path} is in use by {who}{said}; "
                                         "wait for it to finish and retry") from None
            time.sleep(min(0.5, left))


# Rows per row group in the DuckDB file. At DuckDB's default (122,880 rows), the checkpoint
# that closes a small append merges the table's last row groups and rewrites up to a whole
# one of article text, outside DuckDB's memory limit: a whole-site backfill of 200k articles
# peaked at 1,335 MiB with it, 809 MiB at 8,192 rows (docs/performance.md).
# It applies to the row groups written from then on; those already in a file keep their size.
ROW_GROUP_SIZE = 8192


def _attached(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the file attached as `corpus`, and in use: ATTACH, unlike
    duckdb.connect, takes the row group size. DuckDB spills to `<file>.tmp`, as it would for
    a file it opened itself."""
    con = duckdb.connect()
    try:
        quoted = str(path).replace("'", "''")
        option = "READ_ONLY" if read_only else f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}"
        con.execute(f"ATTACH '{quoted}' AS corpus ({option})")
        con.execute("USE corpus")
        con.execute(f"SET temp_directory = '{quoted}.tmp'")
    except BaseException:
        con.close()
        raise
    return con


def _is_storage(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, duckdb.IOException) or "no space" in text or "disk" in text


@contextmanager
def reading(path: Target, wait: float | None = None,
            as_of: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for the length of a `with` block (of a lake, at the snapshot
    `as_of` when given)."""
    con = connect(path, read_only=True, wait=wait, as_of=as_of)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def writing(path: Target, lock: bool = True,
            memory: settings.MemoryLimit = settings.LOAD_MEMORY
            ) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writing connection (the database created and migrated) for a `with` block; a write
    that fails for want of space is a WarehouseStorageError that names the path. A lake's
    write lock is held for the whole block, unless `lock` is False: for inserts only, which
    DuckLake commits side by side (the load's staging).

    On a DuckDB file, DuckDB holds at most `memory` ($NEWSCORPUS_LOAD_MEMORY unless the caller
    names another) and spills the rest to `<file>.tmp`, which only the file's one writer
    uses. A lake's connection is not limited: its spill folder would be `.tmp` in the working
    directory, which writers may share."""
    with lake_lock(path) if lock and isinstance(path, Lake) else contextlib.nullcontext():
        con = connect(path)
        try:
            if isinstance(path, Path):
                con.execute("SET memory_limit = ?", [memory.value()])
            yield con
        except duckdb.OutOfMemoryException as error:
            if isinstance(path, Path):
                raise WarehouseMemoryError(
                    f"writing {path} needed more memory than {memory.variable}="
                    f"{memory.value()} lets DuckDB hold; nothing of that transaction "
                    f"was written: raise it and rerun ({str(error).splitlines()[0]})") from error
            raise
        except duckdb.Error as error:
            if isinstance(path, Path) and _is_storage(error):
                raise storage_error(path, error) from error
            raise
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


def _holder(error: duckdb.Error) -> tuple[str, ...] | None:
    """Who holds the file, and what is known of it, from DuckDB's refusal to open it; None if
    it was refused for another reason. A process attaches a file once, so a second connection
    of one process waits for the first to close, as one of another process would."""
    message = str(error)
    if isinstance(error, duckdb.BinderException):
        return ("another connection of this process",) \
            if "unique file handle conflict" in message.lower() else None
    if "lock" not in message.lower():
        return None
    match = re.search(r"\(PID (\d+)\)", message)
    return ("another process", f"PID {match.group(1)}" if match else "lock held")


def _views_fingerprint() -> str:
    """What the views of views/ say, as one hash: a database whose views were made from other
    text gets them again."""
    digest = hashlib.sha1()
    for view in sorted(VIEWS.glob("*.sql")):
        digest.update(view.name.encode() + b"\0" + view.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = current_schema()").fetchall()}


def _up_to_date(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether every migration is applied and the views are current; a read, so that a
    writer can check it without the lake's write lock."""
    if not {"schema_migrations", "schema_views"} <= _tables(con):
        return False
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    views = con.execute("SELECT count(*) FROM schema_views WHERE fingerprint = ?",
                        [_views_fingerprint()]).fetchone()
    current = bool(views and views[0])
    return current and done >= {script.stem for script in MIGRATIONS.glob("*.sql")}


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the .sql files in migrations/ that this database has not seen, in order, then
    make the views again if their text changed; returns the migrations applied."""
    # No PRIMARY KEY: DuckLake has none (a version is inserted once, after the check below).
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version VARCHAR NOT NULL, applied_at TIMESTAMPTZ)")
    con.execute("CREATE TABLE IF NOT EXISTS schema_views "
                "(fingerprint VARCHAR NOT NULL, applied_at TIMESTAMPTZ)")
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    pending = [script for script in sorted(MIGRATIONS.glob("*.sql")) if script.stem not in done]
    if pending:
        load_fts(con)  # the search index's macros call its stemmer
    for script in pending:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(script.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, now())",
                        [script.stem])
            con.execute("COMMIT")
        except Exception:
            rollback(con)
            raise
        applied.append(script.stem)
    fingerprint = _views_fingerprint()
    made = con.execute("SELECT count(*) FROM schema_views WHERE fingerprint = ?",
                       [fingerprint]).fetchone()
    if applied or not (made and made[0]):  # views hold no data: made again at no loss
        con.execute("BEGIN TRANSACTION")
        try:
            for view in sorted(VIEWS.glob("*.sql")):
                con.execute(view.read_text(encoding="utf-8"))
            con.execute("DELETE FROM schema_views")
            con.execute("INSERT INTO schema_views (fingerprint, applied_at) VALUES (?, now())",
                        [fingerprint])
            con.execute("COMMIT")
        except Exception:
            rollback(con)
            raise
    return applied
