"""The `backfill` flow: load the articles published in a date window, in resumable chunks.

1. Discovery: one crawl lists the window's articles from the site's sitemaps (publication
   dates from `news:publication_date`), or from its listing pages where it has no sitemap.
2. The articles are split into chunks by publication day or week. Each chunk is one run with
   a deterministic id (`backfill-<site>-<first day>-<last day>`), so a rerun skips the chunks
   that completed and redoes only the rest: an interrupted backfill, rerun, ends where an
   uninterrupted one would.
3. Chunk crawls run concurrently (`concurrency` at a time); each chunk is then extracted,
   validated and loaded by `process_archive`, one after another, since DuckDB
   has a single writer. Known articles are re-fetched conditionally (304 when unchanged).
4. With `fan_out`, each chunk is instead a flow run of `backfill_chunk` that the work pool's
   workers share (flows/fanout.py), loading into a lake that many workers write at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from config import settings
from flows.crawling import crawl, require_discovery_pages
from flows.fanout import not_completed, run_on_pool
from flows.pipeline import site_profile
from flows.process import process_archive
from flows.runs import flow_run_id, new_run_id, publish, recorded, unwalked
from sites import SiteProfile
from spiders.fetches import fetch_table
from spiders.manifest import Discovered, read_manifest
from spiders.plan import CrawlPlan, KnownUrls
from warehouse import state
from warehouse.db import Target, require_writable, target
from warehouse.load import COUNTS, RunInfo, add_counts


def chunk_start(day: date, chunk: str) -> date:
    return day - timedelta(days=day.weekday()) if chunk == "week" else day


def plan_chunks(discovered: Iterable[Discovered], profile: SiteProfile, since: date,
                until: date, chunk: str) -> dict[tuple[date, date], list[str]]:
    """URLs per (first day, last day) chunk, clipped to the window; undated URLs go last."""
    chunks: dict[tuple[date, date], list[str]] = defaultdict(list)
    for event in discovered:
        published = event.published
        if not published:
            chunks[(since, until)].append(event.url)
            continue
        day = datetime.fromisoformat(published).astimezone(profile.tz).date()
        first = chunk_start(day, chunk)
        start = max(first, since)
        end = min(first + timedelta(days=6 if chunk == "week" else 0), until)
        chunks[(start, end)].append(event.url)
    return dict(sorted(chunks.items()))


def _window(profile: SiteProfile, since: date, until: date) -> tuple[datetime, datetime]:
    """[since 00:00, the day after until 00:00) in the site's time zone."""
    return (datetime.combine(since, time(), profile.tz),
            datetime.combine(until + timedelta(days=1), time(), profile.tz))


def chunk_run_id(profile: SiteProfile, first: date, last: date,
                 force_at: datetime | None = None) -> str:
    """The chunk [first, last]'s run id: fixed, so that a rerun finds it, unless `force_at`
    asks for a new one."""
    run_id = f"backfill-{profile.name}-{first:%Y%m%d}-{last:%Y%m%d}"
    return new_run_id(force_at, f"{run_id}-") if force_at is not None else run_id


def _chunk_run(profile: SiteProfile, root: Path, first: date, last: date,
               run_id: str) -> RunInfo:
    chunk_since, chunk_until = _window(profile, first, last)
    return RunInfo(run_id=run_id, site=profile.name, base_url=profile.base_url,
                   timezone=profile.timezone, mode="backfill", started_at=datetime.now(UTC),
                   archive_dir=str(root / run_id), flow_run_id=flow_run_id(),
                   window_since=chunk_since, window_until=chunk_until)


def _archive_root(profile: SiteProfile, data_dir: str | None, since: date, until: date) -> Path:
    return settings.data_dir(data_dir) / "archive" / profile.name / f"backfill-{since}-{until}"


def _chunk_plan(urls: list[str], known: KnownUrls) -> CrawlPlan:
    """The chunk's URLs; the known ones re-fetched conditionally (304 when unchanged)."""
    return CrawlPlan(mode="urls", urls=urls, known=known.only(urls))


@flow(name="backfill", task_runner=ThreadPoolTaskRunner(max_workers=4))  # type: ignore[arg-type]
def backfill(since: date, until: date, site: str = "demo", base_url: str | None = None,
             db: str | None = None, chunk: Literal["day", "week"] = "day",
             concurrency: int = 2, force: bool = False,
             data_dir: str | None = None, warehouse: str | None = None,
             lake_data: str | None = None, fan_out: bool = False) -> dict[str, Any]:
    """Load the articles published from `since` to `until` (inclusive, site time), in chunks.

    Args:
        since: first publication day of the window.
        until: last publication day of the window.
        site: the site profile; "demo" starts the built-in demo site unless `base_url` is given.
        base_url: override the profile's base URL.
        db: the DuckDB file (default `data/corpus.duckdb`).
        warehouse: `duckdb` (the default: the file `db`) or `ducklake:postgres:<libpq
            string>`, a lake whose catalog is in PostgreSQL ($NEWSCORPUS_WAREHOUSE).
        lake_data: a lake's data folder (default `<data_dir>/lake`, $NEWSCORPUS_LAKE_DATA).
        chunk: one run per "day" or per "week" of publication.
        concurrency: chunk crawls in flight at once (1 to 4), in this process.
        force: redo chunks that already completed (new run ids) instead of skipping them.
        data_dir: where archives live (default `data/`); with `fan_out`, a folder that every
            worker sees.
        fan_out: run each chunk as a flow run of the `backfill-chunk` deployment, so that the
            work pool's workers share them (`concurrency` does not apply), and wait for them.
    """
    if until < since:
        raise ValueError(f"the window ends ({until}) before it starts ({since})")
    if not 1 <= concurrency <= 4:
        raise ValueError(f"concurrency must be 1 to 4, got {concurrency}")
    logger = get_run_logger()
    started = datetime.now(UTC)
    corpus = target(db, data_dir, warehouse, lake_data)
    require_writable(corpus)  # before the discovery crawl, not after the chunks' crawls
    with site_profile(site, base_url) as profile:
        root = _archive_root(profile, data_dir, since, until)
        chunks = discover(profile, root / new_run_id(started, "discover-"), since, until,
                          chunk)
        logger.info("Window %s..%s: %d articles in %d chunks", since, until,
                    sum(map(len, chunks.values())), len(chunks))

        runs: list[tuple[RunInfo, list[str]]] = []
        for (first, last), urls in chunks.items():
            run_id = chunk_run_id(profile, first, last, started if force else None)
            if not state.completed(corpus, run_id):
                runs.append((_chunk_run(profile, root, first, last, run_id), urls))
        skipped = len(chunks) - len(runs)
        logger.info("%d chunks already loaded, %d to do", skipped, len(runs))
        if fan_out:
            summaries = fan_out_chunks(runs, corpus, since=since, until=until, site=site,
                                       base_url=profile.base_url, db=db, data_dir=data_dir,
                                       warehouse=warehouse, lake_data=lake_data)
        else:
            summaries = _chunks_here(profile, runs, corpus, concurrency, data_dir)
    totals = dict.fromkeys(COUNTS, 0)
    for summary in summaries:
        add_counts(totals, summary)
    return publish({"run_id": f"backfill {since}..{until}", "mode": "backfill",
                    "status": "completed", "chunks": len(chunks), "skipped_chunks": skipped,
                    **totals}, started, corpus, data_dir)


def discover(profile: SiteProfile, discovery_dir: Path, since: date, until: date,
             chunk: str) -> dict[tuple[date, date], list[str]]:
    """The window's article URLs by chunk, from a crawl of the site's sitemaps (or listing
    pages) that fetches no article. Its manifest is read an event at a time, twice: at 200k
    articles its events held at once took 130 MiB."""
    start, end = _window(profile, since, until)
    crawl(profile, discovery_dir, discovery_dir.name,
          CrawlPlan(mode="discover", since=start, until=end))
    require_discovery_pages(fetch_table(discovery_dir, unfetched=False), profile)
    return plan_chunks((e for e in read_manifest(discovery_dir) if isinstance(e, Discovered)),
                       profile, since, until, chunk)


def _chunks_here(profile: SiteProfile, runs: list[tuple[RunInfo, list[str]]], corpus: Target,
                 concurrency: int, data_dir: str | None) -> list[dict[str, Any]]:
    """The chunks in this process: `concurrency` crawls at once, loads one after another."""
    known = state.known_urls(corpus, profile)

    def start_crawl(run: RunInfo, urls: list[str]) -> tuple[RunInfo, Any]:
        plan = _chunk_plan(urls, known)
        return run, crawl.submit(profile, Path(run.archive_dir), run.run_id, unwalked(plan))

    summaries = []
    pending = [start_crawl(*r) for r in runs[:concurrency]]
    queue = runs[concurrency:]
    while pending:
        run, future = pending.pop(0)
        if queue:
            pending.append(start_crawl(*queue.pop(0)))
        with recorded(run, corpus, data_dir):
            future.result()
            summaries.append(process_archive(profile, run, fetch_table(Path(run.archive_dir)),
                                             corpus))
    return summaries


CHUNK_DEPLOYMENT = "backfill_chunk/backfill-chunk"


class ChunksFailedError(RuntimeError):
    """Chunk flow runs of a fanned-out backfill did not complete; a rerun redoes them."""


def fan_out_chunks(runs: list[tuple[RunInfo, list[str]]], corpus: Target,
                   **params: Any) -> list[dict[str, Any]]:
    """One `backfill-chunk` flow run per chunk, named by its run id, on the work pool
    (flows/fanout.py); the chunks' summaries as the corpus holds them. A chunk started again
    after its worker died has the same run id, so it finds what the dead attempt left and
    loads once."""
    ended = run_on_pool(CHUNK_DEPLOYMENT, {
        run.run_id: {**params, "first": _day(run.window_since),
                     "last": _day(run.window_until, before=True), "urls": urls,
                     "run_id": run.run_id}
        for run, urls in runs})
    if failed := not_completed(ended):
        raise ChunksFailedError(f"{len(failed)} of {len(ended)} chunks did not complete: "
                                + ", ".join(failed) + "; rerun the backfill to redo them")
    return [state.run_summary(corpus, run.run_id) for run, _ in runs]


def _day(moment: datetime | None, before: bool = False) -> str | None:
    """A window bound's day (the day before it, for the window's exclusive end)."""
    if moment is None:
        return None
    return (moment - timedelta(days=1) if before else moment).date().isoformat()


@flow(name="backfill_chunk", retries=1, retry_delay_seconds=10)
def backfill_chunk(since: date, until: date, first: date, last: date, urls: list[str],
                   run_id: str, site: str = "demo", base_url: str | None = None,
                   db: str | None = None, data_dir: str | None = None,
                   warehouse: str | None = None,
                   lake_data: str | None = None) -> dict[str, Any]:
    """One chunk of a fanned-out backfill, on whichever worker of the pool takes it: crawl its
    URLs, then extract, validate and load them as the run `run_id`. A chunk that completed
    already is not redone; a retried one finds its finished crawl and goes on.

    Args:
        since: first publication day of the whole backfill (it names the archive folder).
        until: last publication day of the whole backfill.
        first: the chunk's first publication day.
        last: the chunk's last publication day.
        urls: the chunk's article URLs, from the backfill's discovery.
        run_id: the chunk's run id, as the backfill chose it.
        site: the site profile.
        base_url: the site's base URL (the backfill's, resolved).
        db: the DuckDB file; a fanned-out backfill wants a lake (`warehouse`), which many
            workers can write at once.
        data_dir: where archives live: a folder every worker sees.
        warehouse: `ducklake:postgres:<libpq string>` ($NEWSCORPUS_WAREHOUSE).
        lake_data: the lake's data folder ($NEWSCORPUS_LAKE_DATA).
    """
    corpus = target(db, data_dir, warehouse, lake_data)
    with site_profile(site, base_url) as profile:
        run = _chunk_run(profile, _archive_root(profile, data_dir, since, until), first, last,
                         run_id)
        if state.completed(corpus, run_id):
            return state.run_summary(corpus, run_id)
        with recorded(run, corpus, data_dir):
            crawl(profile, Path(run.archive_dir), run_id,
                  unwalked(_chunk_plan(urls, state.known_urls(corpus, profile))))
            return process_archive(profile, run, fetch_table(Path(run.archive_dir)), corpus)
