"""Exports of the articles for other tools: Parquet (hive-partitioned by publication date),
CSV or JSON Lines, written by DuckDB's COPY."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from warehouse.db import Target, reading

FORMATS = ("parquet", "csv", "jsonl")
# Days are publication days in each article's site time zone (the articles_local view).
_SELECT = """SELECT * EXCLUDE (published_local, site_timezone),
       CAST(published_local AS DATE) AS published_date
FROM articles_local
WHERE (CAST($since AS DATE) IS NULL OR CAST(published_local AS DATE) >= CAST($since AS DATE))
  AND (CAST($until AS DATE) IS NULL OR CAST(published_local AS DATE) <= CAST($until AS DATE))"""


def export(db: Target, out_dir: Path, fmt: str, since: date | None = None,
           until: date | None = None) -> tuple[Path, int]:
    """Write the selected articles; returns where, and how many rows."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    params = {"since": since, "until": until}
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / ("articles" if fmt == "parquet" else f"articles.{fmt}")
    options = {"parquet": "FORMAT parquet, PARTITION_BY (published_date), OVERWRITE_OR_IGNORE",
               "csv": "FORMAT csv, HEADER", "jsonl": "FORMAT json"}[fmt]
    with reading(db, wait=0) as con:
        counted = con.execute(f"SELECT count(*) FROM ({_SELECT})", params).fetchone()
        con.execute(f"COPY ({_SELECT}) TO '{_quoted(target)}' ({options})", params)
    return target, counted[0] if counted else 0


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
