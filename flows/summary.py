"""A run's summary, as the CLI prints it and as the Prefect artifact shows it."""

from __future__ import annotations

from typing import Any

SUMMARY_FIELDS = ("discovered", "fetched", "new", "updated", "unchanged", "quarantined",
                  "failed", "seconds")


def markdown_summary(summary: dict[str, Any]) -> str:
    header = "| " + " | ".join(SUMMARY_FIELDS) + " |"
    rule = "|" + "---|" * len(SUMMARY_FIELDS)
    values = "| " + " | ".join(str(summary.get(f, "")) for f in SUMMARY_FIELDS) + " |"
    return (f"### newscorpus run `{summary.get('run_id')}`\n\n{header}\n{rule}\n{values}\n\n"
            f"Database: `{summary.get('db')}`\n")
