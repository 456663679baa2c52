"""A run's summary, as the CLI prints it and as the Prefect artifact shows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SUMMARY_FIELDS = ("chunks", "skipped_chunks", "discovered", "fetched", "new", "updated",
                  "unchanged", "quarantined", "failed", "not_modified", "seconds")


def markdown_summary(summary: dict[str, Any]) -> str:
    fields = [f for f in SUMMARY_FIELDS if f in summary]
    header = "| " + " | ".join(fields) + " |"
    rule = "|" + "---|" * len(fields)
    values = "| " + " | ".join(str(summary[f]) for f in fields) + " |"
    docs = summary.get("data_docs")
    return (f"### newscorpus {summary.get('mode', '')} run `{summary.get('run_id')}`\n\n"
            f"{header}\n{rule}\n{values}\n\n"
            + "".join(f"- {line}\n" for line in summary_notes(summary))
            + f"\nDatabase: `{summary.get('db')}`\n"
            + (f"\nData docs: [{docs}](file://{Path(docs).resolve()})\n" if docs else ""))


def summary_notes(summary: dict[str, Any]) -> list[str]:
    """Lines under the counts: what found the articles, and what the crawl noticed."""
    found = summary.get("discovered_by") or {}
    lines = [("found by " + ", ".join(f"{via} {n}" for via, n in sorted(found.items())))] \
        if found else []
    return lines + list(summary.get("notices") or [])
