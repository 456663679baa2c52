"""A crawl process started ahead (spiders/launch.py) is the same crawl as one started when
its arguments are known, and is used only where it would be the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spiders import launch
from spiders.manifest import Discovered, Failed, Fetched, read_manifest
from spiders.plan import CrawlPlan


def _arguments(base_url: str, run_dir: Path) -> list[str]:
    run_dir.mkdir()
    CrawlPlan(mode="full").write(run_dir / "plan.json")
    return ["--site", "demo", "--base-url", base_url, "--out", str(run_dir), "--run-id",
            run_dir.name, "--plan", str(run_dir / "plan.json")]


def _crawl(base_url: str, run_dir: Path) -> tuple[str, dict[str, Any]]:
    """Run one crawl through `launch.start`; its log's first line and its articles' states."""
    log = run_dir.parent / f"{run_dir.name}.log"
    process = launch.start(_arguments(base_url, run_dir), log)
    assert process.wait(timeout=120) == 0, log.read_text()
    states: dict[str, Any] = {}
    for event in read_manifest(run_dir):
        if isinstance(event, Discovered):
            states.setdefault(event.url, "discovered")
        elif isinstance(event, Fetched | Failed) and event.kind == "article":
            states[event.url] = event.status if isinstance(event, Fetched) else event.error
    return log.read_text().splitlines()[0], states


def test_a_crawl_started_ahead_is_the_crawl_started_on_demand(demo, truth, tmp_path):
    launch.start_ahead()
    first_line, ahead = _crawl(demo.base_url, tmp_path / "ahead")
    assert first_line == launch.STARTED_AHEAD
    first_line, on_demand = _crawl(demo.base_url, tmp_path / "on-demand")
    assert first_line != launch.STARTED_AHEAD
    assert ahead == on_demand
    assert set(ahead) == {a["url"] for a in truth["articles"]}
    assert "discovered" not in ahead.values()


def test_a_changed_environment_or_folder_starts_a_new_process(demo, tmp_path, monkeypatch):
    launch.start_ahead()
    waiting = launch._ahead
    assert waiting is not None
    monkeypatch.setenv("NEWSCORPUS_LAUNCH_TEST", "changed")
    first_line, states = _crawl(demo.base_url, tmp_path / "env")
    assert first_line != launch.STARTED_AHEAD and states
    assert waiting.process.wait(timeout=10) != 0  # stopped, not left waiting
    monkeypatch.delenv("NEWSCORPUS_LAUNCH_TEST")

    launch.start_ahead()
    monkeypatch.chdir(tmp_path)
    first_line, states = _crawl(demo.base_url, tmp_path / "cwd")
    assert first_line != launch.STARTED_AHEAD and states


def test_a_process_started_ahead_that_no_crawl_takes_exits():
    launch.start_ahead()
    ahead = launch._take_ahead()
    assert ahead is not None and ahead.process.stdin is not None
    ahead.process.stdin.close()  # as when the command ends without crawling
    assert ahead.process.wait(timeout=30) == 0


def test_a_process_started_ahead_that_died_is_replaced(demo, tmp_path):
    launch.start_ahead()
    ahead = launch._ahead
    assert ahead is not None
    ahead.process.kill()
    ahead.process.wait()
    first_line, states = _crawl(demo.base_url, tmp_path / "replaced")
    assert first_line != launch.STARTED_AHEAD and states
