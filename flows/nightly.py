"""The `nightly_quality` flow: re-validate the stored corpus, verify the last day's
archives, and refresh the data docs.

Incremental runs validate only what they fetch; this checks everything stored against the
current suites, so a suite change or a slow drift shows up within a day. A WARC file damaged
after its run (a disk, a copy) shows up the same way, before a reprocessing needs it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from config import settings
from expectations.quality import failing_markdown, validate_stored
from reports import data_docs
from sites import load_profile
from spiders.archive_check import check_run
from warehouse import state
from warehouse.db import target


@flow(name="nightly_quality")
def nightly_quality(site: str = "demo", db: str | None = None, data_dir: str | None = None,
                    archive_days: float = 1.0, warehouse: str | None = None,
                    lake_data: str | None = None) -> dict[str, Any]:
    """Re-validate a site's stored articles with the current suites, verify the archives of
    its recent runs (as `newscorpus archive verify`), and rebuild the data docs.

    Args:
        site: the site profile whose stored articles to check.
        db: the DuckDB file (default `data/corpus.duckdb`).
        warehouse: `duckdb` (the default: the file `db`) or `ducklake:postgres:<libpq
            string>`, a lake whose catalog is in PostgreSQL ($NEWSCORPUS_WAREHOUSE).
        lake_data: a lake's data folder (default `<data_dir>/lake`, $NEWSCORPUS_LAKE_DATA).
        data_dir: where the data docs are written (default `data/`, as `docs/index.html`).
        archive_days: verify the archives of the runs that started this many days back.
    """
    logger = get_run_logger()
    corpus = target(db, data_dir, warehouse, lake_data)
    base_url, articles = state.stored_articles(corpus, site)
    results = validate_stored(articles, load_profile(site, base_url))
    since = datetime.now(UTC) - timedelta(days=archive_days)
    archives = [check_run(folder) for folder in state.recent_archives(corpus, site, since)]
    problems = [problem for check in archives for problem in check.problems]
    for problem in problems:
        logger.error("Archive: %s", problem)
    docs = data_docs.build(corpus, settings.data_dir(data_dir) / "docs")
    critical = results[(results["severity"] == "critical") & ~results["success"]]
    markdown = failing_markdown(results) + "\n\n## Archives\n\n" + (
        f"{len(archives)} runs' archives verified, "
        f"{sum(c.verified for c in archives)} responses." if not problems
        else "\n".join(f"- {problem}" for problem in problems))
    create_markdown_artifact(key="nightly-quality", markdown=markdown,
                             description=f"Stored {site} articles against the current suites")
    summary = {"site": site, "expectations": len(results),
               "failed": int((~results["success"]).sum()), "critical_failed": len(critical),
               "archives_verified": len(archives), "archive_problems": len(problems),
               "data_docs": str(docs)}
    logger.info("Nightly quality of %s: %s", site, summary)
    return summary
