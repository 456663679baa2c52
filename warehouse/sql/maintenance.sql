-- Lake maintenance (warehouse/maintenance.py), in the order DuckLake's own CHECKPOINT runs
-- its steps. Each is a query over the step's result, so that the caller can count what it did.

-- name: lake_flush_inlined
-- Small inserts live in the catalog ("inlined"); write them out as Parquet.
SELECT coalesce(sum(rows_flushed), 0) AS rows FROM ducklake_flush_inlined_data('lake');

-- name: lake_expire_snapshots
-- The end of time travel: snapshots older than $older_than can no longer be read (--as-of).
SELECT count(*) AS snapshots FROM ducklake_expire_snapshots('lake', older_than => $older_than);

-- name: lake_merge_files
-- Each commit writes files of its own; merge the small ones. Time travel still works across
-- a merge (a snapshot reads its part of the merged file).
SELECT coalesce(sum(files_processed), 0) AS processed, coalesce(sum(files_created), 0) AS created
FROM ducklake_merge_adjacent_files('lake');

-- name: lake_rewrite_files
-- Rewrite files that are mostly deleted rows (every staging table is emptied after its merge).
SELECT coalesce(sum(files_processed), 0) AS processed, coalesce(sum(files_created), 0) AS created
FROM ducklake_rewrite_data_files('lake');

-- name: lake_cleanup_files
-- Delete the files that no snapshot needs any more, once they have waited $older_than: a
-- reader that began before may still be scanning them.
SELECT count(*) AS files FROM ducklake_cleanup_old_files('lake', older_than => $older_than);

-- name: lake_delete_orphans
-- Delete files that no snapshot ever took: a writer killed before its commit leaves them.
-- Only those older than $older_than, so that a writer still at work keeps its own.
SELECT count(*) AS files FROM ducklake_delete_orphaned_files('lake', older_than => $older_than);

-- name: lake_footprint
-- What the lake holds now: its snapshots, and the data files the newest one reads.
SELECT (SELECT count(*) FROM ducklake_snapshots('lake')) AS snapshots,
       (SELECT min(snapshot_time) FROM ducklake_snapshots('lake')) AS oldest_snapshot,
       (SELECT count(*) FROM __ducklake_metadata_lake.ducklake_data_file
        WHERE end_snapshot IS NULL) AS data_files;
