"""The `nightly_quality` flow: re-validate the stored corpus and refresh the data docs.

Incremental runs validate only what they fetch; this checks everything stored against the
current suites, so a suite change or a slow drift shows up within a day.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from config import settings
from expectations.quality import failing_markdown, validate_stored
from reports import data_docs
from sites import load_profile
from warehouse import state


@flow(name="nightly_quality")
def nightly_quality(site: str = "demo", db: str | None = None,
                    data_dir: str | None = None) -> dict[str, Any]:
    """Re-validate a site's stored articles with the current suites; rebuild the data docs.

    Args:
        site: the site profile whose stored articles to check.
        db: the DuckDB file (default `data/corpus.duckdb`).
        data_dir: where the data docs are written (default `data/`, as `docs/index.html`).
    """
    db_file = settings.db_path(db, data_dir)
    base_url, articles = state.stored_articles(db_file, site)
    results = validate_stored(articles, load_profile(site, base_url))
    docs = data_docs.build(db_file, settings.data_dir(data_dir) / "docs")
    critical = results[(results["severity"] == "critical") & ~results["success"]]
    create_markdown_artifact(key="nightly-quality", markdown=failing_markdown(results),
                             description=f"Stored {site} articles against the current suites")
    summary = {"site": site, "expectations": len(results),
               "failed": int((~results["success"]).sum()), "critical_failed": len(critical),
               "data_docs": str(docs)}
    get_run_logger().info("Nightly quality of %s: %s", site, summary)
    return summary
