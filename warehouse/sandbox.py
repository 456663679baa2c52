"""User SQL on the corpus (`newscorpus sql`), run so that it can only read the corpus.

The connection is read-only; then, once the extensions that queries need are loaded, DuckDB's
own switches close the rest: no file or network access (so no COPY, EXPORT, ATTACH, INSTALL,
read_csv of other files, glob), no further LOAD, and a locked configuration (no SET). On top,
only SELECT and EXPLAIN statements are run, within a memory and a time limit. A refused or
stopped query is a `RefusedQueryError` with one line that says why.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
DEFAULT_TIMEOUT = 60.0  # seconds: NEWSCORPUS_SQL_TIMEOUT
DEFAULT_MEMORY = "2GB"  # NEWSCORPUS_SQL_MEMORY


class RefusedQueryError(ValueError):
    """A query the sandbox does not run, or stopped."""


def lock_down(con: duckdb.DuckDBPyConnection, readable: Sequence[Path] = ()) -> None:
    """Close a connection to everything but reading what it has attached, and the folders
    `readable` (a lake's data: its tables are Parquet files there)."""
    threads = os.cpu_count() or 1
    con.execute(f"SET threads = {threads}")
    memory = os.environ.get("NEWSCORPUS_SQL_MEMORY") or DEFAULT_MEMORY
    con.execute(f"SET memory_limit = '{memory.replace(chr(39), '')}'")
    if readable:
        con.execute("SET allowed_directories = ?", [[f"{p.resolve()}/" for p in readable]])
    con.execute("SET enable_external_access = false")
    con.execute("SET allow_community_extensions = false")
    con.execute("SET lock_configuration = true")


def run(con: duckdb.DuckDBPyConnection, query: str,
        timeout: float | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns and rows of the last statement of `query`, on a locked-down connection."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as error:
        raise RefusedQueryError(f"query failed: {str(error).splitlines()[0]}") from None
    for statement in statements:
        if statement.type not in ALLOWED:
            raise RefusedQueryError(
                "the corpus is read-only here: only SELECT queries are run, not "
                f"{statement.type.name}")
    limit = timeout if timeout is not None else float(
        os.environ.get("NEWSCORPUS_SQL_TIMEOUT") or DEFAULT_TIMEOUT)
    timer = threading.Timer(limit, con.interrupt)
    timer.start()
    try:
        for statement in statements:
            cursor = con.execute(statement)
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchall()
    except duckdb.InterruptException:
        raise RefusedQueryError(f"query stopped after {limit:g} s "
                                "(NEWSCORPUS_SQL_TIMEOUT)") from None
    except duckdb.Error as error:
        raise RefusedQueryError(f"query failed: {str(error).splitlines()[0]}") from None
    finally:
        timer.cancel()
