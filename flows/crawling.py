"""The crawl step: run the spider in a subprocess, follow its manifest, check it reached the site.

Twisted's reactor cannot restart inside a long-lived (Prefect) process, so every crawl is its
own `python -m spiders.crawl` process, writing a WARC archive and a manifest into the run's
folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NONE as NO_CACHE

from flows import progress
from flows.extraction import ArchiveExtraction
from flows.runs import global_limit
from sites import SiteProfile
from spiders.archive import MANIFEST_NAME

CRAWL_DONE = "crawl.done"  # written once a run's crawl finished; a retry skips the crawl


class CrawlError(RuntimeError):
    """The crawl subprocess failed, or reached nothing; its log holds the details."""


@task(retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def crawl(profile: SiteProfile, run_dir: Path, run_id: str, plan: dict[str, Any],
          max_pages: int = 0, extraction: ArchiveExtraction | None = None) -> Path:
    """Crawl into `run_dir` as `plan` says; retried once, crawl failures being mostly transient.

    `extraction`, when given, is handed the pages as they are archived (flows/extraction.py).

    At most a few crawls of one site run at once (the global concurrency limit
    `newscorpus-crawl-<site>`, where `newscorpus deploy` created it).
    """
    logger = get_run_logger()
    done = run_dir / CRAWL_DONE
    if done.exists():
        logger.info("The crawl of run %s finished before; reusing its archive", run_id)
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    if extraction is not None:
        extraction.restart()
    plan_path = run_dir / "plan.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    log_path = run_dir / "crawl.log"
    command = [sys.executable, "-m", "spiders.crawl", "--site", profile.name,
               "--base-url", profile.base_url, "--out", str(run_dir), "--run-id", run_id,
               "--max-pages", str(max_pages), "--plan", str(plan_path)]
    logger.info("Crawling %s (%s), mode %s; log in %s", profile.name, profile.base_url,
                plan["mode"], log_path)
    with global_limit(f"newscorpus-crawl-{profile.name}"), \
            open(log_path, "w", encoding="utf-8") as log:
        crawler = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _follow(crawler, run_dir / MANIFEST_NAME, f"Crawling {profile.name}", extraction)
    if crawler.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
        raise CrawlError(f"the crawl exited with code {crawler.returncode}; last lines of "
                         f"{log_path}:\n" + "\n".join(tail))
    done.touch()
    return run_dir


def _follow(crawler: subprocess.Popen[bytes], manifest: Path, description: str,
            extraction: ArchiveExtraction | None) -> None:
    """Wait for the crawl, showing articles fetched of those discovered (when enabled), and
    handing `extraction` what was archived."""
    with progress.bar(description) as update:
        discovered = answered = 0
        offset = 0
        while crawler.poll() is None or offset < (manifest.stat().st_size
                                                   if manifest.exists() else 0):
            if manifest.exists():
                with open(manifest, encoding="utf-8") as events:
                    events.seek(offset)
                    for line in events:
                        if not line.endswith("\n"):
                            break  # a line still being written: read it next time
                        offset += len(line.encode("utf-8"))
                        discovered += '"event": "discovered"' in line
                        answered += '"kind": "article"' in line and '"event": "discovered"' \
                            not in line
                update(answered, discovered or None)
                if extraction is not None:
                    extraction.poll()
            if crawler.poll() is None:
                time.sleep(0.1)
            elif not manifest.exists():
                break


def require_discovery_pages(fetches: pd.DataFrame, profile: SiteProfile) -> None:
    """A crawl that fetched no listing or sitemap page found nothing because the site failed."""
    pages = fetches[fetches["kind"].isin(["listing", "sitemap"])]
    if not (pages["status"] == 200).any():
        first = pages.iloc[0] if len(pages) else None
        why = "no listing page was requested" if first is None else (
            first["error"] or f"HTTP {first['status']}")
        where = profile.listing_url(1) if profile.listing.get("url") else profile.sitemap_url
        raise CrawlError(f"could not fetch the listing of {profile.name} at {where}: {why}")
