"""Run the Great Expectations suites in this folder on a cleaned batch.

Suites are GX JSON files reviewed like code. Validation runs on pandas DataFrames (GX's SQL
path fails on DuckDB), with COMPLETE results so each failing row is known by its article id.
A critical failure quarantines the row; a warning is only recorded.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections import defaultdict
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
SUITES = ("articles", "tags")
# Rows judged at a time by the expectations that judge row by row: each judging costs GX
# about 0.3 s of its own bookkeeping, so smaller slices hold less but take longer
# (docs/performance.md, "Row by row, a slice at a time").
SLICE = 10_000
# Expectations whose verdict on a row depends on that row alone, unless they have a `mostly`
# share. Any other expectation judges the whole batch (`Judging`).
ROW_BY_ROW = frozenset({
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
    "expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex",
    "expect_column_value_lengths_to_be_between", "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
    "expect_column_pair_values_a_to_be_greater_than_b",
})
POSITION = "newscorpus_position"  # an expectation's place in its suite, in its meta


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
    for name in SUITES:
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
    named = _named_columns(lambda spec: True)
    return [column for column in articles.columns if column in named]


def _named_columns(chosen: Callable[[dict[str, Any]], bool]) -> set[str]:
    """The columns that the `chosen` expectations of the suites name, and the article id and
    tags that the rows of the tags suite are made of."""
    named = {"article_id", "tags"}
    for name in SUITES:
        for spec in filter(chosen, _suite_json(name)["expectations"]):
            kwargs = spec["kwargs"]
            named |= {kwargs[key] for key in ("column", "column_A", "column_B") if key in kwargs}
            named |= set(kwargs.get("column_list", []))
    return named


def validate_with_gx(articles: pd.DataFrame, params: dict[str, Any]) -> Validation:
    """`validate`, by Great Expectations in this process, whatever the batch."""
    judging = Judging(params)
    for first in range(0, len(articles) or 1, SLICE):
        judging.add(articles.iloc[first:first + SLICE])
    return judging.result()


def _by_row(spec: dict[str, Any]) -> bool:
    return spec["type"] in ROW_BY_ROW and "mostly" not in spec["kwargs"]


@cache
def _suite_part(name: str, by_row: bool) -> dict[str, Any]:
    """The suite's expectations judged row by row, or those judged over the whole batch,
    each with its position in the suite in its meta (GX hands results back in its own
    order)."""
    suite = _suite_json(name)
    return {**suite, "expectations": [
        {**spec, "meta": {**(spec.get("meta") or {}), POSITION: position}}
        for position, spec in enumerate(suite["expectations"]) if _by_row(spec) == by_row]}


def whole_batch_columns(articles: pd.DataFrame) -> list[str]:
    """The columns of `articles` that the expectations judged over the whole batch read."""
    named = _named_columns(lambda spec: not _by_row(spec))
    return [column for column in articles.columns if column in named]


class Judging:
    """A batch judged by Great Expectations as it arrives, a slice at a time.

    Expectations whose verdict on a row depends on that row alone (`ROW_BY_ROW`) judge the
    rows `SLICE` at a time as they are added, and their counts are summed; the others
    (uniqueness, the row count, a `mostly` share) judge the whole batch in `result`, from
    the few narrow columns they read, which are all that is kept of a slice. So the text of
    at most one slice is held at a time: judging a whole 50k batch at once held it all, and
    GX's work on it, in one process (docs/performance.md, "Row by row, a slice at a time").
    """

    def __init__(self, params: dict[str, Any]) -> None:
        import great_expectations as gx

        self.params = params
        context = _context()
        source = context.data_sources.add_pandas("batch")
        self._batches = {name: source.add_dataframe_asset(name)
                         .add_batch_definition_whole_dataframe(name) for name in SUITES}
        self._suites = {(name, by_row): gx.ExpectationSuite(**_suite_part(name, by_row))
                        for name in SUITES for by_row in (True, False)}
        self._results: dict[tuple[str, int], list[Any]] = defaultdict(list)
        self._waiting: list[pd.DataFrame] = []  # added, not judged yet
        self._kept: list[pd.DataFrame] = []  # judged: what the whole-batch judging reads

    def add(self, part: pd.DataFrame) -> None:
        """Take the next rows of the batch; judge them row by row once `SLICE` are waiting."""
        self._waiting.append(part)
        if sum(map(len, self._waiting)) >= SLICE:
            self._judge_waiting()

    def _judge_waiting(self) -> None:
        part = pd.concat(self._waiting)
        self._waiting = []
        self._judge(part, by_row=True)
        self._kept.append(part[whole_batch_columns(part)])

    def result(self) -> Validation:
        """The batch's validation: the whole-batch expectations judged now, over the slices
        added, and each expectation's results summed over the slices, in the suites' order."""
        if self._waiting:
            self._judge_waiting()
        if not self._kept:
            raise ValueError("no rows of the batch were added")
        whole = pd.concat(self._kept, ignore_index=True)
        self._kept = []
        self._judge(whole, by_row=False)
        rows: list[dict[str, Any]] = []
        reasons: dict[str, list[str]] = {}
        for (name, _), results in sorted(self._results.items(),
                                         key=lambda item: (SUITES.index(item[0][0]), item[0][1])):
            config = results[0].expectation_config
            failing = list(dict.fromkeys(i for result in results
                                         for i in _failing_ids(result.result)))
            reason = (config.meta or {}).get("reason", config.type)
            severity = str(getattr(config.severity, "value", config.severity))
            if severity == "critical":
                for article in failing:
                    reasons.setdefault(article, []).append(reason)
            count, percent = _unexpected(results)
            rows.append({
                "suite": name,
                "expectation": config.type,
                "column": _columns(config.kwargs),
                "severity": severity,
                "success": all(result.success for result in results),
                "unexpected_count": count,
                "unexpected_percent": percent,
                "sample_ids": failing[:SAMPLE_SIZE],
                "reason": reason,
            })
        return Validation(pd.DataFrame(rows, columns=RESULT_COLUMNS), reasons)

    def _judge(self, articles: pd.DataFrame, by_row: bool) -> None:
        for name, data in (("articles", articles), ("tags", tag_rows(articles))):
            suite = self._suites[(name, by_row)]
            if not suite.expectations:
                continue
            data = data.set_axis(pd.Index(data["article_id"], name=ROW_ID))
            batch = self._batches[name].get_batch(batch_parameters={"dataframe": data})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                validated = batch.validate(suite, expectation_parameters=self.params,
                                           result_format={
                                               "result_format": "COMPLETE",
                                               "unexpected_index_column_names": [ROW_ID],
                                               "exclude_unexpected_values": True})
            for result in validated.results:
                config = result.expectation_config
                if errors := _errors(result.exception_info):
                    raise SuiteError(f"{name}: {config.type} on {_columns(config.kwargs)} "
                                     f"could not run: {errors[0]}")
                self._results[(name, config.meta[POSITION])].append(result)


def _unexpected(results: list[Any]) -> tuple[int, float]:
    """An expectation's unexpected rows and their share, over the slices it judged.

    The share is of the rows that are not missing, as GX reports it for one batch
    (`_format_map_output`); an expectation judged once keeps GX's own figure."""
    counts = [result.result for result in results]
    unexpected = sum(int(count.get("unexpected_count") or 0) for count in counts)
    if len(counts) == 1:
        return unexpected, float(counts[0].get("unexpected_percent") or 0.0)
    judged = sum(int(count.get("element_count") or 0) - int(count.get("missing_count") or 0)
                 for count in counts)
    return unexpected, unexpected / judged * 100 if judged else 0.0
