"""Moving a corpus to another warehouse (`newscorpus warehouse copy`): a DuckDB file into a
lake, when a team outgrows one writer, or a lake back into a file.

All tables go across in one transaction of the destination, each read from the source as
a stream of Arrow record batches (not as one frame). Before that transaction commits, every
table is checked on both sides: its row count and an order-free hash of its whole rows. A
copy that does not verify commits nothing. The source is read in one transaction too, so a
lake that runs are loading is copied as one snapshot.

The destination must hold no corpus yet: copying into a populated one would duplicate
rows, and nothing in a lake (which has no keys) would stop that.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from warehouse.db import Target, connect, reading, rollback, writing

# Rows per Arrow batch: a few MB of article bodies at a time.
BATCH_ROWS = 10_000


class CopyRefusedError(ValueError):
    """A copy that must not start: the same warehouse, or a destination that holds data."""


class CopyMismatchError(RuntimeError):
    """A table whose copy does not verify; nothing was committed."""


@dataclass(frozen=True)
class CopiedTable:
    """One table as copied: its rows, and the checksum that both sides agree on."""

    table: str
    rows: int
    checksum: str


def copy_corpus(source: Target, destination: Target) -> list[CopiedTable]:
    """Copy every table of the corpus at `source` into the empty corpus at `destination`
    (made and migrated if need be), verified table by table; the tables copied."""
    if str(source) == str(destination):
        raise CopyRefusedError(f"the source and the destination are one warehouse: {source}")
    with reading(source, wait=0):
        pass  # it exists: a copy must not make an empty source
    connect(source, wait=0).close()  # migrated, as a run would: both sides have one schema
    with reading(source, wait=0) as src, writing(destination) as dst:
        tables = _tables(src)
        if missing := sorted(set(tables) - set(_tables(dst))):
            raise CopyRefusedError(f"{destination} has no table {', '.join(missing)}")
        if filled := [t for t in tables if _count(dst, t)]:
            raise CopyRefusedError(f"{destination} already holds data (in {', '.join(filled)}"
                                   "); copy into an empty warehouse")
        src.execute("BEGIN TRANSACTION")  # one snapshot of the source
        dst.execute("BEGIN TRANSACTION")
        try:
            copied = [_copy_table(src, dst, table) for table in tables]
            dst.execute("COMMIT")
        except BaseException:
            rollback(dst)
            raise
        finally:
            rollback(src)
    return copied


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The corpus's tables; the migrations' own bookkeeping is made by the migrations."""
    return [row[0] for row in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = current_schema() AND table_name NOT LIKE 'schema\\_%' ESCAPE '\\' "
        "ORDER BY table_name").fetchall()]


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()
    return int(row[0]) if row else 0


def _copy_table(src: duckdb.DuckDBPyConnection, dst: duckdb.DuckDBPyConnection,
                table: str) -> CopiedTable:
    columns = ", ".join(_quoted(row[0]) for row in src.execute(
        f"DESCRIBE {_quoted(table)}").fetchall())
    batches = src.execute(f"SELECT {columns} FROM {_quoted(table)}").to_arrow_reader(BATCH_ROWS)
    dst.register("incoming", batches)
    try:
        dst.execute(f"INSERT INTO {_quoted(table)} ({columns}) SELECT {columns} FROM incoming")
    finally:
        dst.unregister("incoming")
    checksum = f"SELECT count(*), bit_xor(hash(row({columns}))) FROM {_quoted(table)}"
    was, now = src.execute(checksum).fetchone(), dst.execute(checksum).fetchone()
    if was != now:
        raise CopyMismatchError(f"the copy of {table} does not verify: (rows, checksum) "
                                f"{was} in the source, {now} in the copy; nothing was "
                                "committed")
    assert was is not None
    return CopiedTable(table, int(was[0]), f"{was[1] or 0:016x}")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
