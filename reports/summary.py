"""A run's summary, as the CLI prints it and as the Prefect artifact shows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SUMMARY_FIELDS = ("chunks", "skipped_chunks", "files", "runs", "skipped_runs", "discovered",
                  "fetched", "new", "updated", "unchanged", "quarantined", "failed", "not_modified",
                  "seconds")


def markdown_summary(summary: dict[str, Any]) -> str:
    fields = [f for f in SUMMARY_FIELDS if f in summary]
    header = "| " + " | ".join(fields) + " |"
    rule = "|" + "---|" * len(fields)
    values = "| " + " | ".join(str(summary[f]) for f in fields) + " |"
    links = [(what, summary[key]) for what, key in (("This run's page", "run_page"),
                                                     ("Data docs", "data_docs"))
             if summary.get(key)]
    return (f"### newscorpus {summary.get('mode', '')} run `{summary.get('run_id')}`\n\n"
            f"{header}\n{rule}\n{values}\n\n"
            + "".join(f"- {line}\n" for line in summary_notes(summary))
            + f"\nDatabase: `{summary.get('db')}`\n"
            + "".join(f"\n{what}: [{path}]({Path(path).resolve().as_uri()})\n"
                      for what, path in links))


def summary_notes(summary: dict[str, Any]) -> list[str]:
    """Lines under the counts: what found the articles, and what the crawl noticed."""
    found = summary.get("discovered_by") or {}
    lines = [("found by " + ", ".join(f"{via} {n}" for via, n in sorted(found.items())))] \
        if found else []
    return lines + list(summary.get("notices") or [])
