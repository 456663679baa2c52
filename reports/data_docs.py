"""Data docs: one self-contained HTML page of the last runs' validation results, and a page
of each run, which the run's Prefect artifact links to.

Rendered from `crawl_runs` and `validation_results` rather than with GX's own site builder,
whose pages pull CSS and JavaScript from CDNs: this page has inline CSS, no script, and no
URL to load anything from, so it opens offline. Every value is escaped (Jinja2 autoescape).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from warehouse import queries
from warehouse.db import Target, reading

_ENV = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                   autoescape=select_autoescape(["html"]))


def run_page(out_dir: Path, run_id: str) -> Path:
    """Where a run's own page is: it stays when the index has moved on to later runs."""
    return out_dir / "runs" / (re.sub(r"[^A-Za-z0-9._-]", "_", run_id) + ".html")


def build(db: Target, out_dir: Path, runs: int = 10) -> Path:
    """Write `out_dir/index.html` for the last `runs` runs, and a page of each of them
    (`run_page`); returns the index's path.

    A run's page says nothing of when it was made, so it is written only when the run's
    record changed (a retried chunk, a failure recorded late) or the template did: the pages
    of runs that did not change keep their files."""
    with reading(db) as con:
        last_runs = queries.rows(con, "last_runs", limit=runs)
        results = queries.rows(con, "run_validation", limit=runs)
        ids = sorted({i for r in results if not r["success"] for i in r["sample_ids"] or []})
        samples = {r["article_id"]: r for r in queries.rows(con, "sample_rows", ids=ids)}
    by_run: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        result["samples"] = [samples.get(i, {"article_id": i, "url": None, "title": None})
                             for i in result["sample_ids"] or []]
        by_run.setdefault(result["run_id"], []).append(result)
    template = _ENV.get_template("data_docs.html")
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    for run in last_runs:
        page = run_page(out_dir, run["run_id"])
        html = template.render(runs=[run], results=by_run, db=str(db), index="../index.html")
        if not page.is_file() or page.read_text(encoding="utf-8") != html:
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(html, encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / "index.html"
    page.write_text(template.render(runs=last_runs, results=by_run, generated=generated,
                                    db=str(db), index=None), encoding="utf-8")
    return page
