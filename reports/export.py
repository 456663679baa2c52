"""Exports of the articles for other tools: Parquet (hive-partitioned by publication date),
CSV or JSON Lines, written by DuckDB's COPY."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from warehouse.db import reading

FORMATS = ("parquet", "csv", "jsonl")
KYIV = ZoneInfo("Europe/Kyiv")
_SELECT = """SELECT *, CAST(published_at AT TIME ZONE 'Europe/Kyiv' AS DATE) AS published_date
FROM articles
WHERE (CAST($since AS TIMESTAMPTZ) IS NULL OR published_at >= CAST($since AS TIMESTAMPTZ))
  AND (CAST($until AS TIMESTAMPTZ) IS NULL OR published_at < CAST($until AS TIMESTAMPTZ))"""


def export(db: Path, out_dir: Path, fmt: str, since: date | None = None,
           until: date | None = None) -> tuple[Path, int]:
    """Write the selected articles; returns where, and how many rows."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    params = {"since": datetime.combine(since, time(), KYIV) if since else None,
              "until": datetime.combine(until + timedelta(days=1), time(), KYIV)
              if until else None}
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
