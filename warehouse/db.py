"""Opening the warehouse: the one place connections are made.

DuckDB allows one writer per file. A second writer, or a writer while anything else holds
the file, fails at once; that failure becomes `WarehouseBusyError` with one clear line.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

MIGRATIONS = Path(__file__).with_name("migrations")


class WarehouseBusyError(RuntimeError):
    """Another process holds the DuckDB file."""


class WarehouseMissingError(FileNotFoundError):
    """A read-only open of a database that does not exist."""


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the corpus; for writing, create it and apply pending migrations first."""
    path = Path(path)
    if read_only and not path.exists():
        raise WarehouseMissingError(
            f"no database at {path}; run `newscorpus run` first, or pass --db PATH")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            raise WarehouseBusyError(
                f"the database {path} is in use by another process "
                f"({_holder(str(error))}); wait for it to finish and retry") from None
        raise
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        migrate(con)
    return con


def _holder(message: str) -> str:
    match = re.search(r"\(PID (\d+)\)", message)
    return f"PID {match.group(1)}" if match else "lock held"


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the .sql files in migrations/ that this database has not seen, in order."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())")
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for script in sorted(MIGRATIONS.glob("*.sql")):
        if script.stem in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(script.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [script.stem])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(script.stem)
    return applied
