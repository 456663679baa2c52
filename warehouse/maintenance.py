"""Lake maintenance (`newscorpus warehouse maintain`, and the `lake-maintenance` deployment).

Every run commits a few snapshots, and each commit writes Parquet files of its own, most of
them small; DuckLake never deletes a file by itself, since time travel may still read it. So
a lake left alone grows in files and in catalog rows, and its reads slow down. Maintenance:

- writes the catalog's inlined rows out, merges small files, rewrites mostly-deleted ones;
- expires the snapshots older than the retention: the time-travel window (`--as-of`) is the
  retention, and no more;
- deletes the files that only expired snapshots read, and the orphans of killed writers,
  once they have been unneeded for the grace period, so a reader that is still scanning
  them is not cut off.

It holds the lake's write lock: DuckLake's compaction rewrites tables that a merge also
writes, and two such commits conflict. A DuckDB file needs none of this: DuckDB checkpoints
by itself and keeps no snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from warehouse import queries
from warehouse.db import connect, lake_lock
from warehouse.lake import Lake

# How long the lake keeps its snapshots: the time-travel window.
DEFAULT_RETENTION = timedelta(days=30)
# How long an unneeded file waits before it is deleted: longer than any read.
DEFAULT_GRACE = timedelta(days=1)


@dataclass(frozen=True)
class Maintenance:
    """What one maintenance pass did, and what the lake holds after it."""

    rows_flushed: int
    files_merged: int
    files_rewritten: int
    snapshots_expired: int
    files_deleted: int
    orphans_deleted: int
    snapshots: int
    oldest_snapshot: datetime | None
    data_files: int


def maintain(lake: Lake, retention: timedelta = DEFAULT_RETENTION,
             grace: timedelta = DEFAULT_GRACE, wait: float | None = None) -> Maintenance:
    """One maintenance pass, under the lake's write lock (waiting `wait` seconds for it, as
    every writer does)."""
    if retention < timedelta(0) or grace < timedelta(0):
        raise ValueError("the retention and the grace period cannot be negative")
    with lake_lock(lake, wait):
        con = connect(lake)
        try:
            def one(name: str, **params: object) -> dict[str, int]:
                return queries.rows(con, name, **params)[0]

            def ago(span: timedelta) -> datetime:  # at each step: the steps before made files
                return datetime.now(UTC) - span

            flushed = one("lake_flush_inlined")["rows"]
            expired = one("lake_expire_snapshots", older_than=ago(retention))["snapshots"]
            merged = one("lake_merge_files")["processed"]
            rewritten = one("lake_rewrite_files")["processed"]
            deleted = one("lake_cleanup_files", older_than=ago(grace))["files"]
            orphans = one("lake_delete_orphans", older_than=ago(grace))["files"]
            footprint = queries.rows(con, "lake_footprint")[0]
        finally:
            con.close()
    return Maintenance(rows_flushed=int(flushed), files_merged=int(merged),
                       files_rewritten=int(rewritten), snapshots_expired=int(expired),
                       files_deleted=int(deleted), orphans_deleted=int(orphans),
                       snapshots=int(footprint["snapshots"]),
                       oldest_snapshot=footprint["oldest_snapshot"],
                       data_files=int(footprint["data_files"]))
