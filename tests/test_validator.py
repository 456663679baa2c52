"""Great Expectations in a process of its own (expectations/validator.py): the same answers,
no GX in the flow's process, no process left behind, and a clear error when it dies."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import articles_frame, child_pids

from expectations import validate as validate_module
from expectations import validator
from expectations.validate import (
    SuiteError,
    Validation,
    validate,
    validate_with_gx,
    whole_batch_columns,
)

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {"url_pattern": "^http", "founded": "2000-01-01T00:00:00+00:00",
          "now": "2100-01-01T00:00:00+00:00", "languages": ["en"], "volume_min": 0,
          "volume_max": 100}
A_RUN = """
import json, sys
from flows.pipeline import news_pipeline
summary = news_pipeline(base_url=sys.argv[1], db=sys.argv[2], data_dir=sys.argv[3])
print(json.dumps({"gx_imported": "great_expectations" in sys.modules,
                  "new": summary["new"], "quarantined": summary["quarantined"]}))
"""


@pytest.fixture
def batch(two_runs: dict[str, Any]) -> pd.DataFrame:
    """Loaded articles as a batch to validate, two of them spoilt: no body, no title."""
    frame = articles_frame(two_runs["db"], "SELECT * FROM articles ORDER BY url LIMIT 40")
    frame.loc[0, "body"] = ""
    frame.loc[1, "title"] = None
    return frame.assign(tag_count=frame["tags"].map(len), weekday_agrees=True, truncated=False)


def _records(results: pd.DataFrame) -> list[dict[str, Any]]:
    return sorted(results.to_dict("records"), key=lambda r: (r["suite"], r["reason"]))


def test_validation_apart_answers_as_in_process_and_its_process_ends(batch, monkeypatch):
    """A child that judged a small batch waits for the next; one that judged a batch of
    KEEP_BELOW rows or more exits (here KEEP_BELOW is the batch's size)."""
    here = validate_with_gx(batch, PARAMS)
    monkeypatch.setattr(validator, "KEEP_BELOW", len(batch))
    validator.validate_apart([batch], PARAMS)  # ends any child an earlier test left waiting
    before = child_pids()
    monkeypatch.setattr(validator, "KEEP_BELOW", len(batch) + 1)
    apart = validator.validate_apart([batch], PARAMS)
    kept = child_pids() - before
    assert len(kept) == 1
    assert apart.reasons == here.reasons
    assert set(apart.reasons) == set(batch["article_id"][:2])
    assert _records(apart.results) == _records(here.results)
    monkeypatch.setattr(validator, "KEEP_BELOW", len(batch))
    assert validator.validate_apart([batch], PARAMS).reasons == here.reasons
    assert child_pids() <= before  # the kept child is gone, and no other is left


def test_a_batch_handed_over_in_slices_is_judged_whole(batch, monkeypatch):
    """The child judges the batch that all the slices make up, whatever frames the caller
    reads it in: a spoilt row in the last slice is found, and the shares are of the whole
    batch, as in this process."""
    batch.loc[len(batch) - 1, "body"] = ""
    here = validate_with_gx(batch, PARAMS)
    monkeypatch.setattr(validator, "HAND_OVER", 7)  # 40 rows: six slices, the last of 5
    monkeypatch.setattr(validator, "IN_FLIGHT", 1)
    read = [batch.iloc[start:start + 3] for start in range(0, len(batch), 3)]  # as parts are
    apart = validator.validate_apart(read, PARAMS)
    assert set(apart.reasons) == {*batch["article_id"][:2], batch["article_id"].iloc[-1]}
    assert apart.reasons == here.reasons
    assert _records(apart.results) == _records(here.results)


def test_a_batch_judged_a_slice_at_a_time_is_judged_as_a_whole(batch, monkeypatch):
    """Row expectations judge 7 rows at a time, and their counts and shares are summed; the
    whole-batch ones still see every row: a duplicate URL or title across slices is found,
    and a `mostly` share is of the batch. The answers are GX's on the batch in one piece."""
    batch.loc[3, "url"] = batch.loc[30, "url"]
    batch.loc[35, "title"] = batch.loc[15, "title"]
    batch.loc[12, "body"] = "text <b>bold</b> more"
    batch.loc[20, "published_at"] = pd.Timestamp("2150-01-01", tz="UTC")
    batch.loc[25, "modified_at"] = batch.loc[25, "published_at"] - pd.Timedelta(days=1)
    batch.loc[26:29, "modified_at"] = None
    batch.loc[33, "tags"] = ["Not A Slug", "fine"]
    batch.loc[38, "lang"] = "xx"
    batch.loc[10:31, "has_jsonld"] = False
    monkeypatch.setattr(validate_module, "SLICE", len(batch))
    whole = validate_with_gx(batch, PARAMS)
    monkeypatch.setattr(validate_module, "SLICE", 7)
    sliced = validate_with_gx(batch, PARAMS)
    assert sliced.reasons == whole.reasons
    assert _records(sliced.results) == _records(whole.results)
    failed = set(whole.results.loc[~whole.results["success"], "reason"])
    assert {"url is not unique in the batch", "tag is not a clean slug", "body contains markup",
            "modified_at is before published_at", "title duplicates another article of the batch",
            "more than half of the batch has no JSON-LD"} <= failed, failed
    assert set(whole.reasons) == set(batch["article_id"][[0, 1, 3, 12, 20, 25, 30]])


def test_the_whole_batch_expectations_keep_only_narrow_columns(batch):
    kept = whole_batch_columns(batch)
    assert {"url", "title", "article_id", "tags"} <= set(kept)
    assert {"body", "subtitle", "published_at"}.isdisjoint(kept)


def test_great_expectations_is_handed_only_the_columns_the_suites_read(batch):
    """Columns no expectation names stay behind, and the answers are those of the whole."""
    handed: list[list[str]] = []

    def judge(frame: pd.DataFrame, params: dict[str, Any]) -> Validation:
        handed.append(list(frame.columns))
        return validate_with_gx(frame, params)

    judged = validate(batch, PARAMS, judge=judge)
    assert {"provenance", "labels", "image_caption", "content_hash"}.isdisjoint(handed[0])
    assert {"article_id", "tags", "url", "body", "tag_count", "weekday_agrees"} <= set(handed[0])
    whole = validate_with_gx(batch, PARAMS)
    assert judged.reasons == whole.reasons
    assert _records(judged.results) == _records(whole.results)


def test_an_expectation_that_errors_in_the_validation_process_is_the_batchs_error(batch):
    """Rows that a row expectation cannot judge (no weekday_agrees column) raise as they are
    judged, while the slices still arrive (a batch of SLICE rows, all judged then): the
    error reaches the flow, rather than a validation without that expectation."""
    large = pd.concat([batch.assign(article_id=batch["article_id"] + f"-{copy}",
                                    url=batch["url"] + f"?{copy}")
                       for copy in range(validate_module.SLICE // len(batch) + 1)],
                      ignore_index=True).iloc[:validate_module.SLICE]
    with pytest.raises(SuiteError, match="weekday_agrees"):
        validator.validate_apart([large.drop(columns=["weekday_agrees"])], PARAMS)
    assert validator.validate_apart([batch], PARAMS).reasons.keys() == set(batch["article_id"][:2])


def test_a_validation_process_that_dies_is_a_clear_error_and_the_next_batch_gets_another(batch):
    validator.start()
    [child] = {p.pid for p in multiprocessing.active_children()
               if p.name.startswith("SpawnProcess")}
    os.kill(child, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="validation process ended before it answered"):
        validator.validate_apart([batch], PARAMS)
    assert validator.validate_apart([batch], PARAMS).reasons.keys() == set(batch["article_id"][:2])


def test_a_run_never_imports_great_expectations_in_its_own_process(demo, truth, tmp_path,
                                                                   prefect_server):
    done = subprocess.run([sys.executable, "-c", A_RUN, demo.base_url,
                           str(tmp_path / "corpus.duckdb"), str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = [a["expected"] for a in truth["articles"]]
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "gx_imported": False, "new": expected.count("loaded"),
        "quarantined": expected.count("quarantined")}
