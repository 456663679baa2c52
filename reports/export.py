"""Exports of the articles for other tools: Parquet (hive-partitioned by publication date),
CSV or JSON Lines, written by DuckDB's COPY."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from warehouse.db import connect

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
    con = connect(db, read_only=True, wait=0)
    try:
        rows = con.execute(f"SELECT count(*) FROM ({_SELECT})", params).fetchone()[0]
        con.execute(f"COPY ({_SELECT}) TO '{_quoted(target)}' ({options})", params)
    finally:
        con.close()
    return target, rows


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
