"""Every command of `newscorpus`, as a user runs it: its --help, and a run against a small
demo corpus made by `newscorpus run`, each checked against what the demo site says is true."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import free_port
from test_cli import assert_one_line_error, newscorpus

from demosite.corpus import build_site
from demosite.seed import KYIV
from newscorpus.cli import app


def _command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command, a group's own subcommands included (a group that also runs by itself,
    like `sites`, counts as one too)."""
    paths = []
    for name, command in sorted(group.commands.items()):
        if getattr(command, "commands", None):
            if getattr(command, "invoke_without_command", False):
                paths.append((*prefix, name))
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = _command_paths(typer.main.get_group(app))


def test_the_commands_are_the_documented_ones():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert len(COMMANDS) >= 19
    for path in COMMANDS:
        assert f"newscorpus {' '.join(path)}" in readme, path


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help(path, tmp_path):
    result = newscorpus(*path, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and "--help" in result.stdout


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A corpus of the default demo site, made by `newscorpus run` on a known port."""
    workdir = tmp_path_factory.mktemp("commands")
    env = {"NEWSCORPUS_DEMO_PORT": str(free_port())}
    result = newscorpus("run", "--json", cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return {"dir": workdir, "env": env, "summary": json.loads(result.stdout.splitlines()[-1])}


def _run(corpus: dict[str, Any], *args: str) -> Any:
    result = newscorpus(*args, cwd=corpus["dir"], env=corpus["env"])
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def _json(corpus: dict[str, Any], *args: str) -> Any:
    return json.loads(_run(corpus, *args, "--json").stdout.splitlines()[-1])


def _expected(truth: dict[str, Any], state: str) -> list[dict[str, Any]]:
    return [a for a in truth["articles"] if a["expected"] == state]


def test_validate_quality_and_quarantine(corpus, truth):
    results = _json(corpus, "validate")
    assert results and all(r["success"] for r in results if r["severity"] == "critical")
    assert {r["run_id"] for r in _json(corpus, "quality")} == {corpus["summary"]["run_id"]}
    held = _json(corpus, "quarantine", "list")
    assert sorted(r["url"].rsplit("/", 1)[1] for r in held) == sorted(
        a["url"].rsplit("/", 1)[1] for a in _expected(truth, "quarantined"))
    shown = _run(corpus, "quarantine", "show", held[0]["url"]).stdout
    assert held[0]["url"] in shown and "reasons:" in shown
    released = _json(corpus, "quarantine", "release")
    assert released["mode"] == "reprocess" and released["new"] == 0
    assert released["quarantined"] == len(held)


def test_reprocess_a_run_changes_nothing(corpus, truth):
    summary = _json(corpus, "reprocess", "--run", corpus["summary"]["run_id"])
    assert summary["unchanged"] == len(_expected(truth, "loaded"))
    assert summary["new"] == summary["updated"] == 0


def test_backfill_of_one_day(corpus, truth):
    day = datetime.fromisoformat(truth["articles"][5]["published_at"]).astimezone(KYIV).date()
    published = [a for a in truth["articles"]
                 if datetime.fromisoformat(a["published_at"]).astimezone(KYIV).date() == day]
    summary = _json(corpus, "backfill", "--since", str(day), "--until", str(day))
    assert summary["status"] == "completed" and summary["chunks"] == 1
    assert summary["discovered"] == len(published)


def test_search_export_report_and_docs(corpus, truth):
    hits = _json(corpus, "search", "peacekeepers", "--limit", "3")
    seed = build_site().articles[0]  # the captured page, which is about peacekeepers
    assert hits[0]["title"] == seed.revision_at(seed.published).title
    _run(corpus, "export", "--format", "jsonl", "--out", "exports")
    exported = (corpus["dir"] / "exports" / "articles.jsonl").read_text().splitlines()
    assert len(exported) == len(_expected(truth, "loaded"))
    report = corpus["dir"] / Path(_run(corpus, "report", "--out", "report.html").stdout.strip())
    assert report.is_file() and report.read_text().count("<svg") >= 5
    docs = corpus["dir"] / Path(_run(corpus, "docs", "--out", "docs").stdout.strip())
    assert corpus["summary"]["run_id"] in docs.read_text()


def test_extract_sites_and_sql(corpus, truth):
    warc = next((corpus["dir"] / "data" / "archive" / "demo").glob("*/crawl.warc.gz"))
    records = [json.loads(line) for line in _run(
        corpus, "extract", "--site", "demo", "--jobs", "1", str(warc)).stdout.splitlines()]
    titles = {r["title"] for r in records}
    assert {a["title"] for a in _expected(truth, "loaded")} <= titles
    assert "espreso" in _run(corpus, "sites").stdout
    count = _run(corpus, "sql", "select count(*) from articles").stdout.strip()
    assert count == str(len(_expected(truth, "loaded")))


def test_deploy_without_a_server_says_so(corpus):
    result = newscorpus("deploy", cwd=corpus["dir"], env={**corpus["env"], "PREFECT_API_URL": ""})
    assert_one_line_error(result, 2, "PREFECT_API_URL is not set")
