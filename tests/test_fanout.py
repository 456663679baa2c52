"""#20: a backfill fanned out over a Prefect work pool: a real Prefect server whose own
database is the throwaway PostgreSQL, three `prefect worker` processes sharing the chunks,
and the lake they all load into."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import free_port
from prefect_pool import trigger, wait_for, work_pool
from test_incremental import checksums
from test_lake import _cli, _lake, _on

# Four weeks of the demo site, one chunk each.
SINCE, UNTIL = "2025-01-13", "2025-02-09"
CHUNK_WORKERS = 3


@pytest.fixture(scope="module")
def pool(demo: Any, postgres: dict[str, Any],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The server on PostgreSQL, the deployments, the lake, and the workers: three on the
    `chunks` queue, one run at a time each, and one on `default` for the backfill itself."""
    root = tmp_path_factory.mktemp("fanout")
    lake = _lake(postgres, root)
    with work_pool(postgres, root, free_port(), CHUNK_WORKERS, {
            "NEWSCORPUS_WAREHOUSE": f"ducklake:{lake.catalog}",
            "NEWSCORPUS_LAKE_DATA": str(lake.data_path),
            "NEWSCORPUS_DATA_DIR": str(root / "data")}) as server:
        yield {**server, "lake": lake, "base_url": demo.base_url}


def test_a_backfill_spreads_its_chunks_over_the_workers_and_loads_as_one_process_does(
        pool, tmp_path):
    parent = trigger(pool, "backfill/backfill", since=SINCE, until=UNTIL, chunk="week",
                     fan_out="true", base_url=pool["base_url"])
    [ended] = wait_for(pool, [parent], 900)
    assert ended["state_type"] == "COMPLETED", ended["state"]
    runs = httpx.post(f"{pool['api']}/flow_runs/filter", json={}, timeout=10).json()
    chunks = [c for c in runs if c["name"].startswith("backfill-demo-")]
    assert len(chunks) >= 4 and all(c["state_type"] == "COMPLETED" for c in chunks)
    ran = {worker: set(re.findall(r"Flow run '(backfill-demo-[^']+)' submitted to "
                                  "infrastructure", log.read_text()))
           for worker, log in pool["logs"].items()}
    assert ran.pop("control") == set()
    assert all(ran.values()), ran  # each chunk worker ran at least one chunk
    assert sorted(n for names in ran.values() for n in names) == sorted(c["name"] for c in chunks)

    # The same window in one process, into a DuckDB file.
    file = tmp_path / "corpus.duckdb"
    _cli("backfill", "--since", SINCE, "--until", UNTIL, "--chunk", "week", "--base-url",
         pool["base_url"], "--db", str(file), "--data-dir", str(tmp_path), "--json",
         cwd=tmp_path)
    columns = {"articles": "article_id, content_hash, title, body, published_at, version",
               "crawl_runs": "run_id, status, discovered, fetched, new, updated, unchanged, "
                             "quarantined, failed, window_since, window_until",
               "fetches": "run_id, url, status, error, outcome, article_id",
               "quarantine": "run_id, url, reasons",
               "article_tags": "article_id, tag"}
    assert checksums(pool["lake"], columns) == checksums(file, columns)
    rows = _cli("sql", "SELECT count(*) AS n, count(DISTINCT article_id) AS ids FROM articles",
                *_on(pool["lake"]), "--json", cwd=tmp_path)
    assert rows[0]["n"] == rows[0]["ids"] > 0
