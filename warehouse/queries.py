"""Named SQL statements from the .sql files in sql/.

A file holds blocks that start with `-- name: NAME`; a block may hold several statements,
each ending with `;` at the end of a line. Statements take named `$parameters`, and each
statement is passed only the parameters it uses.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

SQL_DIR = Path(__file__).with_name("sql")
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.M)
_PARAM = re.compile(r"\$(\w+)")


@cache
def _statements() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SQL_DIR.glob("*.sql")):
        parts = _NAME.split(path.read_text(encoding="utf-8"))
        for name, block in zip(parts[1::2], parts[2::2], strict=True):
            if name in found:
                raise ValueError(f"SQL statement {name!r} is defined twice")
            found[name] = [s.strip() for s in re.split(r";\s*$", block, flags=re.M)
                           if s.strip() and not all(line.strip().startswith("--")
                                                    for line in s.strip().splitlines())]
    return found


def run(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> duckdb.DuckDBPyConnection:
    """Execute the statements of block `name`; returns the cursor of the last one."""
    statements = _statements()[name]
    for statement in statements:
        used = {key: params[key] for key in dict.fromkeys(_PARAM.findall(statement))}
        cursor = con.execute(statement, used) if used else con.execute(statement)
    return cursor


def count(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> int:
    """The number that block `name` ends by selecting (one row, one column)."""
    row = run(con, name, **params).fetchone()
    if row is None or not isinstance(row[0], int):
        raise TypeError(f"query {name!r} gave {row!r}, not one count")
    return row[0]


def rows(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[dict[str, Any]]:
    """The result of block `name` as one dict per row."""
    return as_dicts(run(con, name, **params))


def as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
