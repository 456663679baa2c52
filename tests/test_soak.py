"""Soak: a 2,000-article demo site with 5% 5xx bursts, 2% timeouts and 1% malformed pages.

The run must complete, every URL must be accounted for, and every transient failure must have
been recovered on a retry. The figures are printed (run pytest with -s, or read them in the
report of a failure) and asserted against /__truth__.
"""

from __future__ import annotations

import time

import pytest
from conftest import get_json, sql_rows

from demosite.corpus import build_site
from demosite.faults import parse_spec
from demosite.server import start

ARTICLES = 2000
FAULTS = "5xx=0.05,timeout=0.02,malformed=0.01"


@pytest.mark.timeout(600)
def test_soak_run_recovers_every_transient_failure(prefect_backend, tmp_path):
    from flows.pipeline import news_pipeline

    site = start(build_site(ARTICLES).with_faults(parse_spec(FAULTS)))
    try:
        truth = get_json(f"{site.base_url}/__truth__")
        started = time.monotonic()
        summary = news_pipeline(site="demo", base_url=site.base_url,
                                db=str(tmp_path / "c.duckdb"), data_dir=str(tmp_path))
        seconds = time.monotonic() - started
    finally:
        site.stop()
    db = tmp_path / "c.duckdb"
    faulted = {e["link"]: e["fault"] for e in truth["articles"] if e["fault"]}
    outcomes = dict(sql_rows(db, "SELECT url, outcome FROM fetches WHERE kind = 'article'"))
    attempts = dict(sql_rows(db, "SELECT url, attempts FROM fetches WHERE kind = 'article'"))
    by_mode = {mode: [u for u, m in faulted.items() if m == mode]
               for mode in ("5xx", "timeout", "malformed")}
    requests = site.server.requests
    recovered = {mode: sum(outcomes.get(u) == "new" and requests[u.rsplit("/", 1)[1]] >= 2
                           for u in urls) for mode, urls in by_mode.items()}
    print(f"\nsoak: {ARTICLES} articles, faults {FAULTS}, {seconds:.1f} s")
    print("  run:", {k: summary[k] for k in ("discovered", "new", "quarantined", "failed")})
    print("  truth:", truth["expected_counts"])
    print("  faulted:", {m: len(u) for m, u in by_mode.items()},
          "recovered on retry:", recovered,
          "requests retried by the crawler:", sum(a - 1 for a in attempts.values() if a))


    assert summary["status"] == "completed"
    assert sorted(outcomes) == sorted(e["link"] for e in truth["articles"])
    assert summary["discovered"] == ARTICLES
    expected = truth["expected_counts"]
    assert (summary["new"], summary["quarantined"], summary["failed"]) == (
        expected["loaded"], expected.get("quarantined", 0), expected.get("failed", 0))
    assert len(by_mode["5xx"]) == 0.05 * ARTICLES and len(by_mode["timeout"]) == 0.02 * ARTICLES
    assert recovered["5xx"] == len(by_mode["5xx"])
    assert recovered["timeout"] == len(by_mode["timeout"])
    assert all(outcomes[u] == "new" for u in by_mode["malformed"])
