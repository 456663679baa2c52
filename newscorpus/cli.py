"""The `newscorpus` command.

Heavy imports (Prefect, Great Expectations, Scrapy) happen inside the commands that need
them, so `newscorpus sql` and `--help` start fast. Known failures print one line and exit
with a non-zero code; set NEWSCORPUS_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Keep a news site's articles as an analytical corpus in DuckDB.")
# Piped output is not cut to 80 columns: scripts and logs get whole tables.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)

DbOption = Annotated[Path | None, typer.Option(
    "--db", help="DuckDB file [default: $NEWSCORPUS_DB or data/corpus.duckdb]")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class UsageError(Exception):
    """A user error: bad arguments, a missing file. Exit code 2."""


def _table(columns: list[str], rows: list[tuple[Any, ...]], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, no_wrap=True, min_width=len(column))
    for row in rows:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    return table


@app.command()
def run(
    site: Annotated[str, typer.Option(
        help="Site profile; `demo` starts the built-in demo site.")] = "demo",
    base_url: Annotated[str | None, typer.Option(help="Override the profile's base URL.")] = None,
    db: DbOption = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Re-crawl every listing page instead of only what is new.")] = False,
    max_pages: Annotated[int, typer.Option(min=0, help="Listing pages to crawl; 0 = all.")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Archive folder [default: data/].")] = None,
    as_json: JsonOption = False,
) -> None:
    """Crawl a site once and load it into the corpus (the `news_pipeline` flow)."""
    from sites import load_profile

    load_profile(site, base_url)  # fail fast, before Prefect starts, on an unknown site
    summary = _run_flow("news_pipeline", site=site, base_url=base_url,
                        db=str(db) if db else None, mode="full" if full else "incremental",
                        max_pages=max_pages, data_dir=str(data_dir) if data_dir else None)
    _print_summary(summary, as_json)


@app.command()
def backfill(
    since: Annotated[str, typer.Option(help="First publication day, YYYY-MM-DD (site time).")],
    until: Annotated[str, typer.Option(help="Last publication day, YYYY-MM-DD (inclusive).")],
    site: Annotated[str, typer.Option(help="Site profile.")] = "demo",
    base_url: Annotated[str | None, typer.Option(help="Override the profile's base URL.")] = None,
    db: DbOption = None,
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
    summary = _run_flow("backfill", since=first, until=last, site=site, base_url=base_url,
                        db=str(db) if db else None, chunk=chunk, concurrency=concurrency,
                        force=force, data_dir=str(data_dir) if data_dir else None)
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
    as_json: JsonOption = False,
) -> None:
    """Re-extract archived pages with the current code (no network) and load the result."""
    from sites import load_profile

    if run_id and (since or until):
        raise UsageError("give either --run or --since/--until, not both")
    first = _parse_day(since, "--since") if since else None
    last = _parse_day(until, "--until") if until else None
    load_profile(site, base_url)
    from flows.reprocess import NothingToReprocessError

    try:
        summary = _run_flow("reprocess", site=site, base_url=base_url, run=run_id,
                            since=first, until=last, db=str(db) if db else None)
    except NothingToReprocessError as error:
        raise UsageError(str(error)) from None
    _print_summary(summary, as_json)


def _run_flow(name: str, **params: Any) -> dict[str, Any]:
    """Start Prefect quietly and call one of the flows."""
    from flows.settings import quiet_prefect_defaults

    quiet_prefect_defaults()
    from flows import backfill as backfill_flows
    from flows import pipeline
    from flows import reprocess as reprocess_flows

    flows = {"news_pipeline": pipeline.news_pipeline, "backfill": backfill_flows.backfill,
             "reprocess": reprocess_flows.reprocess}
    _tracebacks_off_the_console()
    return flows[name](**params)


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, default=str))
        return
    from flows.summary import SUMMARY_FIELDS

    fields = [f for f in SUMMARY_FIELDS if f in summary]
    out.print(_table(fields, [tuple(summary[f] for f in fields)],
                     title=f"{summary.get('mode', 'run')} {summary['run_id']} "
                           f"({summary['status']}) -> {summary['db']}"))


def _parse_day(text: str, option: str) -> Any:
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None


def _tracebacks_off_the_console() -> None:
    """Prefect logs a failed run with its traceback; on the console, the message is enough."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    def strip(record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True

    for logger in [logging.getLogger(), *map(logging.getLogger, logging.root.manager.loggerDict)]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.addFilter(strip)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A SQL query; the database is opened read-only.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a read-only SQL query on the corpus and print the result."""
    import duckdb

    from flows.settings import db_path
    from warehouse.db import connect

    con = connect(db_path(db), read_only=True)
    try:
        cursor = con.execute(query)
    except duckdb.Error as error:
        raise UsageError(f"query failed: {str(error).splitlines()[0]}") from None
    if cursor.description is None:
        return
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if as_json:
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str,
                         ensure_ascii=False))
    elif len(columns) == 1 and len(rows) == 1:
        print(rows[0][0])
    else:
        out.print(_table(columns, rows))


@app.command("demo-site")
def demo_site(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1.")] = 8765,
    articles: Annotated[int, typer.Option(min=50, help="Articles in all.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 7,
    as_of: Annotated[str | None, typer.Option(
        help="Serve the site as it stood at this ISO time, e.g. 2025-02-09T12:00+02:00 "
             "[default: 2025-02-10T12:30+02:00, when the seed page was captured].")] = None,
) -> None:
    """Serve the built-in demo site (a mirror of the espreso layout) until Ctrl-C."""
    from demosite.corpus import build_site
    from demosite.server import serve_forever

    site = build_site(articles, seed)
    if as_of:
        site = site.at(_parse_moment(as_of, "--as-of"))
    serve_forever(site, port)


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
def sites() -> None:
    """List the site profiles."""
    from sites import available_sites, load_profile

    rows = [(p.name, p.title, p.base_url or "(the demo server)", p.timezone,
             ", ".join(p.languages)) for p in map(load_profile, available_sites())]
    out.print(_table(["site", "title", "base url", "time zone", "languages"], rows))


def main() -> int:
    """Run the CLI; usage errors are Click's (exit 2), known failures one line, others one line."""
    from sites import UnknownSiteError
    from warehouse.db import WarehouseBusyError, WarehouseMissingError

    try:
        app()  # standalone: Click prints usage errors itself and exits
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 0
    except (UsageError, UnknownSiteError, WarehouseMissingError) as error:
        err.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        return 2
    except WarehouseBusyError as error:
        err.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        return 3
    except Exception as error:
        if os.environ.get("NEWSCORPUS_DEBUG"):
            raise
        first_line = str(error).splitlines()[0] if str(error) else ""
        err.print(f"[red]error:[/red] {type(error).__name__}: {first_line}\n"
                  "(set NEWSCORPUS_DEBUG=1 for the traceback)", highlight=False, soft_wrap=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
