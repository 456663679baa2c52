"""The `newscorpus` command.

Heavy imports (Prefect, Great Expectations, Scrapy) happen inside the commands that need
them, so `newscorpus sql` and `--help` start fast. Known failures print one line and exit
with a non-zero code; set NEWSCORPUS_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Plain help (rich_markup_mode=None): Rich markup would eat "[default: …]" in help texts and
# print a <bool> placeholder after every flag.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Keep a news site's articles as an analytical corpus in DuckDB.")
out = Console()  # tables: see _show


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        print(f"newscorpus {version('newscorpus')}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """The options before any command (the app's help is the Typer's)."""
err = Console(stderr=True)

DbOption = Annotated[Path | None, typer.Option(
    "--db", help="DuckDB file [default: $NEWSCORPUS_DB or data/corpus.duckdb]")]
WarehouseOption = Annotated[str | None, typer.Option(
    "--warehouse", help="`duckdb` (the file --db) or `ducklake:postgres:<libpq string>`, a "
    "lake with its catalog in PostgreSQL; the password from PGPASSWORD or PGPASSFILE "
    "[default: $NEWSCORPUS_WAREHOUSE or duckdb]")]
LakeDataOption = Annotated[Path | None, typer.Option(
    "--lake-data", help="The lake's data folder [default: $NEWSCORPUS_LAKE_DATA or "
    "data/lake]")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
WaitOption = Annotated[float, typer.Option(
    "--wait", min=0, help="Seconds to wait while another process holds the database.")]


class UsageError(Exception):
    """A user error: bad arguments, a missing file. Exit code 2."""


def _show(columns: list[str], rows: list[tuple[Any, ...]], title: str | None = None) -> None:
    """Print rows so that no value is ever cut, at any width.

    In a terminal: a table when it fits the width at its columns' natural widths; else one
    block per row, a `column: value` line each, whole (the terminal wraps long lines), so a
    URL can be copied from it. Piped: the title, then tab-separated lines under a header,
    which `cut` and `awk` read. Lists print as text ("a; b"), NULL as NULL.
    """
    cells = [[_cell(value) for value in row] for row in rows]
    if not out.is_terminal:
        if title:
            print(title)
        for line in [columns, *cells]:
            print("\t".join(" ".join(cell.split()) for cell in line))
        return
    # Each column as wide as its widest cell, plus padding and a border each.
    natural = 1 + sum(3 + max(cell_len(cell) for cell in (column, *cut)) for column, *cut
                      in zip(columns, *cells, strict=True))
    if natural <= out.width:
        table = Table(title=title, show_lines=False)
        for column in columns:
            table.add_column(column, no_wrap=True)
        for row in cells:
            table.add_row(*map(escape, row))
        out.print(table)
        return
    if title:
        out.print(f"[bold]{escape(title)}[/bold]", soft_wrap=True, highlight=False)
    keys = [f"{column}:".ljust(max(map(len, columns)) + 1) for column in columns]
    for number, row in enumerate(cells):
        out.print(("\n" if number else "") + "\n".join(
            f"[bold]{escape(key)}[/bold] {escape(cell)}" for key, cell in zip(
                keys, row, strict=True)), soft_wrap=True, highlight=False)


def _cell(value: Any) -> str:
    if value is None or type(value).__name__ in ("NAType", "NaTType") or (
            isinstance(value, float) and value != value):  # pandas' missing values, NaN
        return "NULL"
    if isinstance(value, (list, tuple)):
        return "; ".join(map(str, value))
    return str(value)


@app.command()
def run(
    site: Annotated[str, typer.Option(
        help="Site profile; `demo` starts the built-in demo site.")] = "demo",
    base_url: Annotated[str | None, typer.Option(help="Override the profile's base URL.")] = None,
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Re-crawl every listing page instead of only what is new.")] = False,
    max_pages: Annotated[int, typer.Option(min=0, help="Listing pages to crawl; 0 = all.")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Archive folder [default: data/].")] = None,
    as_json: JsonOption = False,
) -> None:
    """Crawl a site once and load it into the corpus (the `news_pipeline` flow)."""
    from sites import load_profile

    load_profile(site, base_url)  # fail fast, before Prefect starts, on an unknown site
    _progress_on(as_json)
    summary = _run_flow("news_pipeline", site=site, base_url=base_url,
                        **_where(db, warehouse, lake_data),
                        mode="full" if full else "incremental", max_pages=max_pages,
                        data_dir=str(data_dir) if data_dir else None)
    _print_summary(summary, as_json)


@app.command()
def backfill(
    since: Annotated[str, typer.Option(help="First publication day, YYYY-MM-DD (site time).")],
    until: Annotated[str, typer.Option(help="Last publication day, YYYY-MM-DD (inclusive).")],
    site: Annotated[str, typer.Option(help="Site profile.")] = "demo",
    base_url: Annotated[str | None, typer.Option(help="Override the profile's base URL.")] = None,
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
    chunk: Annotated[str, typer.Option(help="One run per `day` or `week`.")] = "day",
    concurrency: Annotated[int, typer.Option(min=1, max=4, help="Chunk crawls at once.")] = 2,
    force: Annotated[bool, typer.Option(help="Redo chunks that already completed.")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Archive folder [default: data/].")] = None,
    as_json: JsonOption = False,
) -> None:
    """Load the articles published in a date window, in resumable day or week chunks."""
    from sites import load_profile

    first, last = _parse_day(since, "--since"), _parse_day(until, "--until")
    if last < first:
        raise UsageError(f"--until {last} is before --since {first}")
    if chunk not in ("day", "week"):
        raise UsageError(f"--chunk must be day or week, not {chunk!r}")
    load_profile(site, base_url)
    _progress_on(as_json)
    summary = _run_flow("backfill", since=first, until=last, site=site, base_url=base_url,
                        **_where(db, warehouse, lake_data), chunk=chunk,
                        concurrency=concurrency, force=force,
                        data_dir=str(data_dir) if data_dir else None)
    _print_summary(summary, as_json)


@app.command()
def reprocess(
    site: Annotated[str, typer.Option(help="Site profile.")] = "demo",
    base_url: Annotated[str | None, typer.Option(
        help="Base URL the archives were crawled from.")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run's pages.")] = None,
    since: Annotated[str | None, typer.Option(help="Articles published from this day.")] = None,
    until: Annotated[str | None, typer.Option(help="Articles published to this day.")] = None,
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-extract archived pages with the current code (no network) and load the result."""
    from sites import load_profile

    if run_id and (since or until):
        raise UsageError("give either --run or --since/--until, not both")
    first = _parse_day(since, "--since") if since else None
    last = _parse_day(until, "--until") if until else None
    load_profile(site, base_url)
    try:
        summary = _run_flow("reprocess", site=site, base_url=base_url, run=run_id,
                            since=first, until=last, **_where(db, warehouse, lake_data))
    except Exception as error:
        # Imported here, not before the flow: importing Prefect before `_run_flow` chose the
        # server would leave it on an ephemeral server of its own.
        from flows.reprocess import NothingToReprocessError

        if isinstance(error, NothingToReprocessError):
            raise UsageError(str(error)) from None
        raise
    _print_summary(summary, as_json)


@app.command("import")
def import_command(
    warcs: Annotated[list[Path], typer.Argument(
        help="WARC files (.warc, .warc.gz) from any crawler: CC-NEWS, the Internet Archive, "
             "Media Cloud.")],
    site: Annotated[str, typer.Option(
        help="`auto` (the profile whose host matches each URL, else generic), a site "
             "profile for every record, or `generic`.")] = "auto",
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Data docs and journal folder [default: data/].")] = None,
    as_json: JsonOption = False,
) -> None:
    """Load the pages of WARC files that others wrote, as runs of mode `import`: one per
    file and site, each record in one state. A file imported before is skipped; the files
    stay where they are, and `reprocess` reads them there."""
    from extract.inputs import is_warc
    from sites import load_profile

    for path in warcs:
        if not path.is_file() or not is_warc(path):
            raise UsageError(f"not a WARC file (.warc, .warc.gz): {path}")
    if site != "auto":
        load_profile(site)
    _progress_on(as_json)
    summary = _run_flow("import_warcs", paths=[str(p.resolve()) for p in warcs], site=site,
                        **_where(db, warehouse, lake_data),
                        data_dir=str(data_dir) if data_dir else None)
    _print_summary(summary, as_json)


def _run_flow(name: str, **params: Any) -> dict[str, Any]:
    """Start Prefect quietly, on the server to use (config/server.py), and call one of the
    flows. A temporary server boots while the flows import, and so does the crawl process of a
    `run` (spiders/launch.py)."""
    from config.server import server_for_command
    from config.settings import quiet_prefect_defaults

    quiet_prefect_defaults()
    server = server_for_command()
    if name == "news_pipeline":
        from spiders import launch

        launch.start_ahead()
    with _imports_without_gc():
        from flows import backfill as backfill_flows
        from flows import imports, pipeline
        from flows import reprocess as reprocess_flows

    flows: dict[str, Any] = {"news_pipeline": pipeline.news_pipeline,
                             "backfill": backfill_flows.backfill,
                             "reprocess": reprocess_flows.reprocess,
                             "import_warcs": imports.import_warcs}
    _quiet_console()
    server.ready()
    summary: dict[str, Any] = flows[name](**params)
    return summary


@contextmanager
def _imports_without_gc() -> Iterator[None]:
    """Import with Python's cyclic garbage collector paused, then freeze what was imported.

    The flows import Prefect, pandas, DuckDB and their pydantic models. Over that import the
    collector ran 460 times (3 of them over everything) and freed 13,000 objects; paused,
    the import took 1.5-1.6 s instead of 1.8-2.1. Frozen, the modules' objects are left out
    of the later collections of a run, which would walk them again; the garbage of the
    import (those 13,000 objects, about a megabyte or two) is frozen with them."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _progress_on(as_json: bool) -> None:
    """Progress bars for a person at a terminal; never in JSON output or under a worker."""
    if sys.stderr.isatty() and not as_json:
        os.environ.setdefault("NEWSCORPUS_PROGRESS", "1")


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, default=str))
        return
    from reports.summary import SUMMARY_FIELDS, summary_notes

    fields = [f for f in SUMMARY_FIELDS if f in summary]
    _show(fields, [tuple(summary[f] for f in fields)],
                     title=f"{summary.get('mode', 'run')} {summary['run_id']} "
                           f"({summary['status']}) -> {summary['db']}")
    for line in summary_notes(summary):
        out.print(escape(line), highlight=False)


def _parse_day(text: str, option: str) -> Any:
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None


# Prefect's own lines that say nothing a run's summary does not: its temporary server's start
# (with a pointer to its docs) and stop, each flow's and task's start and success.
_CHATTER = ("Beginning flow run", "Finished in state Completed")
# Prefect's restatements of the error that ended a flow run, which the command prints itself.
_RESTATED = ("Encountered exception during execution", "Finished in state Failed")


def _quiet_console() -> None:
    """The console gets the run's own lines, warnings and errors, without Prefect's chatter
    and without tracebacks (Prefect logs a failed run with its traceback; on the console the
    message is enough). The error that ends a run is printed once, by `main`, not also by the
    flow and twice by Prefect. The Prefect server's log (the UI) keeps every line."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    def keep(record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        message = record.getMessage()
        if not getattr(record, "console", True) or (
                record.name == "prefect.flow_runs" and message.startswith(_RESTATED)):
            return False
        return record.levelno >= logging.WARNING or not (
            record.name == "prefect" or message.startswith(_CHATTER))

    for logger in [logging.getLogger(), *map(logging.getLogger, logging.root.manager.loggerDict)]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.addFilter(keep)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A SQL query; the database is opened read-only.")],
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
    as_json: JsonOption = False,
    wait: WaitOption = 0,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Query a lake as it was: a snapshot version, or a timestamp (ISO "
        "8601, UTC unless it has an offset); list them with SELECT * FROM "
        "ducklake_snapshots('lake')")] = None,
) -> None:
    """Run a read-only SQL query (SELECT) on the corpus and print the result.

    The query can read the corpus and nothing else: no other files, no network, no settings;
    it is stopped after $NEWSCORPUS_SQL_TIMEOUT seconds (60).
    """
    from warehouse import sandbox
    from warehouse.db import load_fts, reading
    from warehouse.lake import Lake

    corpus = _corpus(db, warehouse, lake_data)
    with reading(corpus, wait=wait, as_of=as_of) as con:
        load_fts(con)  # the stemmer that search_articles('…') calls
        sandbox.lock_down(con, [corpus.data_path] if isinstance(corpus, Lake) else [])
        try:
            columns, rows = sandbox.run(con, query)
        except sandbox.RefusedQueryError as error:
            raise UsageError(str(error)) from None
    if not columns:
        return
    if as_json:
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str,
                         ensure_ascii=False))
    elif len(columns) == 1 and len(rows) == 1:
        print(rows[0][0])
    else:
        _show(columns, rows)


@app.command("validate")
def validate_command(
    site: Annotated[str, typer.Option(help="Site profile whose articles to check.")] = "demo",
    run_id: Annotated[str | None, typer.Option(
        "--run", help="Only the articles this run last loaded.")] = None,
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-validate the stored articles with the current suites; exit 1 on a critical failure."""
    from expectations.quality import validate_stored
    from sites import load_profile
    from warehouse.state import stored_articles

    try:
        base_url, articles = stored_articles(_corpus(db, warehouse, lake_data), site, run_id)
    except LookupError as error:
        raise UsageError(str(error)) from None
    results = validate_stored(articles, load_profile(site, base_url))
    columns = ["suite", "expectation", "column", "severity", "success", "unexpected_count",
               "reason"]
    if as_json:
        print(results.to_json(orient="records"))
    else:
        _show(columns, list(results[columns].itertuples(index=False)))
    if not results[(results["severity"] == "critical") & ~results["success"]].empty:
        raise typer.Exit(1)


@app.command()
def quality(
    runs: Annotated[int, typer.Option(min=1, help="How many recent runs.")] = 5,
    failed_only: Annotated[bool, typer.Option(
        "--failed", help="Only expectations that failed.")] = False,
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the last runs' validation results."""
    _print_query("run_validation", _corpus(db, warehouse, lake_data), as_json, limit=runs,
                 where=(lambda row: not row["success"]) if failed_only else None,
                 columns=["run_id", "suite", "expectation", "column", "severity", "success",
                          "unexpected_count", "unexpected_percent", "reason"])


quarantine_app = typer.Typer(no_args_is_help=True, help="Inspect and release held-back pages.")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(
    show_all: Annotated[bool, typer.Option("--all", help="Include released rows.")] = False,
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the pages held back, with their reasons."""
    _print_query("quarantine_list", _corpus(db, warehouse, lake_data), as_json, all=show_all,
                 columns=["run_id", "url", "reasons", "quarantined_at", "released_by"])


@quarantine_app.command("show")
def quarantine_show(
    key: Annotated[str, typer.Argument(help="A URL or article id.")],
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
) -> None:
    """Show a held-back record, as it was extracted, and why it was held back."""
    rows = _query("quarantine_show", _corpus(db, warehouse, lake_data), key=key)
    if not rows:
        raise UsageError(f"nothing in quarantine for {key}")
    for row in rows:
        out.print(f"[bold]{row['url']}[/bold] (run {row['run_id']}, "
                  f"{'released by ' + row['released_by'] if row['released_by'] else 'held'})")
        out.print("reasons: " + "; ".join(row["reasons"]))
        out.print_json(row["record"])


@quarantine_app.command("release")
def quarantine_release(
    urls: Annotated[list[str] | None, typer.Argument(
        help="URLs to retry; none = all held.")] = None,
    site: Annotated[str, typer.Option(help="Site profile.")] = "demo",
    base_url: Annotated[str | None, typer.Option(
        help="Base URL the archives were crawled from.")] = None,
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-extract held-back pages from the archive with the current code (no network).

    Pages that now pass validation are loaded and their quarantine rows marked released;
    the others stay held, with their new reasons.
    """
    held = [row["url"] for row in _query("quarantined_urls", _corpus(db, warehouse, lake_data),
                                         urls=urls or None)]
    if not held:
        raise UsageError("nothing held in quarantine" + (" for those URLs" if urls else ""))
    summary = _run_flow("reprocess", site=site, base_url=base_url, urls=held,
                        **_where(db, warehouse, lake_data))
    _print_summary(summary, as_json)


@app.command("extract")
def extract_command(
    inputs: Annotated[list[Path], typer.Argument(
        help="HTML files (.html, .html.gz) or WARC files (.warc, .warc.gz).")],
    site: Annotated[str, typer.Option(
        help="A site profile, `generic`, or `auto` (the profile whose host matches the URL, "
             "else generic).")] = "auto",
    url: Annotated[str | None, typer.Option(help="The URL of an HTML file's page.")] = None,
    fmt: Annotated[str, typer.Option(
        "--format", help="jsonl (one line a page) or json.")] = "jsonl",
    jobs: Annotated[int, typer.Option(
        min=0, help="Processes to extract with; 0 = one per core.")] = 0,
) -> None:
    """Extract articles from saved pages, offline; prints one JSON object per page, cleaned
    as the pipeline would load it, with the layer that gave each field.

    A crawl's own WARC (in its run's folder, beside the manifest) gives only its article
    pages, with the profile of the site it was crawled for (under --site auto); what is left
    out (listing pages, sitemaps, answers other than 200) is counted on stderr.

    A WARC file with a record that is not whole (cut short, damaged, not WARC) gives its pages
    up to that record, an error line naming the file and offset, and exit code 1.
    """
    from collections import Counter, deque
    from datetime import UTC, datetime

    from expectations import quality
    from extract.clean import clean_rows
    from extract.inputs import crawl_of, is_warc, pages
    from extract.workers import CHUNK, batches, extract_many
    from sites import SiteProfile, available_sites, load_profile, profile_for
    from spiders.archive_reader import ArchiveReadError

    if fmt not in ("json", "jsonl"):
        raise UsageError(f"--format must be json or jsonl, not {fmt!r}")
    for path in inputs:
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
    profiles = _usable_profiles(available_sites()) if site == "auto" else []
    fixed = None if site == "auto" else load_profile(site)
    generic = load_profile("generic")
    used: deque[SiteProfile] = deque()  # the profile of each page handed out, in order
    unreadable: list[ArchiveReadError] = []

    left_out: Counter[str] = Counter()
    by_profile: Counter[str] = Counter()

    def jobs_of(path: Path) -> Any:
        crawl = crawl_of(path) if is_warc(path) else None
        crawled = next((p for p in profiles if crawl and p.name == crawl.site), None)
        try:
            for page_url, body, content_type, status in pages(path, url):
                if status != 200:
                    left_out[f"HTTP {status}"] += 1
                    continue
                if crawl and (why := crawl.left_out(page_url)):
                    left_out[why] += 1
                    continue
                profile = fixed or crawled or profile_for(page_url, profiles, generic)
                used.append(profile)
                by_profile[profile.name] += 1
                yield body, page_url, profile, content_type
        except ArchiveReadError as error:  # the pages before it still go out
            unreadable.append(error)

    printed = []
    now = datetime.now(UTC)
    for path in inputs:
        for batch in batches(extract_many(jobs_of(path), jobs), CHUNK):
            # Cleaned as the pipeline cleans before it validates and loads.
            rows = clean_rows(batch)
            page_profiles = [used.popleft() for _ in range(len(rows))]
            held: dict[str, list[str]] = {}
            for profile in {p.name: p for p in page_profiles}.values():
                mine = rows[[p.name == profile.name for p in page_profiles]]
                held.update(quality.held_back(mine, profile, now))
            for row, profile in zip(rows.to_dict("records"), page_profiles, strict=True):
                printed.append({
                    "url": row["url"], "title": row["title"], "subtitle": row["subtitle"],
                    "published_at": _iso(row["published_at"]),
                    "published_precision": row["published_precision"],
                    "modified_at": _iso(row["modified_at"]),
                    "body": row["body"], "tags": row["tags"], "authors": row["authors"],
                    "lang": row["lang"], "section": row["section"], "site": profile.name,
                    "provenance": row["provenance"],
                    "quarantine": held.get(row["article_id"], [])})
                if fmt == "jsonl":
                    print(json.dumps(printed.pop(), ensure_ascii=False))
    if fmt == "json":
        print(json.dumps(printed, ensure_ascii=False, indent=2))
    err.print("extracted: " + (", ".join(f"{n} with the {name} profile" for name, n in
                                         sorted(by_profile.items())) or "no page"),
              highlight=False, soft_wrap=True)
    if left_out:
        err.print("left out, as no article pages (answers other than 200, and what the "
                  "crawl's manifest says is no article): "
                  + ", ".join(f"{n} {why}" for why, n in sorted(left_out.items())),
                  highlight=False, soft_wrap=True)
    for error in unreadable:
        err.print(f"[red]error:[/red] {escape(str(error))}; the file's later records were "
                  "skipped", highlight=False, soft_wrap=True)
    if unreadable:
        raise typer.Exit(1)


def _usable_profiles(names: list[str]) -> list[Any]:
    """The profiles that load; a broken one is reported, not fatal to the others."""
    from sites import ProfileError, load_profile

    usable = []
    for name in names:
        try:
            usable.append(load_profile(name))
        except ProfileError as error:
            err.print(f"[yellow]warning:[/yellow] profile {name} left out: {escape(str(error))}",
                      highlight=False, soft_wrap=True)
    return usable


def _iso(moment: Any) -> str | None:
    import pandas as pd

    return None if moment is None or pd.isna(moment) else moment.isoformat()


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words to find in titles, leads and bodies.")],
    since: Annotated[str | None, typer.Option(
        help="Only articles published from this day.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many results.")] = 10,
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Full-text search (BM25) over the corpus, best first, with snippets."""
    from reports.search import search as run_search

    first = _parse_day(since, "--since") if since else None
    hits = run_search(_corpus(db, warehouse, lake_data), query, first, limit)
    if as_json:
        print(json.dumps(hits, default=str, ensure_ascii=False))
        return
    if not hits:
        out.print(f"No article matches {query!r}.")
    for rank, hit in enumerate(hits, start=1):
        out.print(f"[bold]{rank}. {escape(hit['title'] or '')}[/bold]  "
                  f"[dim]{hit['published_local']:%Y-%m-%d %H:%M} {hit['site_timezone']}  "
                  f"score {hit['score']:.2f}[/dim]")
        out.print(f"   {escape(hit['url'])}", soft_wrap=True)  # whole, to copy
        out.print(f"   …{escape(hit['snippet'])}…", highlight=False)


@app.command()
def export(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
    fmt: Annotated[str, typer.Option("--format", help="parquet, csv or jsonl.")] = "parquet",
    since: Annotated[str | None, typer.Option(help="Articles published from this day.")] = None,
    until: Annotated[str | None, typer.Option(help="Articles published to this day.")] = None,
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
) -> None:
    """Export the articles; Parquet is partitioned by publication date (hive style)."""
    from reports.export import FORMATS
    from reports.export import export as run_export

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    first = _parse_day(since, "--since") if since else None
    last = _parse_day(until, "--until") if until else None
    written, rows = run_export(_corpus(db, warehouse, lake_data), out_dir, fmt, first, last)
    out.print(f"Exported {rows} articles to {written}")


@app.command()
def report(
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file.")] = Path(
        "data/report.html"),
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
) -> None:
    """Write a self-contained HTML report with charts (no CDN, no script)."""
    from reports.report import build

    print(build(_corpus(db, warehouse, lake_data), out_file))


def _corpus(db: Path | None, warehouse: str | None, lake_data: Path | None) -> Any:
    """The corpus the options name (warehouse.db.Target): the DuckDB file, or a lake."""
    from warehouse.db import target

    return target(db, None, warehouse, lake_data)


def _where(db: Path | None, warehouse: str | None, lake_data: Path | None) -> dict[str, Any]:
    """The flows' parameters that name the corpus, checked before Prefect starts."""
    _corpus(db, warehouse, lake_data)
    return {"db": str(db) if db else None, "warehouse": warehouse,
            "lake_data": str(lake_data) if lake_data else None}


@app.command()
def docs(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder of the page.")] = Path(
        "data/docs"),
    runs: Annotated[int, typer.Option(min=1, help="How many recent runs.")] = 10,
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
) -> None:
    """Write the data docs: one offline HTML page of the last runs' validation results."""
    from reports import data_docs

    print(data_docs.build(_corpus(db, warehouse, lake_data), out_dir, runs))


def _query(name: str, corpus: Any, **params: Any) -> list[dict[str, Any]]:
    from warehouse import queries
    from warehouse.db import reading

    with reading(corpus, wait=0) as con:
        return queries.rows(con, name, **params)


def _print_query(name: str, corpus: Any, as_json: bool, columns: list[str],
                 where: Any = None, **params: Any) -> None:
    rows = [r for r in _query(name, corpus, **params) if where is None or where(r)]
    if as_json:
        print(json.dumps(rows, default=str, ensure_ascii=False))
        return
    _show(columns, [tuple(r[c] for c in columns) for r in rows])


@app.command("demo-site")
def demo_site(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1.")] = 8765,
    articles: Annotated[int, typer.Option(min=50, max=200_000, help="Articles in all.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 7,
    as_of: Annotated[str | None, typer.Option(
        help="Serve the site as it stood at this ISO time, e.g. 2025-02-09T12:00+02:00 "
             "[default: 2025-02-10T12:30+02:00, when the seed page was captured].")] = None,
    redesign_at: Annotated[str | None, typer.Option(
        help="From this ISO time on (of --as-of), serve the article pages redesigned: other "
             "class names, less structured data, the feed inside the article.")] = None,
    drift: Annotated[str | None, typer.Option(
        help="Change every article page's layout: `date` (date elements renamed, no "
             "structured dates) or `body` (text block renamed).")] = None,
    layout: Annotated[str, typer.Option(
        help="`espreso` (the mirror of the live site) or `newsroom` (the same articles in "
             "other markup, without structured data).")] = "espreso",
    faults: Annotated[str | None, typer.Option(
        help="Fault modes: `all` (each on 2 articles, plus off-site and file links), or "
             "shares/counts per mode, e.g. `5xx=0.05,timeout=0.02,hang=3`. The modes and "
             "their expected outcomes are listed in /__truth__ (docs/operations.md).")] = None,
    prerender: Annotated[bool, typer.Option(
        help="Render every article page before serving (for benchmarks).")] = False,
    quiet: Annotated[bool, typer.Option(help="Do not log each request.")] = False,
) -> None:
    """Serve the built-in demo site (a mirror of the espreso layout) until Ctrl-C."""
    from demosite.corpus import DRIFTS, LAYOUTS, build_site
    from demosite.faults import parse_spec
    from demosite.server import serve_forever

    if drift is not None and drift not in DRIFTS:
        raise UsageError(f"--drift must be one of {', '.join(DRIFTS)}, not {drift!r}")
    try:
        spec = parse_spec(faults) if faults else {}
    except ValueError as error:
        raise UsageError(f"--faults: {error}") from None
    if layout not in LAYOUTS:
        raise UsageError(f"--layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    site = build_site(articles, seed).drifted(drift).with_layout(layout).with_faults(spec)
    if as_of:
        site = site.at(_parse_moment(as_of, "--as-of"))
    if redesign_at:
        site = site.redesigned_at(_parse_moment(redesign_at, "--redesign-at"))
    serve_forever(site, port, verbose=not quiet, prerender=prerender)


def _parse_moment(text: str, option: str) -> Any:
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise UsageError(f"{option}: {text!r} needs a time zone offset, e.g. +02:00")
    return moment


@app.command()
def deploy() -> None:
    """Create the work pool and concurrency limits and deploy prefect.yaml (idempotent).

    Needs a Prefect server: PREFECT_API_URL, or the one `newscorpus server start` runs.
    """
    from config.server import configured_or_local

    configured_or_local()
    from flows.deploy import DeployError
    from flows.deploy import deploy as deploy_all

    try:
        names = deploy_all()
    except DeployError as error:
        raise UsageError(str(error)) from None
    out.print(f"Deployed {', '.join(names)} to work pool 'newscorpus'. Start a worker: "
              "newscorpus worker")


@app.command()
def worker(
    queue: Annotated[list[str] | None, typer.Option(
        "--queue", metavar="QUEUE", help="Take runs only from this work queue (repeatable), "
        "e.g. `chunks` [default: every queue of the pool]")] = None,
    limit: Annotated[int | None, typer.Option(
        min=1, help="Flow runs at once [default: no limit]")] = None,
    run_once: Annotated[bool, typer.Option(
        "--run-once", help="Take the runs due now, wait for them, and exit.")] = False,
    name: Annotated[str | None, typer.Option(help="The worker's name in the UI.")] = None,
) -> None:
    """Run the deployments' flows on this machine: Prefect's worker on the `newscorpus` pool.

    Its flows read their settings from this environment, which it prints first. One Ctrl-C
    or one SIGTERM stops it, even when a script started it in the background. Needs a Prefect
    server: PREFECT_API_URL, or the one `newscorpus server start` runs.
    """
    from config.server import configured_or_local, healthy
    from config.worker import become_worker, described, environment, worker_argv

    api_url = configured_or_local()
    if api_url is None:
        raise UsageError("no Prefect server: start one (`newscorpus server start`), or "
                         "export PREFECT_API_URL=<your server>/api")
    if not healthy(api_url, timeout=10):  # Prefect's worker would retry it, quietly, for ever
        raise UsageError(f"no Prefect server answers at PREFECT_API_URL={api_url}; start one "
                         "(`newscorpus server start`) or fix the address")
    env = environment(api_url)
    err.print("The worker's flows run with:\n  " + "\n  ".join(described(env)),
              highlight=False, markup=False)
    sys.stderr.flush()
    become_worker(worker_argv(queue or [], limit, run_once, name), env)


@app.command()
def serve() -> None:
    """Serve the deployments of prefect.yaml, with their schedules, in this process.

    The one-process alternative to a server and a worker; Ctrl-C stops it.
    """
    from config.server import server_for_command
    from config.settings import quiet_prefect_defaults

    quiet_prefect_defaults()
    server = server_for_command()
    from flows.deploy import serve as serve_all

    server.ready()
    serve_all()


server_app = typer.Typer(
    no_args_is_help=True,
    help="A local Prefect server that outlives commands: `run`, `backfill` and the others "
         "find it and skip the seconds of Prefect's temporary server.")
app.add_typer(server_app, name="server")


@server_app.command("start")
def server_start(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 4200,
) -> None:
    """Start a Prefect server on 127.0.0.1 in the background (its UI at the same address),
    with the concurrency limits the flows take.

    Its database is Prefect's own, in PREFECT_HOME. A server already running is left as it
    is. PREFECT_API_URL, when set, still wins over it.
    """
    from config.server import ServerError, start

    try:
        server = start(port)
    except ServerError as error:
        raise UsageError(str(error)) from None
    os.environ["PREFECT_API_URL"] = server.url
    from flows.deploy import DeployError, ensure_limits, ensure_unresponsive_runs_crash

    try:  # the limits and automation the flows take, as `deploy` creates them
        ensure_limits()
        ensure_unresponsive_runs_crash()
    except DeployError as error:
        raise UsageError(str(error)) from None
    out.print(f"Prefect server running at {server.url} (pid {server.pid}, log {server.log}); "
              "commands on this machine use it. Stop it: newscorpus server stop",
              soft_wrap=True, highlight=False)


@server_app.command("stop")
def server_stop() -> None:
    """Stop the server that `server start` started."""
    from config.server import stop

    stopped = stop()
    out.print(f"Stopped the Prefect server at {stopped.url} (pid {stopped.pid})." if stopped
              else "No server was started with `newscorpus server start`.", highlight=False)


@server_app.command("status")
def server_status(as_json: JsonOption = False) -> None:
    """Say which Prefect server the commands would use; exit 1 if it is the temporary one."""
    from config.server import running

    configured = os.environ.get("PREFECT_API_URL")
    local = running()
    url = configured or (local.url if local else None)
    if as_json:
        print(json.dumps({"url": url, "source": "PREFECT_API_URL" if configured else
                          "local" if local else None, "pid": local.pid if local else None}))
    elif configured:
        out.print(f"PREFECT_API_URL={configured}: commands use that server.", highlight=False)
    elif local:
        out.print(f"Local server running at {local.url} (pid {local.pid}); commands use it.",
                  highlight=False)
    else:
        out.print("No server: each command starts Prefect's temporary one "
                  "(newscorpus server start runs one that outlives commands).",
                  highlight=False)
    if url is None:
        raise typer.Exit(1)


warehouse_app = typer.Typer(no_args_is_help=True,
                            help="Move a corpus to another warehouse; maintain a lake.")
app.add_typer(warehouse_app, name="warehouse")


@warehouse_app.command("copy")
def warehouse_copy(
    to: Annotated[str, typer.Option(
        "--to", help="The destination: `ducklake:postgres:<libpq string>`, or a DuckDB file")],
    to_lake_data: Annotated[Path | None, typer.Option(
        "--to-lake-data", help="The destination lake's data folder [default: "
        "$NEWSCORPUS_LAKE_DATA or data/lake]")] = None,
    db: DbOption = None,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy the corpus (--db, or --warehouse) into an empty warehouse, every table verified
    by its row count and checksum before the copy commits.

    Example: newscorpus warehouse copy --db data/corpus.duckdb
      --to 'ducklake:postgres:dbname=lake host=127.0.0.1 user=nc' --to-lake-data /srv/lake
    """
    from warehouse.copy import copy_corpus
    from warehouse.db import target

    source = _corpus(db, warehouse, lake_data)
    destination = target(warehouse=to, lake_data=to_lake_data) if to.startswith(
        "ducklake:") else target(db=to, warehouse="duckdb")
    copied = copy_corpus(source, destination)
    if as_json:
        print(json.dumps({"from": str(source), "to": str(destination),
                          "tables": [vars(t) for t in copied]}))
        return
    _show(["table", "rows", "checksum"], [(t.table, t.rows, t.checksum) for t in copied])
    out.print(f"Copied {len(copied)} tables, {sum(t.rows for t in copied)} rows, from "
              f"{escape(str(source))} to {escape(str(destination))}; every checksum verified.",
              soft_wrap=True, highlight=False)


@warehouse_app.command("maintain")
def warehouse_maintain(
    retention_days: Annotated[float, typer.Option(
        min=0, help="Keep the snapshots of this many days: the time-travel window of "
        "--as-of.")] = 30.0,
    grace_hours: Annotated[float, typer.Option(
        min=0, help="Delete unneeded files only after this many hours, so that no reader "
        "still scanning them is cut off.")] = 24.0,
    warehouse: WarehouseOption = None,
    lake_data: LakeDataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Maintain a lake: merge small files, expire old snapshots, delete unneeded files."""
    from datetime import timedelta

    from warehouse.lake import Lake
    from warehouse.maintenance import maintain

    lake = _corpus(None, warehouse, lake_data)
    if not isinstance(lake, Lake):
        raise UsageError("maintenance is for a lake (--warehouse ducklake:…); a DuckDB file "
                         "needs none")
    done = maintain(lake, timedelta(days=retention_days), timedelta(hours=grace_hours))
    if as_json:
        print(json.dumps(vars(done), default=str))
        return
    _show(list(vars(done)), [tuple(vars(done).values())])


archive_app = typer.Typer(no_args_is_help=True,
                          help="Check the crawls' WARC archives, and index them.")
app.add_typer(archive_app, name="archive")


RunsArgument = Annotated[list[str] | None, typer.Argument(
    help="Run ids or run folders; none: every run under the data dir.")]
ArchiveDirOption = Annotated[Path | None, typer.Option(help="Archive folder [default: data/].")]


def _archive_runs(runs: list[str] | None, data_dir: Path | None) -> list[Path]:
    """The run folders named (by id or path), or every run under the data dir's archive."""
    from config.settings import data_dir as data_folder
    from spiders.manifest import run_dirs

    root = data_folder(data_dir) / "archive"
    folders = run_dirs(root) if not runs else [_run_folder(run, root) for run in runs]
    if not folders:
        raise UsageError(f"no crawl archive under {root}")
    return folders


@archive_app.command("verify")
def archive_verify(
    runs: RunsArgument = None,
    data_dir: ArchiveDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check that each run's WARC files hold every answer its manifest lists, whole, at its
    offset, for its URL and size, with digests that verify; every redirect hop and retried
    answer it lists too; and that each file's CDXJ index matches it. Exit 1 if any does not."""
    from spiders.archive_check import check_run

    checks = [check_run(folder) for folder in _archive_runs(runs, data_dir)]
    if as_json:
        print(json.dumps([{"run": c.run_dir.name, **vars(c), "run_dir": str(c.run_dir),
                           "ok": c.ok} for c in checks]))
    else:
        _show(["run", "listed", "verified", "unlisted", "problems"], [
            (c.run_dir.name, c.listed, c.verified, c.unlisted, len(c.problems))
            for c in checks])
        for check in checks:
            for problem in check.problems:
                err.print(f"[red]problem:[/red] {escape(problem)}", highlight=False,
                          soft_wrap=True)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@archive_app.command("index")
def archive_index(
    runs: RunsArgument = None,
    data_dir: ArchiveDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """(Re)write the CDXJ index beside each run's WARC file (crawl.cdxj), as pywb and other
    replay tools read it. A crawl writes its own; this is for archives that have none."""
    from spiders.archive_index import index_path, write_index

    written = [(folder.name, str(index_path(warc)), write_index(warc))
               for folder in _archive_runs(runs, data_dir)
               for warc in sorted(folder.glob("*.warc.gz"))]
    if as_json:
        print(json.dumps([{"run": run, "index": path, "lines": lines}
                          for run, path, lines in written]))
        return
    _show(["run", "index", "lines"], written)


def _run_folder(run: str, root: Path) -> Path:
    """A run folder given as a path, or as a run id under `root`."""
    if Path(run).is_dir():
        return Path(run)
    found = [p for p in root.glob(f"*/{run}") if p.is_dir()] + \
        [p for p in root.glob(f"*/*/{run}") if p.is_dir()]
    if not found:
        raise UsageError(f"no run {run!r} under {root}")
    return found[0]


sites_app = typer.Typer(help="List the site profiles, or calibrate one on its own pages.")
app.add_typer(sites_app, name="sites")


@sites_app.callback(invoke_without_command=True)
def sites(context: typer.Context, as_json: JsonOption = False) -> None:
    """List the site profiles; a broken one is named with what is wrong (exit 1)."""
    if context.invoked_subcommand is None:
        _list_sites(as_json)


def _list_sites(as_json: bool) -> None:
    from sites import ProfileError, available_sites, load_profile

    columns = ["site", "title", "base url", "time zone", "languages"]
    rows, broken = [], []
    for name in available_sites():
        try:
            p = load_profile(name)
        except ProfileError as error:
            broken.append(f"profile {name} is broken: {error}")
            continue
        rows.append((p.name, p.title, p.base_url or "(the demo server)", p.timezone,
                     p.languages))
    if as_json:
        print(json.dumps([dict(zip(columns, row, strict=True)) for row in rows]))
    else:
        _show(columns, rows)
    for line in broken:
        err.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
    if broken:
        raise typer.Exit(1)


@sites_app.command("calibrate")
def sites_calibrate(
    site: Annotated[str, typer.Option(help="The site profile to calibrate.")],
    warcs: Annotated[list[Path] | None, typer.Argument(
        help="WARC files of the site's pages; none: crawl the first listing page.")] = None,
    base_url: Annotated[str | None, typer.Option(
        help="Crawl the site here (required for the demo profile without WARC files).")] = None,
    save: Annotated[bool, typer.Option(
        "--save", help="Keep what agrees as the profile's next learned layer.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Learn the article selectors from the pages that carry structured data.

    Shows each field's selector and its agreement with the structured data; with --save, the
    selectors that agree on at least 80% of the pages become a new version of the profile's
    learned layer (in <data dir>/learned/<site>/), which extraction tries after the
    profile's own selectors. Nothing is kept without --save.
    """
    import tempfile
    from datetime import UTC, datetime

    from extract import calibrate as calibration
    from extract.inputs import pages
    from sites import load_profile
    from sites.profile import learned_dir, learned_versions

    profile = load_profile(site, base_url)
    for path in warcs or []:
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
    with tempfile.TemporaryDirectory(prefix="newscorpus-calibrate-") as work:
        if not warcs:
            if not profile.base_url:
                raise UsageError(f"the {site} profile has no base URL: give --base-url or WARC "
                                 "files")
            warcs = [_crawl_first_page(profile, Path(work))]
        found = calibration.calibrate(
            ((body, url, kind) for path in warcs for url, body, kind, status in pages(path)
             if status == 200), profile)
    if as_json:
        print(json.dumps({"site": found.site, "pages": found.pages,
                          "with_structured_data": found.with_structured_data,
                          "fields": {n: vars(f) for n, f in found.fields.items()}}))
    else:
        _show(["field", "selector", "agreement", "pages", "kept"],
                         calibration.rows(found),
                         title=f"{site}: {found.with_structured_data} of {found.pages} pages "
                               "with structured data")
    if save:
        if not found.selectors():
            raise UsageError("nothing agrees well enough to keep (80% of the pages)")
        versions = learned_versions(site)
        version = versions[-1][0] + 1 if versions else 1
        target = learned_dir(site) / f"v{version}.toml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(calibration.as_toml(found, version, datetime.now(UTC),
                                              ", ".join(map(str, warcs or []))))
        err.print(f"saved as {target}", highlight=False)


def _crawl_first_page(profile: Any, work: Path) -> Path:
    """A full crawl of the first listing page (or the sitemaps) into `work`; its WARC."""
    import subprocess

    from spiders.archive import WARC_NAME

    log = work / "crawl.log"
    with open(log, "w") as output:
        done = subprocess.run(
            [sys.executable, "-P", "-m", "spiders.crawl", "--site", profile.name, "--base-url",
             profile.base_url, "--out", str(work), "--run-id", "calibrate", "--max-pages", "1"],
            stdout=output, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-3:]
        raise UsageError(f"the crawl of {profile.base_url} failed: " + " / ".join(tail))
    return work / WARC_NAME


# Known failures and their exit codes (2: what was asked cannot be done, 3: the warehouse is
# busy, 1: bad input data, a full disk, a server that did not start), by module and class.
# Looked up among the modules already imported: an error's class was imported to raise it,
# and `--help` need not import the warehouse to know its errors.
KNOWN_ERRORS = {
    ("sites.profile", "ProfileError"): 2, ("sites.profile", "BadBaseUrlError"): 2,
    ("warehouse.db", "WarehouseMissingError"): 2, ("warehouse.db", "WarehouseReadOnlyError"): 2,
    ("warehouse.lake", "LakeError"): 2, ("warehouse.db", "WarehouseBusyError"): 3,
    ("spiders.archive_reader", "ArchiveReadError"): 1,
    ("warehouse.db", "WarehouseStorageError"): 1, ("warehouse.copy", "CopyRefusedError"): 2,
    ("warehouse.copy", "CopyMismatchError"): 1, ("config.server", "ServerError"): 1}


def _known_code(error: Exception) -> int | None:
    if isinstance(error, UsageError):
        return 2
    for (module, name), code in KNOWN_ERRORS.items():
        kind = getattr(sys.modules.get(module), name, None)
        if isinstance(kind, type) and isinstance(error, kind):
            return code
    return None


def main() -> NoReturn:
    """Run the CLI and exit with its code (`_exit`)."""
    _exit(_run())


def _exit(code: int) -> NoReturn:
    """Exit as Python does, but for its last step: tearing down every module it imported,
    which took 0.4 s after a flow (of a no-change run of about 4 s), and does no I/O.

    Output is flushed and the exit handlers run (Prefect's send what the run logged, logging
    closes its files); a thread still running is waited for, by Python's own exit."""
    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run() -> int:
    """The CLI's exit code: usage errors are Click's (exit 2), known failures one line with
    their exit code (KNOWN_ERRORS), others one line and exit 1."""
    try:
        app()  # standalone: Click prints usage errors itself and exits
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 0
    except Exception as error:
        if (code := _known_code(error)) is not None:
            err.print(f"[red]error:[/red] {escape(str(error))}", highlight=False,
                      soft_wrap=True)
            return code
        if os.environ.get("NEWSCORPUS_DEBUG"):
            raise
        first_line = str(error).splitlines()[0] if str(error) else ""
        err.print(f"[red]error:[/red] {type(error).__name__}: {escape(first_line)}\n"
                  "(set NEWSCORPUS_DEBUG=1 for the traceback)", highlight=False, soft_wrap=True)
        return 1
    return 0


if __name__ == "__main__":
    main()
