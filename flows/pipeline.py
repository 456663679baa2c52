"""The `news_pipeline` flow: crawl -> extract -> clean -> validate -> load.

The crawl runs as a subprocess (Twisted's reactor cannot restart inside this process) and
leaves a WARC archive and manifest. Everything after it reads only the archive, through the
`process_archive` subflow, which backfills and reprocessing share. Only the load writes DuckDB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE as NO_CACHE
from prefect.concurrency.sync import concurrency

from demosite import server as demo_server
from demosite.corpus import build_site
from expectations.validate import Validation, validate
from extract.article import extract_article
from extract.clean import CleanBatch, clean
from flows import progress, quality, settings, state
from flows.archive_index import fetch_table
from flows.summary import markdown_summary
from reports import data_docs
from sites import SiteProfile, load_profile
from spiders.archive import MANIFEST_NAME, read_payloads
from warehouse.db import WarehouseBusyError
from warehouse.load import Batch, RunInfo, load_run, record_failed_run

CRAWL_DONE = "crawl.done"  # written once a run's crawl finished; a retry skips the crawl


class CrawlError(RuntimeError):
    """The crawl subprocess failed, or reached nothing; its log holds the details."""


def new_run_id(now: datetime, prefix: str = "") -> str:
    """A run id; under Prefect, the same for every retry of one flow run, so a retried run
    finds its finished crawl (and, when it got that far, its completed load) and goes on."""
    flow_run = runtime.flow_run.id
    scheduled = runtime.flow_run.scheduled_start_time if flow_run else None
    if flow_run and scheduled:
        return f"{prefix}{scheduled:%Y%m%dT%H%M%SZ}-{str(flow_run).replace('-', '')[:6]}"
    return f"{prefix}{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@task(retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def crawl(profile: SiteProfile, run_dir: Path, run_id: str, plan: dict[str, Any],
          max_pages: int = 0) -> Path:
    """Crawl into `run_dir` as `plan` says; retried once, crawl failures being mostly transient.

    At most a few crawls of one site run at once (the global concurrency limit
    `newscorpus-crawl-<site>`, where `newscorpus deploy` created it).
    """
    logger = get_run_logger()
    done = run_dir / CRAWL_DONE
    if done.exists():
        logger.info("The crawl of run %s finished before; reusing its archive", run_id)
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
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
        _follow(crawler, run_dir / MANIFEST_NAME, f"Crawling {profile.name}")
    if crawler.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
        raise CrawlError(f"the crawl exited with code {crawler.returncode}; last lines of "
                         f"{log_path}:\n" + "\n".join(tail))
    done.touch()
    return run_dir


@contextmanager
def global_limit(name: str) -> Iterator[None]:
    """Hold one slot of a Prefect global concurrency limit, when running against a server.

    `newscorpus deploy` creates the limits on the server. A local run (Prefect's temporary
    server, no PREFECT_API_URL) has none; there DuckDB's lock and lock wait serialize writers.
    """
    if not os.environ.get("PREFECT_API_URL"):
        yield
        return
    with concurrency(name, occupy=1, timeout_seconds=3600):
        yield


def _follow(crawler: subprocess.Popen[bytes], manifest: Path, description: str) -> None:
    """Wait for the crawl, showing articles fetched of those discovered (when enabled)."""
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
            if crawler.poll() is None:
                time.sleep(0.3)
            elif not manifest.exists():
                break


def require_discovery_pages(fetches: pd.DataFrame, profile: SiteProfile) -> None:
    """A crawl that fetched no listing or sitemap page found nothing because the site failed."""
    pages = fetches[fetches["kind"].isin(["listing", "sitemap"])]
    if not (pages["status"] == 200).any():
        first = pages.iloc[0] if len(pages) else None
        why = "no listing page was requested" if first is None else (
            first["error"] or f"HTTP {first['status']}")
        raise CrawlError(f"could not fetch the listing of {profile.name} at "
                         f"{profile.listing_url(1)}: {why}")


@task(cache_policy=NO_CACHE)
def extract(fetches: pd.DataFrame, profile: SiteProfile) -> list[Any]:
    """Extract every archived article page that answered 200, reading each WARC file once."""
    todo = fetches[(fetches["kind"] == "article") & fetches["outcome"].isna()]
    records = []
    with progress.bar("Extracting", len(todo)) as update:
        for warc_file, group in todo.groupby("warc_file", sort=False):
            by_offset = dict(zip(group["warc_offset"].astype(int), group["final_url"],
                                 strict=True))
            for offset, content_type, body in read_payloads(Path(warc_file), set(by_offset)):
                records.append(extract_article(body, by_offset[offset], profile, content_type))
                update(len(records), None)
    get_run_logger().info("Extracted %d articles", len(records))
    return records


@task(cache_policy=NO_CACHE)
def clean_batch(records: list[Any]) -> CleanBatch:
    return clean(records)


@task(cache_policy=NO_CACHE)
def validate_batch(batch: CleanBatch, profile: SiteProfile, run: RunInfo,
                   db: Path) -> Validation:
    volume = quality.recent_volume(db, profile, run.mode)
    result = validate(quality.validation_frame(batch.articles, profile),
                      quality.validation_params(profile, run.started_at, volume))
    failed = result.results[~result.results["success"]]
    for row in failed.itertuples():
        get_run_logger().info("%s %s on %s: %d rows (%.1f%%) - %s", row.severity, row.expectation,
                              row.column, row.unexpected_count, row.unexpected_percent,
                              row.reason)
    return result


def assemble(fetches: pd.DataFrame, batch: CleanBatch, validation: Validation) -> Batch:
    """Split the cleaned batch into rows to load and rows to quarantine, and mark each fetch."""
    articles = batch.articles
    reasons = dict(validation.reasons)
    held = articles["article_id"].isin(list(reasons))
    duplicates = batch.duplicates.assign(
        reasons=[[f"duplicate: same canonical URL as an article of this run ({u})"]
                 for u in batch.duplicates["canonical_url"]])
    quarantined = pd.concat([
        articles[held].assign(reasons=articles[held]["article_id"].map(reasons)), duplicates,
    ], ignore_index=True)
    quarantine = pd.DataFrame({
        "article_id": quarantined["article_id"], "url": quarantined["url"],
        "reasons": quarantined["reasons"],
        "record": [json.dumps(r, default=str, ensure_ascii=False)
                   for r in quarantined.drop(columns=["reasons"]).to_dict("records")],
    })
    fetches = fetches.copy()
    url_to_id = pd.concat([articles, batch.duplicates]).drop_duplicates("url").set_index(
        "url")["article_id"]
    extracted = (fetches["kind"] == "article") & fetches["outcome"].isna()
    fetches.loc[extracted, "article_id"] = fetches.loc[extracted, "final_url"].map(url_to_id)
    quarantined_urls = set(quarantined["url"])
    fetches.loc[extracted, "outcome"] = fetches.loc[extracted, "final_url"].map(
        lambda u: "quarantined" if u in quarantined_urls else "loaded")
    return Batch(articles[~held].reset_index(drop=True), fetches, quarantine,
                 validation.results)


def _is_busy(task: Any, run: Any, state: Any) -> bool:
    try:
        state.result()
    except WarehouseBusyError:
        return True
    except Exception:
        return False
    return False


@task(retries=3, retry_delay_seconds=[2, 5, 10], cache_policy=NO_CACHE,
      retry_condition_fn=_is_busy)
def load(db: Path, run: RunInfo, batch: Batch) -> dict[str, Any]:
    """Publish the run; retried only while another process holds the database.

    Loads queue on the global concurrency limit `newscorpus-warehouse` (one at a time), where
    `newscorpus deploy` created it; without a server, DuckDB's own lock makes them wait.
    """
    with global_limit("newscorpus-warehouse"), \
            progress.bar(f"Loading {len(batch.articles)} articles"):
        return load_run(db, run, batch, datetime.now(UTC))


@flow(name="process_archive")
def process_archive(profile: SiteProfile, run: RunInfo, fetches: pd.DataFrame, db: Path,
                    drift_threshold: float | None = None) -> dict[str, Any]:
    """Archived responses -> extract -> clean -> validate -> load, for one run.

    When a critical expectation fails for more than `drift_threshold` of the batch (default
    $NEWSCORPUS_DRIFT_THRESHOLD or 0.5), nothing is loaded: the run is recorded as failed,
    with its validation results, and the flow fails with the drift message.
    """
    records = extract(fetches, profile)
    batch = clean_batch(records)
    validation = validate_batch(batch, profile, run, db)
    try:
        quality.check_drift(validation, batch.articles,
                            quality.drift_threshold() if drift_threshold is None
                            else drift_threshold)
    except quality.DriftError as error:
        get_run_logger().error("%s", error)
        record_failed_run(db, run, datetime.now(UTC), str(error), validation.results)
        raise
    return load(db, run, assemble(fetches, batch, validation))


def publish(summary: dict[str, Any], started: datetime, db: Path,
            data_dir: str | None = None) -> dict[str, Any]:
    """Add the timing, refresh the data docs, publish the summary as a Prefect artifact."""
    docs = data_docs.build(db, settings.data_dir(data_dir) / "docs")
    summary = {**summary, "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
               "db": str(db), "data_docs": str(docs)}
    create_markdown_artifact(key="run-summary", markdown=markdown_summary(summary),
                             description=f"newscorpus {summary.get('mode')} run "
                                         f"{summary.get('run_id')}")
    get_run_logger().info("Run %s: %s", summary.get("run_id"), json.dumps(summary, default=str))
    return summary


def record_failure(db: Path, run: RunInfo, error: BaseException,
                   data_dir: str | None = None) -> None:
    """Record the failed run (drift is recorded by process_archive) and refresh the docs."""
    try:
        if not isinstance(error, quality.DriftError):
            get_run_logger().error("Run %s failed: %s", run.run_id, error)
            record_failed_run(db, run, datetime.now(UTC), f"{type(error).__name__}: {error}")
        data_docs.build(db, settings.data_dir(data_dir) / "docs")
    except WarehouseBusyError:
        get_run_logger().warning("Could not record the failed run: the database is busy")


def flow_run_id() -> str | None:
    return str(runtime.flow_run.id) if runtime.flow_run.id else None


def incremental_plan(db: Path, profile: SiteProfile) -> dict[str, Any]:
    """Known URLs, and the cutoff: the newest article held minus the overlap window."""
    newest = state.high_water_mark(db, profile)
    overlap = timedelta(minutes=int(profile.discovery.get("overlap_minutes", 60)))
    return {"mode": "incremental", "known": state.known_urls(db, profile),
            "cutoff": (newest - overlap).isoformat() if newest else None}


@flow(name="news_pipeline", log_prints=True)
def news_pipeline(site: str = "demo", base_url: str | None = None, db: str | None = None,
                  mode: Literal["incremental", "full"] = "incremental", max_pages: int = 0,
                  data_dir: str | None = None,
                  drift_threshold: float | None = None) -> dict[str, Any]:
    """Crawl a site once and load its new and changed articles into the DuckDB corpus.

    Args:
        site: the site profile (see `newscorpus sites`); "demo" starts the built-in demo site
            unless `base_url` is given.
        base_url: override the profile's base URL.
        db: the DuckDB file (default `data/corpus.duckdb`).
        mode: "incremental" fetches what is new or changed since the corpus's newest article
            (everything, on an empty corpus); "full" re-crawls every listing page.
        max_pages: listing pages to crawl at most; 0 = no limit.
        data_dir: where archives live (default `data/`).
        drift_threshold: share of the batch that may fail one critical expectation before
            the run is stopped as layout drift (default $NEWSCORPUS_DRIFT_THRESHOLD or 0.5).
    """
    started = datetime.now(UTC)
    db_file = settings.db_path(db, data_dir)
    with ExitStack() as stack:
        if site == "demo" and not base_url:
            base_url = stack.enter_context(demo_site())
        profile = load_profile(site, base_url)
        run_id = new_run_id(started)
        run_dir = settings.data_dir(data_dir) / "archive" / profile.name / run_id
        run = RunInfo(run_id=run_id, site=profile.name, base_url=profile.base_url, mode=mode,
                      started_at=started, archive_dir=str(run_dir), flow_run_id=flow_run_id())
        try:
            plan = incremental_plan(db_file, profile) if mode == "incremental" else {"mode": mode}
            crawl(profile, run_dir, run_id, plan, max_pages)
            fetches = fetch_table(run_dir)
            require_discovery_pages(fetches, profile)
            summary = process_archive(profile, run, fetches, db_file, drift_threshold)
        except Exception as error:
            record_failure(db_file, run, error, data_dir)
            raise
    return publish(summary, started, db_file, data_dir)


@contextmanager
def demo_site() -> Iterator[str]:
    """Serve the built-in demo site for the length of a run, on the fixed demo port."""
    try:
        site = demo_server.start(build_site(), port=settings.demo_port())
    except OSError as error:
        raise RuntimeError(
            f"cannot start the demo site on port {settings.demo_port()} ({error.strerror}); "
            "stop what uses it, or set NEWSCORPUS_DEMO_PORT") from None
    get_run_logger().info("Demo site serving on %s", site.base_url)
    try:
        yield site.base_url
    finally:
        site.stop()
