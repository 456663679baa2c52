"""The crawl step: run the spider in a subprocess, follow its manifest, check it reached the site.

Twisted's reactor cannot restart inside a long-lived (Prefect) process, so every crawl is its
own `python -m spiders.crawl` process (spiders/launch.py), writing a WARC archive and a
manifest into the run's folder.
"""

from __future__ import annotations

import subprocess
from contextlib import suppress
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NONE as NO_CACHE

from expectations.validator import start as start_validation
from extract.workers import ArchiveExtraction
from flows.runs import crawl_limit, global_limit
from reports import progress
from sites import SiteProfile
from spiders import launch
from spiders.manifest import Discovered, Failed, Fetched, ManifestReader, remove_manifest
from spiders.plan import CrawlPlan

CRAWL_DONE = "crawl.done"  # written once a run's crawl finished; a retry skips the crawl


class CrawlError(RuntimeError):
    """The crawl subprocess failed, or reached nothing; its log holds the details."""


@task(retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def crawl(profile: SiteProfile, run_dir: Path, run_id: str, plan: CrawlPlan,
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
    remove_manifest(run_dir)  # a retry starts afresh; nobody may follow the last attempt's
    if extraction is not None:
        extraction.restart()
    plan_path = run_dir / "plan.json"
    plan.write(plan_path)
    log_path = run_dir / "crawl.log"
    arguments = ["--site", profile.name, "--base-url", profile.base_url, "--out", str(run_dir),
                 "--run-id", run_id, "--max-pages", str(max_pages), "--plan", str(plan_path)]
    logger.info("Crawling %s (%s), mode %s; log in %s", profile.name, profile.base_url,
                plan.mode, log_path)
    with global_limit(crawl_limit(profile.name)):
        crawler = launch.start(arguments, log_path)
        _follow(crawler, ManifestReader(run_dir), f"Crawling {profile.name}", extraction)
    if crawler.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
        raise CrawlError(f"the crawl exited with code {crawler.returncode}; last lines of "
                         f"{log_path}:\n" + "\n".join(tail))
    done.touch()
    return run_dir


def _follow(crawler: subprocess.Popen[bytes], manifest: ManifestReader, description: str,
            extraction: ArchiveExtraction | None) -> None:
    """Wait for the crawl, showing articles answered of those discovered (when enabled), and
    handing `extraction` what was archived. Ends when the crawler has exited and its manifest
    is read to its last whole line.

    The first article discovered starts the validation process, which imports Great
    Expectations (seconds) while the crawl runs, so that it is ready when the crawl ends
    (expectations/validator.py); a crawl that finds nothing new leaves a batch of no rows,
    which is judged without it (expectations/validate.py)."""
    with progress.bar(description) as update:
        discovered = answered = 0
        while True:
            running = crawler.poll() is None
            events = manifest.new_events()
            for event in events:
                if isinstance(event, Discovered):
                    if not discovered:
                        start_validation()
                    discovered += 1
                elif isinstance(event, Fetched | Failed):
                    answered += event.kind == "article"
            update(answered, discovered or None)
            if extraction is not None:
                extraction.add(events)
            if not running:
                return
            with suppress(subprocess.TimeoutExpired):
                crawler.wait(timeout=0.1)  # returns as soon as the crawl exits


def require_discovery_pages(fetches: pd.DataFrame, profile: SiteProfile) -> None:
    """A crawl that fetched no listing or sitemap page found nothing because the site failed."""
    pages = fetches[fetches["kind"].isin(["listing", "sitemap", "rss"])]
    if not (pages["status"] == 200).any():
        first = pages.iloc[0] if len(pages) else None
        why = "no listing page was requested" if first is None else (
            first["error"] or f"HTTP {first['status']}")
        where = profile.listing_url(1) if profile.listing.url else profile.sitemap_url
        raise CrawlError(f"could not fetch the listing of {profile.name} at {where}: {why}")
