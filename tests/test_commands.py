"""Every command of `newscorpus`, as a user runs it: its --help, and a run against a small
demo corpus made by `newscorpus run`, each checked against what the demo site says is true."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
from conftest import free_port
from test_cli import assert_one_line_error, newscorpus

from demosite.corpus import build_site
from demosite.seed import KYIV
from newscorpus.cli import app
from reports.summary import SUMMARY_FIELDS


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


def test_every_known_error_names_an_exception_class():
    """The exit codes are looked up by module and class name (so that --help imports little):
    a misspelt name would turn a one-line error into an unknown one."""
    import importlib

    from newscorpus.cli import KNOWN_ERRORS

    for module, name in KNOWN_ERRORS:
        assert issubclass(getattr(importlib.import_module(module), name), Exception), name


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
    assert "<bool>" not in result.stdout  # #22: a placeholder after every flag


def test_help_shows_the_defaults_and_the_version(tmp_path):
    """#22: Rich markup ate every "[default: …]" written in a help text; no --version."""
    shown = " ".join(newscorpus("run", "--help", cwd=tmp_path).stdout.split())
    assert "[default: $NEWSCORPUS_DB or data/corpus.duckdb]" in shown
    assert "[default: data/]" in shown and "[default: demo]" in shown
    from importlib.metadata import version

    printed = newscorpus("--version", cwd=tmp_path)
    assert printed.returncode == 0
    assert printed.stdout.strip() == f"newscorpus {version('newscorpus')}"


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
    # No --site: a crawl's own WARC is extracted with the profile it was crawled with (the
    # demo site runs on a port that the demo profile's URL does not name).
    result = _run(corpus, "extract", "--jobs", "1", str(warc))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["site"] for r in records} == {"demo"}
    # Its article pages only: the listing pages, and the article that was not found, are
    # left out and counted.
    assert sorted(urlsplit(r["url"]).path for r in records) == sorted(
        urlsplit(a["url"]).path for a in truth["articles"] if a["expected"] != "failed")
    assert f"1 HTTP 404, {truth['listing_pages']} listing" in result.stderr
    assert f"extracted: {len(records)} with the demo profile" in result.stderr
    # Each record says whether a run would hold it back, and why: as the run did.
    held = {urlsplit(r["url"]).path: r["quarantine"] for r in records if r["quarantine"]}
    assert {urlsplit(a["url"]).path: a["reason"] in held.get(urlsplit(a["url"]).path, [])
            for a in _expected(truth, "quarantined")} == dict.fromkeys(held, True)
    titles = {r["title"] for r in records}
    assert {a["title"] for a in _expected(truth, "loaded")} <= titles
    assert "espreso" in _run(corpus, "sites").stdout
    count = _run(corpus, "sql", "select count(*) from articles").stdout.strip()
    assert count == str(len(_expected(truth, "loaded")))


@pytest.mark.parametrize("command", ["deploy", "worker"])
def test_deploy_and_worker_without_a_server_say_so(corpus, command):
    result = newscorpus(command, cwd=corpus["dir"], env={**corpus["env"], "PREFECT_API_URL": ""})
    assert_one_line_error(result, 2, "no Prefect server: start one")
    dead = f"http://127.0.0.1:{free_port()}/api"  # #22: a dead server printed a traceback's tail
    result = newscorpus(command, cwd=corpus["dir"], env={**corpus["env"], "PREFECT_API_URL": dead})
    assert_one_line_error(result, 2, f"no Prefect server answers at PREFECT_API_URL={dead}")
    assert "File \"" not in result.stderr


def _in_terminal(corpus: dict[str, Any], columns: int, *args: str) -> str:
    """What a command prints in a terminal `columns` wide (a real pseudo-terminal), as text."""
    import fcntl
    import os
    import pty
    import re
    import struct
    import subprocess
    import termios

    from test_cli import NEWSCORPUS

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen([NEWSCORPUS, *args], stdin=follower, stdout=follower,
                               stderr=subprocess.PIPE, cwd=corpus["dir"],
                               env={**env, **corpus["env"], "TERM": "xterm-256color"})
    os.close(follower)
    printed = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the command ended: the terminal's other side is gone
            break
        if not chunk:
            break
        printed += chunk
    os.close(leader)
    assert process.wait(timeout=120) == 0, process.stderr.read()
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", printed.decode()).replace("\r\n", "\n")


def _as_printed(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return str(value)


ROW_COMMANDS = {
    "sql": (("sql", "select url, title, tags, published_at from articles order by url "
                    "limit 5"), None),
    "quarantine list": (("quarantine", "list", "--all"),
                        ["run_id", "url", "reasons", "quarantined_at", "released_by"]),
    "quality --failed": (("quality", "--failed"),
                         ["run_id", "suite", "expectation", "column", "severity", "success",
                          "unexpected_count", "unexpected_percent", "reason"]),
    "validate": (("validate",), ["suite", "expectation", "column", "severity", "success",
                                 "unexpected_count", "reason"]),
    "sites": (("sites",), None),
    "archive verify": (("archive", "verify"), ["run", "listed", "verified", "unlisted"]),
    "archive index": (("archive", "index"), ["run", "index", "lines"]),
    "search": (("search", "peacekeepers"), ["title", "url"]),
}
HEADERLESS = ("search",)  # prints lines, not a table


@pytest.mark.parametrize("where", ["80 columns", "200 columns", "a pipe"])
@pytest.mark.parametrize("name", ROW_COMMANDS)
def test_no_value_is_cut_at_any_width(name, where, corpus):
    """#22: tables dropped columns and cut URLs in a 120-column terminal, and piped output
    was cut at 200 columns."""
    args, shown = ROW_COMMANDS[name]
    rows = _json(corpus, *args)
    assert rows, "nothing to print: the check would see nothing"
    printed = _run(corpus, *args).stdout if where == "a pipe" else \
        _in_terminal(corpus, int(where.split()[0]), *args)
    if where == "a pipe" and name not in HEADERLESS:  # tab-separated, under a header
        columns = shown or list(rows[0])
        assert printed.splitlines()[0].split("\t")[:len(columns)] == columns
    flat = " ".join(printed.split())
    for row in rows:
        for column, value in row.items():
            if shown is None or column in shown:
                assert " ".join(_as_printed(value).split()) in flat, (column, value)


@pytest.mark.parametrize("where", ["80 columns", "200 columns", "a pipe"])
def test_a_runs_summary_is_whole_at_any_width(where, corpus):
    """The summary of `run` (and so of `backfill`, `reprocess` and `import`, which print it
    the same way): every count the run has, its run id and its database whole."""
    printed = _run(corpus, "run").stdout if where == "a pipe" else \
        _in_terminal(corpus, int(where.split()[0]), "run")
    assert "…" not in printed
    flat = " ".join(printed.split())
    title = re.search(r"incremental (\S+) \(completed\) -> (\S+)", flat)
    assert title, printed
    run_id, db = title.groups()
    assert db == corpus["summary"]["db"]
    assert _json(corpus, "sql", f"select count(*) as n from crawl_runs where run_id = '{run_id}'"
                 ) == [{"n": 1}]
    for field in SUMMARY_FIELDS:
        if field in corpus["summary"]:
            assert re.search(rf"(^|\s){field}(:|\s|$)", printed, re.MULTILINE), field


def test_a_url_printed_in_a_narrow_terminal_works_in_quarantine_show(corpus):
    printed = _in_terminal(corpus, 80, "quarantine", "list", "--all")
    urls = [line.split(None, 1)[1] for line in printed.splitlines() if line.startswith("url:")]
    assert urls, printed
    for url in urls[:3]:
        assert url in _run(corpus, "quarantine", "show", url).stdout
