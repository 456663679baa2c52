"""The lakehouse backend: a DuckLake catalog in PostgreSQL, its data as Parquet files.

`warehouse.db.connect` opens a `Lake` as it opens a DuckDB file: an in-memory DuckDB that
attaches the lake as `lake` and uses it, so the same migrations, views and named SQL run on
both. The extensions come from their pinned wheels, never from the network.

Writers take turns under the lake's write lock (`warehouse.db.lake_lock`): DuckLake has no
PRIMARY KEY or UNIQUE, and concurrent MERGE or UPDATE on one table conflict or duplicate.
Readers read snapshots, the newest or one they pin (`as_of`).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb


class LakeError(ValueError):
    """A lake address that cannot be used as given."""


@dataclass(frozen=True)
class Lake:
    """Where a lake is: its PostgreSQL catalog, spelled as DuckLake's ATTACH spells it
    (`postgres:dbname=lake host=127.0.0.1 port=5432 user=nc`), and the folder of its data.

    The password comes from PGPASSWORD or PGPASSFILE: in the catalog string it would show in
    `duckdb_databases()` and in every log that prints the address.
    """

    catalog: str
    data_path: Path

    def __post_init__(self) -> None:
        if not self.catalog.startswith("postgres:"):
            raise LakeError(f"a lake catalog is 'postgres:…', not {self.catalog!r}")
        if "password" in self.catalog.lower():
            raise LakeError("the lake catalog must not carry a password: set PGPASSWORD or "
                            "PGPASSFILE instead")
        if "'" in self.catalog or "'" in str(self.data_path):
            raise LakeError("a lake address must not hold a quote (')")

    def __str__(self) -> str:
        return f"ducklake:{self.catalog} (data in {self.data_path})"


def _extension(package: str, name: str) -> Path:
    """An extension file of a pinned wheel, under the name DuckDB expects (the postgres
    wheel's file must be found as postgres_scanner.duckdb_extension)."""
    root = Path(importlib.import_module(package).__path__[0])
    shipped = next(root.glob(f"extensions/v{duckdb.__version__}/*.duckdb_extension"))
    if shipped.name == f"{name}.duckdb_extension":
        return shipped
    # One folder per wheel file, so that two installs never share a link.
    wheel = hashlib.sha1(str(shipped).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"newscorpus-extensions-{os.getuid()}" / wheel
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    named = folder / f"{name}.duckdb_extension"
    if not named.exists():
        partial = named.with_suffix(f".{os.getpid()}")
        partial.symlink_to(shipped)
        partial.replace(named)
    return named


def snapshot_option(as_of: str) -> str:
    """The ATTACH option that pins a lake to a snapshot: its version number, or the time
    (ISO 8601; UTC unless it carries an offset) whose snapshot to read."""
    if as_of.isdigit():
        return f"SNAPSHOT_VERSION {int(as_of)}"
    try:
        moment = datetime.fromisoformat(as_of)
    except ValueError:
        raise LakeError(f"--as-of takes a snapshot version or a timestamp, not {as_of!r}") \
            from None
    return f"SNAPSHOT_TIME '{(moment if moment.tzinfo else moment.replace(tzinfo=UTC))}'"


def open_lake(lake: Lake, read_only: bool = False,
              as_of: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as `lake`, and in use; read-only at the
    snapshot `as_of` when given."""
    con = duckdb.connect()
    try:
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute(f"LOAD '{_extension('duckdb_extension_ducklake', 'ducklake')}'")
        con.execute(f"LOAD '{_extension('duckdb_extension_postgres', 'postgres_scanner')}'")
        if not read_only:
            lake.data_path.mkdir(parents=True, exist_ok=True)
        options = [f"DATA_PATH '{lake.data_path}/'", *(["READ_ONLY"] if read_only else []),
                   *([snapshot_option(as_of)] if as_of else [])]
        con.execute(f"ATTACH 'ducklake:{lake.catalog}' AS lake ({', '.join(options)})")
        con.execute("USE lake")
    except BaseException:
        con.close()
        raise
    return con
