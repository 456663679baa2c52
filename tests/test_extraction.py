"""Extraction that follows the crawl (extract/workers.py): same rows as extracting afterwards.

A real crawl subprocess archives a demo site while `ArchiveExtraction` hands the pages to worker
processes; the rows must equal those of an extraction in this process after the crawl, and the
workers must be gone once the rows are in.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from conftest import child_pids
from test_crash import start_crawl

from demosite.corpus import build_site
from demosite.server import start
from extract.workers import CHUNK, ArchiveExtraction
from sites import load_profile
from spiders.fetches import fetch_table
from spiders.manifest import ManifestReader
from spiders.plan import CrawlPlan


def test_pages_extracted_during_the_crawl_equal_those_extracted_after(tmp_path):
    site = start(build_site(1200))
    run_dir = tmp_path / "run"
    profile = load_profile("demo", site.base_url)
    handed_during_crawl, workers, others = 0, set(), child_pids()
    try:
        crawler = start_crawl(site.base_url, run_dir, "follow", CrawlPlan(mode="full"))
        manifest = ManifestReader(run_dir)
        with ArchiveExtraction(profile, run_dir, workers=2) as following:
            while crawler.poll() is None:
                following.add(manifest.new_events())
                handed_during_crawl = following.handed_over
                workers |= child_pids() - others
                time.sleep(0.05)
            assert crawler.returncode == 0
            following.add(manifest.new_events())
            fetches = fetch_table(run_dir)
            followed = following.finish(fetches).read()
            assert Path(following.folder).parent == run_dir  # the parts beside the archive
            early = following.extracted_early
            # Python starts a pool's processes as the work needs them: fewer than its size
            # when the crawl hands chunks over slower than they are extracted.
            assert 1 <= len(workers) <= following.workers
            assert not workers & child_pids()

            following.restart()  # as a retried crawl does: read the archive from its start
            following.add(ManifestReader(run_dir).new_events())
            assert following.handed_over >= CHUNK
            following.restart()  # and forget what was handed over
            assert following.handed_over == 0
            again = following.finish(fetches).read()
            assert following.extracted_early == 0
        assert not list(run_dir.glob("rows-*"))  # the parts go with the extraction
    finally:
        site.stop()
    with ArchiveExtraction(profile, workers=0) as here:
        after = here.finish(fetches).read()
        parts = Path(here.folder)
        assert list(parts.glob("*.parquet"))
    assert not parts.exists()
    todo = (fetches["kind"] == "article") & fetches["outcome"].isna()
    assert len(after) == todo.sum() > 1000
    assert handed_during_crawl >= CHUNK
    assert early >= handed_during_crawl
    pd.testing.assert_frame_equal(followed, after)
    pd.testing.assert_frame_equal(again, after)
