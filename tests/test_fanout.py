"""#20: work fanned out over a Prefect work pool: a real Prefect server whose own database is
the throwaway PostgreSQL, three `prefect worker` processes sharing a backfill's chunks (one
of them killed during a chunk) and a sweep's sites, and the lakes they load into."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port, get_json
from prefect_pool import kill_tree, trigger, wait_for, work_pool
from test_incremental import checksums
from test_lake import _backfill, _cli, _lake, _on
from test_second_site import PROFILE as NEWSROOM

from demosite.corpus import build_site
from demosite.server import RunningSite, start

ARTICLE_TABLES = {"articles": "article_id, content_hash, title, body, published_at, version",
                  "article_versions": "*", "article_tags": "*"}
# Four weeks of the demo site, one chunk each.
SINCE, UNTIL = "2025-01-13", "2025-02-09"
CHUNK_WORKERS = 3


@pytest.fixture(scope="module")
def pool(demo: Any, postgres: dict[str, Any],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The server on PostgreSQL, the deployments, the lake, and the workers: three on the
    `chunks` queue, one run at a time each, and one on `default` for the flows that start
    runs (the backfill, the sweep of sites). The newsroom layout's profile is a site too."""
    root = tmp_path_factory.mktemp("fanout")
    lake = _lake(postgres, root)
    (root / "sites").mkdir()
    (root / "sites" / "newsroom.toml").write_text(NEWSROOM, encoding="utf-8")
    with work_pool(postgres, root, free_port(), CHUNK_WORKERS, {
            "NEWSCORPUS_WAREHOUSE": f"ducklake:{lake.catalog}",
            "NEWSCORPUS_LAKE_DATA": str(lake.data_path),
            "NEWSCORPUS_DATA_DIR": str(root / "data"),
            "NEWSCORPUS_SITES": str(root / "sites")}) as server:
        yield {**server, "lake": lake, "base_url": demo.base_url}


def _runs(pool: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    runs = httpx.post(f"{pool['api']}/flow_runs/filter", json={}, timeout=10).json()
    return [r for r in runs if r["name"].startswith(prefix)]


def _chunk_runs(pool: dict[str, Any]) -> list[dict[str, Any]]:
    return _runs(pool, "backfill-demo-")


def _ran(pool: dict[str, Any], prefix: str) -> dict[str, list[str]]:
    """The flow runs whose names start with `prefix` that each worker started."""
    return {worker: re.findall(rf"Flow run '({prefix}[^']+)' submitted to infrastructure",
                               log.read_text())
            for worker, log in pool["logs"].items()}


def _kill_a_worker_mid_chunk(pool: dict[str, Any]) -> str:
    """Once a chunk's crawl is under way, SIGKILL its worker with everything under it (the
    chunk's flow run, its crawl): a machine that dies. Returns the chunk's name."""
    archive = Path(pool["env"]["NEWSCORPUS_DATA_DIR"]) / "archive" / "demo" / \
        f"backfill-{SINCE}-{UNTIL}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for chunk in _chunk_runs(pool):
            crawl = archive / chunk["name"]
            if chunk["state_type"] == "RUNNING" and (crawl / "crawl.warc.gz").exists() \
                    and not (crawl / "crawl.done").exists():
                [worker] = [w for w, log in pool["logs"].items()
                            if f"Flow run '{chunk['name']}' submitted" in log.read_text()]
                killed = kill_tree(pool["workers"][worker])
                assert len(killed) >= 3, killed  # the worker, the flow run, the crawl
                return str(chunk["name"])
        time.sleep(0.2)
    raise AssertionError("no chunk crawled")


def test_a_backfill_spreads_its_chunks_over_the_workers_and_loads_as_one_process_does(
        pool, tmp_path):
    """Three workers share the chunks; one is killed during a chunk, whose flow run the
    server then marks Crashed (no heartbeat) and the backfill starts again on another
    worker. The lake ends as a single-process backfill's DuckDB file does."""
    parent = trigger(pool, "backfill/backfill", since=SINCE, until=UNTIL, chunk="week",
                     fan_out="true", base_url=pool["base_url"])
    killed = _kill_a_worker_mid_chunk(pool)
    # The same window in one process, into a DuckDB file, while the server waits for the
    # killed chunk's heartbeats.
    file = tmp_path / "corpus.duckdb"
    single = _backfill(pool["base_url"], tmp_path, (SINCE, UNTIL), ["--db", str(file)])
    [ended] = wait_for(pool, [parent], 900)
    assert ended["state_type"] == "COMPLETED", ended["state"].get("message")
    chunks = _chunk_runs(pool)
    assert len({c["name"] for c in chunks}) >= 4
    assert sorted((c["name"], c["state_type"]) for c in chunks if c["name"] == killed) == [
        (killed, "COMPLETED"), (killed, "CRASHED")]
    assert all(c["state_type"] == "COMPLETED" for c in chunks if c["name"] != killed)
    ran = _ran(pool, "backfill-demo-")
    assert ran.pop("control") == []
    assert all(ran.values()), ran  # each chunk worker ran at least one chunk
    assert sorted(n for names in ran.values() for n in names) == sorted(c["name"] for c in chunks)
    # The killed chunk ran on its dead worker and then on another one.
    assert len([w for w, names in ran.items() if killed in names]) == 2, ran

    _, stderr = single.communicate(timeout=600)
    assert single.returncode == 0, stderr[-3000:]
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


@pytest.fixture(scope="module")
def newsroom() -> Iterator[RunningSite]:
    site = start(build_site().with_layout("newsroom"))
    yield site
    site.stop()


def test_two_sites_are_crawled_at_once_by_two_workers_into_one_lake(pool, newsroom, postgres,
                                                                    tmp_path):
    """An `all-sites` sweep of the demo layout and the newsroom layout: one flow run per site,
    on two workers at once, into a lake of their own (the backfill's holds part of the demo
    site); each site ends with its one run and the articles its truth lists. Then two runs of
    one site started at once: the second waits for the first."""
    lake = _lake(postgres, tmp_path)
    sites = {"demo": pool["base_url"], "newsroom": newsroom.base_url}
    sweep = trigger(pool, "crawl_sites/all-sites", sites=json.dumps(list(sites)),
                    base_urls=json.dumps(sites), warehouse=f"ducklake:{lake.catalog}",
                    lake_data=str(lake.data_path))
    [ended] = wait_for(pool, [sweep], 600)
    assert ended["state_type"] == "COMPLETED", ended["state"].get("message")
    runs = {run["name"].split("-")[0]: run for site in sites for run in _runs(pool, f"{site}-")}
    assert sorted(runs) == sorted(sites)
    assert all(run["state_type"] == "COMPLETED" for run in runs.values())
    demo, other = (runs[site] for site in sites)
    assert demo["start_time"] < other["end_time"] and other["start_time"] < demo["end_time"]
    workers = {site: [w for w, names in _ran(pool, f"{site}-").items() if names]
               for site in sites}
    assert len(workers["demo"]) == len(workers["newsroom"]) == 1, workers
    assert workers["demo"] != workers["newsroom"] and "control" not in workers["demo"]

    loaded = _cli("sql", "SELECT site, status, discovered, new, updated, unchanged, "
                         "quarantined, failed, flow_run_id FROM crawl_runs ORDER BY site",
                  *_on(lake), "--json", cwd=tmp_path)
    articles = _cli("sql", "SELECT site, url FROM articles", *_on(lake), "--json",
                    cwd=tmp_path)
    for run, (site, base_url) in zip(loaded, sites.items(), strict=True):
        truth = get_json(f"{base_url}/__truth__")
        expected = truth["expected_counts"]
        assert (run["site"], run["status"], run["flow_run_id"]) == (
            site, "completed", runs[site]["id"])
        assert run["discovered"] == len(truth["articles"]) == run["new"] + run["updated"] \
            + run["unchanged"] + run["quarantined"] + run["failed"]
        assert (run["new"], run["quarantined"], run["failed"]) == (
            expected["loaded"], expected["quarantined"], expected["failed"])
        assert sorted(a["url"] for a in articles if a["site"] == site) == sorted(
            a["url"] for a in truth["articles"] if a["expected"] == "loaded")

    # Two runs of the newsroom at once, on the two workers: the second runs after the first.
    twice = [trigger(pool, "news_pipeline/site-run", site="newsroom", base_url=newsroom.base_url,
                     warehouse=f"ducklake:{lake.catalog}", lake_data=str(lake.data_path))
             for _ in range(2)]
    both = wait_for(pool, twice, 300)
    assert [r["state_type"] for r in both] == ["COMPLETED"] * 2
    first, second = sorted(both, key=lambda r: r["start_time"])
    assert second["start_time"] < first["end_time"]  # the flow runs overlapped ...
    held = _cli("sql", "SELECT started_at, finished_at, new FROM crawl_runs WHERE site = "
                       "'newsroom' ORDER BY started_at", *_on(lake), "--json", cwd=tmp_path)
    assert len(held) == 3 and held[1]["new"] == held[2]["new"] == 0
    assert held[1]["finished_at"] <= held[2]["started_at"]  # ... and their runs did not

    # The newsroom's pages reprocessed in batches over the workers: the same code changes
    # nothing, and each page is in one batch.
    before = checksums(lake, ARTICLE_TABLES)
    reprocessed = trigger(pool, "reprocess/reprocess", site="newsroom", base_url=newsroom.base_url,
                          fan_out="true", batch_pages="120", warehouse=f"ducklake:{lake.catalog}",
                          lake_data=str(lake.data_path))
    [ended] = wait_for(pool, [reprocessed], 300)
    assert ended["state_type"] == "COMPLETED", ended["state"].get("message")
    assert checksums(lake, ARTICLE_TABLES) == before
    batches = _cli("sql", "SELECT run_id, fetched, unchanged, new, updated FROM crawl_runs WHERE "
                          "mode = 'reprocess' ORDER BY run_id", *_on(lake), "--json", cwd=tmp_path)
    [crawled] = _cli("sql", "SELECT count(DISTINCT url) AS n FROM fetches JOIN crawl_runs "
                            "USING (run_id) WHERE site = 'newsroom' AND mode <> 'reprocess' "
                            "AND fetches.status = 200 AND kind = 'article'",
                     *_on(lake), "--json", cwd=tmp_path)
    count = -(-crawled["n"] // 120)  # batches of at most 120 pages
    assert count > 1 and [b["run_id"][-4:] for b in batches] == [
        f"-{n:03d}" for n in range(1, count + 1)]
    assert sum(b["fetched"] for b in batches) == crawled["n"]
    assert all(b["new"] == b["updated"] == 0 and b["unchanged"] > 0 for b in batches)
    assert len(_runs(pool, batches[0]["run_id"][:-4])) == count
