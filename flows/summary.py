"""A run's summary, as the CLI prints it and as the Prefect artifact shows it."""

from __future__ import annotations

from typing import Any

SUMMARY_FIELDS = ("chunks", "skipped_chunks", "discovered", "fetched", "new", "updated",
                  "unchanged", "quarantined", "failed", "not_modified", "seconds")


def markdown_summary(summary: dict[str, Any]) -> str:
    fields = [f for f in SUMMARY_FIELDS if f in summary]
    header = "| " + " | ".join(fields) + " |"
    rule = "|" + "---|" * len(fields)
    values = "| " + " | ".join(str(summary[f]) for f in fields) + " |"
    return (f"### newscorpus run `{summary.get('run_id')}`\n\n{header}\n{rule}\n{values}\n\n"
            f"Database: `{summary.get('db')}`\n")
