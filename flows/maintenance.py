"""The `lake_maintenance` flow: a lake's files merged and its old snapshots expired, on a
schedule (the `lake-maintenance` deployment). warehouse/maintenance.py says what it does and
why; this is its Prefect side.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger

from flows.runs import WAREHOUSE_LIMIT, global_limit
from warehouse.db import target
from warehouse.lake import Lake
from warehouse.maintenance import DEFAULT_GRACE, DEFAULT_RETENTION, maintain


@flow(name="lake_maintenance")
def lake_maintenance(warehouse: str | None = None, lake_data: str | None = None,
                     data_dir: str | None = None,
                     retention_days: float = DEFAULT_RETENTION / timedelta(days=1),
                     grace_hours: float = DEFAULT_GRACE / timedelta(hours=1)) -> dict[str, Any]:
    """Merge a lake's small files, expire its snapshots older than `retention_days` (the
    time-travel window), and delete the files nothing needs after `grace_hours`.

    It takes the merge lane (the global concurrency limit of the loads), since it rewrites
    the tables that merges write. On a DuckDB warehouse it logs that there is nothing to do.

    Args:
        warehouse: `ducklake:postgres:<libpq string>` ($NEWSCORPUS_WAREHOUSE).
        lake_data: the lake's data folder (default `<data_dir>/lake`, $NEWSCORPUS_LAKE_DATA).
        data_dir: the data folder (default `data/`).
        retention_days: how long snapshots are kept, and so how far back `--as-of` reads.
        grace_hours: how long an unneeded file is kept for the readers still scanning it.
    """
    logger = get_run_logger()
    corpus = target(None, data_dir, warehouse, lake_data)
    if not isinstance(corpus, Lake):
        logger.info("The warehouse is the DuckDB file %s: it needs no maintenance", corpus)
        return {"warehouse": str(corpus), "maintained": False}
    with global_limit(WAREHOUSE_LIMIT):
        done = maintain(corpus, timedelta(days=retention_days), timedelta(hours=grace_hours))
    summary = {"warehouse": str(corpus), "maintained": True, **asdict(done)}
    logger.info("Lake maintenance: %s", summary)
    return summary
