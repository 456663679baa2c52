"""A batch's cleaned rows in Parquet files on disk, and the narrow columns the flow holds.

The extraction workers write each chunk's cleaned rows to a Parquet part (`write_part`) and
hand back only what the flow needs of every row to split and account for the batch: the
article id, the URLs and where the row is. Validation then reads the rows a part at a time,
quarantine reads the few rows it holds back, and the load reads the rest straight from the
files (warehouse/sql/load.sql, `stage_articles`). So the flow's process never holds the
text of the whole batch: at 50k articles, holding it made that process 141-158 MiB larger
from extraction to the stage (docs/performance.md, "The batch in parts on disk").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from extract.record import CORPUS_COLUMNS, VALIDATION_ONLY

_TEXT = pa.string()
_TIME = pa.timestamp("us", tz="UTC")  # DuckDB's TIMESTAMPTZ
_LIST = pa.list_(pa.string())
# A part's columns, as `clean_rows` makes them; provenance (a dict of field -> layer, whose
# keys vary by page) is JSON text, as the corpus stores it.
_TYPES = {"published_at": _TIME, "modified_at": _TIME, "tags": _LIST, "labels": _LIST,
          "authors": _LIST, "has_jsonld": pa.bool_(), "truncated": pa.bool_(),
          "word_count": pa.int64()}
SCHEMA = pa.schema([(name, _TYPES.get(name, _TEXT))
                    for name in (*CORPUS_COLUMNS, *VALIDATION_ONLY)])
LISTS = [name for name, kind in _TYPES.items() if kind == _LIST]
TEXTS = [name for name in SCHEMA.names if name not in _TYPES]
# What the flow keeps of each row: where it is (its part's file, its row there) and the
# columns that split the batch into articles and duplicates and mark its fetches.
KEYS = ("part_file", "part_row", "article_id", "url", "canonical_url")


@dataclass(frozen=True)
class Parts:
    """Rows of a batch: the narrow `KEYS` columns of each, in the batch's order; the rows
    themselves are in the Parquet files that `part_file` names. Any selection of the keys'
    rows is another `Parts` over the same files."""

    keys: pd.DataFrame

    @classmethod
    def empty(cls) -> Parts:
        return cls(pd.DataFrame({name: pd.Series(dtype="int64" if name == "part_row" else object)
                                 for name in KEYS}))

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def files(self) -> list[str]:
        """The parts that hold some of the rows, in the order of their first row."""
        return list(dict.fromkeys(self.keys["part_file"]))

    def frames(self) -> Iterator[pd.DataFrame]:
        """The rows, whole, a part at a time (the rows of a part in the batch's order), each
        frame indexed by the rows' positions in the batch; one empty frame when there are
        no rows, so that a reader still finds the columns."""
        if self.keys.empty:
            yield _frame(SCHEMA.empty_table())
        keys = self.keys.reset_index(drop=True)
        for file, rows in keys.groupby("part_file", sort=False):
            table = pq.read_table(file).take(rows["part_row"].to_numpy())
            yield _frame(table).set_axis(rows.index)

    def read(self) -> pd.DataFrame:
        """Every row, whole, in the batch's order: for a few rows (the ones held back)."""
        return pd.concat(list(self.frames())).sort_index().reset_index(drop=True)


def write_part(rows: pd.DataFrame, file: Path) -> pd.DataFrame:
    """Write cleaned rows (`clean_rows`) to a Parquet part; returns their `KEYS`, on the
    rows' own index."""
    table = pa.Table.from_pandas(rows.assign(provenance=rows["provenance"].map(json.dumps)),
                                 schema=SCHEMA, preserve_index=False)
    pq.write_table(table, file)
    keys = rows[list(KEYS[2:])].assign(part_file=str(file),
                                      part_row=np.arange(len(rows), dtype="int64"))
    return keys[list(KEYS)]


def _frame(table: pa.Table) -> pd.DataFrame:
    """Rows read back as `clean_rows` made them: lists as lists, provenance as a dict, and
    text as Python strings, a missing one None (as Arrow strings it would be NaN, which JSON
    does not have: a quarantine record is JSON)."""
    frame = table.to_pandas()
    for name in TEXTS:
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    for name in LISTS:
        frame[name] = frame[name].map(list)
    frame["provenance"] = frame["provenance"].map(json.loads)
    return frame
