"""Run the Great Expectations suites in this folder on a cleaned batch.

Suites are GX JSON files reviewed like code. Validation runs on pandas DataFrames (GX's SQL
path fails on DuckDB), with COMPLETE results so each failing row is known by its article id.
A critical failure quarantines the row; a warning is only recorded.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

SUITE_DIR = Path(__file__).parent
SAMPLE_SIZE = 5
# Failing rows are named by this index (the article id). With the ids in the index, GX lists
# them without a per-row `DataFrame.at` (a third of a batch's validation when many rows fail).
ROW_ID = "row_article_id"


class SuiteError(RuntimeError):
    """An expectation could not be evaluated: the suite or the batch is malformed."""


@dataclass(frozen=True)
class Validation:
    results: pd.DataFrame            # one row per expectation: see RESULT_COLUMNS
    reasons: dict[str, list[str]]    # article_id -> reasons of its critical failures


RESULT_COLUMNS = ["suite", "expectation", "column", "severity", "success", "unexpected_count",
                  "unexpected_percent", "sample_ids", "reason"]


def import_gx() -> None:
    """Import Great Expectations (seconds), ahead of the batch that needs it."""
    import great_expectations  # noqa: F401


@cache
def _suite_json(name: str) -> dict[str, Any]:
    return json.loads((SUITE_DIR / f"{name}.json").read_text(encoding="utf-8"))


def _context() -> Any:
    import great_expectations as gx

    for name in [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]:
        logging.getLogger(name).setLevel(logging.ERROR)  # it announces temp dirs at INFO
    context = gx.get_context(mode="ephemeral")
    # GX takes the plain mapping its config file would hold.
    context.variables.progress_bars = {"globally": False}
    return context


def _run_suite(context: Any, name: str, frame: pd.DataFrame,
               params: dict[str, Any]) -> list[Any]:
    import great_expectations as gx

    suite = gx.ExpectationSuite(**_suite_json(name))
    source = context.data_sources.add_pandas(f"batch_{name}")
    asset = source.add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe(name).get_batch(
        batch_parameters={"dataframe": frame})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = batch.validate(suite, expectation_parameters=params, result_format={
            "result_format": "COMPLETE", "unexpected_index_column_names": [ROW_ID],
            "exclude_unexpected_values": True})
    return list(result.results)


def _failing_ids(result: dict[str, Any]) -> list[str]:
    """Ids of the failing rows, in batch order (GX gives them as one list in one dict)."""
    return [str(i) for entry in result.get("unexpected_index_list") or []
            for i in entry[ROW_ID]]


def _errors(info: dict[str, Any] | None) -> list[str]:
    """Messages of the exceptions an expectation raised; GX nests them per metric."""
    if not info:
        return []
    entries = [info] if "raised_exception" in info else [
        v for v in info.values() if isinstance(v, dict)]
    return [str(e.get("exception_message") or "unknown error") for e in entries
            if e.get("raised_exception")]


def _columns(kwargs: dict[str, Any]) -> str | None:
    if "column" in kwargs:
        return kwargs["column"]
    names = kwargs.get("column_list") or [kwargs[k] for k in ("column_A", "column_B")
                                          if k in kwargs]
    return ", ".join(names) or None


def tag_rows(articles: pd.DataFrame) -> pd.DataFrame:
    exploded = articles[["article_id", "tags"]].explode("tags").dropna(subset=["tags"])
    return exploded.rename(columns={"tags": "tag"}).reset_index(drop=True)


def _parameter(value: Any, params: dict[str, Any]) -> Any:
    return params.get(value["$PARAMETER"]) if isinstance(value, dict) else value


def _empty_batch_results(params: dict[str, Any]) -> Validation | None:
    """The suites' results on a batch of no rows, without Great Expectations: each row
    expectation holds for want of rows, and the row count (0) is checked against its bounds.
    A no-change run has such a batch, and importing GX for it took seconds. None when a
    suite holds another kind of table expectation, which only GX may judge."""
    rows = []
    for name in ("articles", "tags"):
        for spec in _suite_json(name)["expectations"]:
            kwargs = spec["kwargs"]
            success = True
            if spec["type"] == "expect_table_row_count_to_be_between":
                low, high = (_parameter(kwargs.get(k), params) for k in ("min_value",
                                                                          "max_value"))
                success = (low is None or low <= 0) and (high is None or high >= 0)
            elif _columns(kwargs) is None:
                return None
            rows.append({"suite": name, "expectation": spec["type"], "column": _columns(kwargs),
                         "severity": spec["severity"], "success": success,
                         "unexpected_count": 0, "unexpected_percent": 0.0, "sample_ids": [],
                         "reason": (spec.get("meta") or {}).get("reason", spec["type"])})
    return Validation(pd.DataFrame(rows, columns=RESULT_COLUMNS), {})


def validate(articles: pd.DataFrame, params: dict[str, Any],
             judge: Callable[[pd.DataFrame, dict[str, Any]], Validation] | None = None,
             ) -> Validation:
    """Validate a batch; `params` fills the suites' $PARAMETERs (url_pattern, founded, now, …).

    `articles` carries the record's columns plus the computed `weekday_agrees` and `tag_count`;
    the judge is handed only those the suites read (`judged_columns`). A batch of no rows is
    judged here; any other, by `judge` (default `validate_with_gx`, in this process; the
    flows use expectations/validator.py).
    """
    if articles.empty and (empty := _empty_batch_results(params)) is not None:
        return empty
    return (judge or validate_with_gx)(articles[judged_columns(articles)], params)


def judged_columns(articles: pd.DataFrame) -> list[str]:
    """The columns of `articles` that the suites read: those they name, and the article id
    and tags that the rows of the tags suite are made of. Only these are handed to GX: the
    others (provenance, labels, captions...) only made the batch larger to hand over and to
    hold (docs/performance.md, "The suites' columns only")."""
    named = {"article_id", "tags"}
    for name in ("articles", "tags"):
        for spec in _suite_json(name)["expectations"]:
            kwargs = spec["kwargs"]
            named |= {kwargs[key] for key in ("column", "column_A", "column_B") if key in kwargs}
            named |= set(kwargs.get("column_list", []))
    return [column for column in articles.columns if column in named]


def validate_with_gx(articles: pd.DataFrame, params: dict[str, Any]) -> Validation:
    """`validate`, by Great Expectations, whatever the batch."""
    context = _context()
    rows: list[dict[str, Any]] = []
    reasons: dict[str, list[str]] = {}
    for name, data in (("articles", articles), ("tags", tag_rows(articles))):
        data = data.set_axis(pd.Index(data["article_id"], name=ROW_ID))
        for result in _run_suite(context, name, data, params):
            config = result.expectation_config
            if errors := _errors(result.exception_info):
                raise SuiteError(f"{name}: {config.type} on {_columns(config.kwargs)} "
                                 f"could not run: {errors[0]}")
            failing = _failing_ids(result.result)
            reason = (config.meta or {}).get("reason", config.type)
            severity = str(getattr(config.severity, "value", config.severity))
            if severity == "critical":
                for article in dict.fromkeys(failing):
                    reasons.setdefault(article, []).append(reason)
            rows.append({
                "suite": name,
                "expectation": config.type,
                "column": _columns(config.kwargs),
                "severity": severity,
                "success": bool(result.success),
                "unexpected_count": int(result.result.get("unexpected_count") or 0),
                "unexpected_percent": float(result.result.get("unexpected_percent") or 0.0),
                "sample_ids": list(dict.fromkeys(failing))[:SAMPLE_SIZE],
                "reason": reason,
            })
    return Validation(pd.DataFrame(rows, columns=RESULT_COLUMNS), reasons)
