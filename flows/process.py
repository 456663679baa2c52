"""`process_archive`: archived responses -> extract -> clean -> validate -> stage -> merge.

Every flow ends here: a fresh crawl, a backfill chunk, a reprocessing of old archives. It
reads only the archive, never the network, and only its last two steps write the corpus:
`stage` appends the batch, `merge` publishes it (warehouse/load.py). It is a
function, not a subflow: its tasks show under the calling flow's run, and a subflow's own
bookkeeping on the Prefect server cost 0.8 s a run (a third of a run that finds nothing new).
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NONE as NO_CACHE

from config import memory
from expectations import quality
from expectations.validate import Validation
from expectations.validator import start as start_validation
from expectations.validator import validate_apart
from extract.clean import CleanBatch, split_duplicates
from extract.parts import Parts
from extract.workers import ArchiveExtraction, to_extract
from flows.runs import merge, unwalked
from reports import progress
from sites import SiteProfile
from warehouse import state
from warehouse.db import Target
from warehouse.load import Batch, RunInfo, stage_run


@task(cache_policy=NO_CACHE)
def extract_pages(fetches: pd.DataFrame, extraction: ArchiveExtraction) -> Parts:
    """Extract and clean every archived article page that answered 200, in worker processes.

    `extraction` may have followed the crawl, and holds the pages it did while the crawl ran.
    """
    with progress.bar("Extracting"):
        rows = extraction.finish(fetches)
    early = f" ({extraction.extracted_early} while the crawl ran)" if extraction.run_dir else ""
    get_run_logger().info("Extracted %d articles%s", len(rows), early)
    return rows


@task(cache_policy=NO_CACHE)
def split_batch(rows: Parts) -> CleanBatch:
    """The cleaned rows' keys, with those that repeat an earlier row's article id set apart."""
    return split_duplicates(rows.keys)


@task(cache_policy=NO_CACHE)
def validate_batch(batch: CleanBatch, profile: SiteProfile, run: RunInfo,
                   db: Target) -> Validation:
    """The batch's articles judged by the suites, read from their parts one part at a time."""
    volume = quality.volume_bounds(state.recent_volume(db, profile.name, run.mode), run.mode)
    result = validate_apart((quality.validation_frame(rows, profile)
                             for rows in Parts(batch.articles).frames()),
                            quality.validation_params(profile, run.started_at, volume))
    failed = result.results[~result.results["success"]]
    for row in failed.itertuples():
        get_run_logger().info("%s %s on %s: %d rows (%.1f%%) - %s", row.severity, row.expectation,
                              row.column if isinstance(row.column, str) else "the batch",
                              row.unexpected_count, row.unexpected_percent, row.reason)
    return result


def assemble(fetches: pd.DataFrame, batch: CleanBatch, validation: Validation) -> Batch:
    """Split the cleaned batch into rows to load and rows to quarantine, and mark each fetch.

    The batch holds its rows' keys; only the rows quarantined are read whole, for their
    records. Fetch rows that come quarantined already (an import's record that repeats an
    earlier record's URL) are held with their error as the reason, and their fetch row as
    the record.
    """
    articles = batch.articles
    reasons = dict(validation.reasons)
    held = articles["article_id"].isin(list(reasons))
    failed = Parts(articles[held]).read()
    duplicates = Parts(batch.duplicates).read()
    quarantined = pd.concat([
        failed.assign(reasons=failed["article_id"].map(reasons)),
        duplicates.assign(
            reasons=[[f"duplicate: same canonical URL as an article of this run ({u})"]
                     for u in duplicates["canonical_url"]]),
    ], ignore_index=True)
    repeated = fetches[fetches["outcome"] == "quarantined"]
    quarantine = pd.DataFrame({
        "article_id": [*quarantined["article_id"], *[None] * len(repeated)],
        "url": [*quarantined["url"], *repeated["url"]],
        "reasons": [*quarantined["reasons"], *([error] for error in repeated["error"])],
        "record": [json.dumps(r, default=str, ensure_ascii=False) for r in
                   [*quarantined.drop(columns=["reasons"]).to_dict("records"),
                    *repeated.astype(object).where(repeated.notna(), None).to_dict("records")]],
    })
    fetches = fetches.copy()
    url_to_id = pd.concat([articles, batch.duplicates]).drop_duplicates("url").set_index(
        "url")["article_id"]
    extracted = (fetches["kind"] == "article") & fetches["outcome"].isna()
    fetches.loc[extracted, "article_id"] = fetches.loc[extracted, "final_url"].map(url_to_id)
    quarantined_urls = set(quarantined["url"])
    fetches.loc[extracted, "outcome"] = fetches.loc[extracted, "final_url"].map(
        lambda u: "quarantined" if u in quarantined_urls else "loaded")
    return Batch(Parts(articles[~held].reset_index(drop=True)), fetches, quarantine,
                 validation.results)


@task(cache_policy=NO_CACHE)
def stage(db: Target, run: RunInfo, batch: Batch) -> dict[str, Any] | None:
    """Append the run's batch to the staging tables; the run's summary instead when it has
    completed already (a retried flow run). No lock: runs into a lake stage side by side."""
    with progress.bar(f"Staging {len(batch.articles)} articles"):
        return stage_run(db, run, batch, datetime.now(UTC))


def process_archive(profile: SiteProfile, run: RunInfo, fetches: pd.DataFrame, db: Target,
                    drift_threshold: float | None = None,
                    extraction: ArchiveExtraction | None = None) -> dict[str, Any]:
    """Archived responses -> extract -> clean -> validate -> stage -> merge, for one run.

    `extraction`, when the caller had it follow the crawl, holds the pages already done; it
    holds the batch's rows on disk until the caller ends it, so through the stage.

    When a critical expectation fails for more than `drift_threshold` of the batch (default
    $NEWSCORPUS_DRIFT_THRESHOLD or 0.5), nothing is loaded: DriftError, which carries the
    validation results for the failed run's record (flows/runs.py, `recorded`).
    """
    if not to_extract(fetches).empty:
        start_validation()  # GX is imported while the extraction workers work
    with (nullcontext(extraction) if extraction is not None
          else ArchiveExtraction(profile)) as pages:
        batch = split_batch(unwalked(extract_pages(fetches, unwalked(pages))))
        validation = validate_batch(batch, profile, run, db)
        quality.check_drift(validation, batch.articles, quality.drift_threshold()
                            if drift_threshold is None else drift_threshold, profile.name)
        loading = assemble(fetches, batch, validation)
        # From here `loading` alone holds the batch's keys, and after the stage nothing does:
        # the merge reads it from the staging tables. What that frees goes back to the system.
        del batch, validation
        memory.give_back()
        done = stage(db, run, loading)
    if done is not None:
        return done
    del loading
    memory.give_back()
    return merge(db, run.run_id)[run.run_id]
