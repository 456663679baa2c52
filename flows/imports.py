"""The `import_warcs` flow: load WARC files that others wrote, as runs of mode `import`.

Each file is read once to sort its records into sites (imports/warc_files.py); each site's
records then go through `process_archive` like a crawl's, one run per file and site. The
run ids come from the file's content, so a second import of a file, or a rerun after an
import stopped half-way, skips what completed. Nothing is fetched: the files are the archive,
and the fetch rows name them, so `reprocess` reads them again while they stay where they are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows.process import process_archive
from flows.runs import flow_run_id, publish, recorded
from imports.warc_files import MODE, profile_chooser, scan
from spiders.fetches import fetch_frame
from warehouse import state
from warehouse.db import require_writable, target
from warehouse.load import COUNTS, RunInfo, add_counts

# An import never stops as layout drift: its pages were written by other sites, at other
# times, and each page that fails a check is quarantined with its reasons instead.
NO_DRIFT_ALARM = 1.0


@flow(name="import_warcs")
def import_warcs(paths: list[str], site: str = "auto", db: str | None = None,
                 data_dir: str | None = None, warehouse: str | None = None,
                 lake_data: str | None = None) -> dict[str, Any]:
    """Load the response records of WARC files from anywhere, one run per file and site.

    Args:
        paths: WARC files (.warc or .warc.gz, gzip per record or not), as this machine sees
            them; they stay where they are, and reprocessing reads them there.
        site: "auto" (the profile whose host holds each URL, else the generic one), a
            profile name for every record, or "generic".
        db: the DuckDB file (default `data/corpus.duckdb`).
        warehouse: `duckdb` (the default: the file `db`) or `ducklake:postgres:<libpq
            string>`, a lake whose catalog is in PostgreSQL ($NEWSCORPUS_WAREHOUSE).
        lake_data: a lake's data folder (default `<data_dir>/lake`, $NEWSCORPUS_LAKE_DATA).
        data_dir: where the data docs and the journal live (default `data/`).
    """
    logger = get_run_logger()
    started = datetime.now(UTC)
    corpus = target(db, data_dir, warehouse, lake_data)
    require_writable(corpus)
    profile_of = profile_chooser(site, warn=logger.warning)
    totals = dict.fromkeys(COUNTS, 0)
    done = skipped = 0
    for path in map(Path, paths):
        groups = scan(path, profile_of)
        logger.info("%s: %d records, %s", path, sum(len(g.rows) for g in groups),
                    ", ".join(f"{len(g.rows)} for {g.profile.name}" for g in groups))
        for group in groups:
            if state.completed(corpus, group.run_id):
                skipped += 1
                continue
            run = RunInfo(run_id=group.run_id, site=group.profile.name,
                          base_url=group.profile.base_url, mode=MODE,
                          started_at=datetime.now(UTC), archive_dir="",
                          timezone=group.profile.timezone, flow_run_id=flow_run_id())
            with recorded(run, corpus, data_dir):
                add_counts(totals, process_archive(group.profile, run, fetch_frame(group.rows),
                                                   corpus, NO_DRIFT_ALARM))
            done += 1
    logger.info("%d runs loaded, %d loaded before", done, skipped)
    return publish({"run_id": f"import of {len(paths)} files", "mode": MODE,
                    "status": "completed", "files": len(paths), "runs": done,
                    "skipped_runs": skipped, **totals}, started, corpus, data_dir)
