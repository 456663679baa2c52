"""`newscorpus report`: one self-contained HTML page of charts about the corpus.

Charts are drawn with matplotlib as SVG and written inline: the page has no script and no
link to load, so it opens offline and prints well.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from warehouse import queries
from warehouse.db import Target, reading

_ENV = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                   autoescape=select_autoescape(["html"]))
TOP_TAGS = 10
TREND_TAGS = 5
RUN_SLOTS = 10  # the quarantine chart keeps room for this many runs: one run is no wall of red
RATE_RUNS = 60  # and shows at most this many


def _svg(figure: Any) -> Markup:
    buffer = io.StringIO()
    # Text as text, not as outlines: it can be found, copied and read aloud.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    svg = buffer.getvalue()
    return Markup(svg[svg.index("<svg"):])  # drop the XML prolog and DOCTYPE


def _figure(title: str) -> tuple[Any, Any]:
    figure, axes = plt.subplots(figsize=(9, 3.2))
    axes.set_title(title, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def charts(frames: dict[str, pd.DataFrame]) -> dict[str, Markup]:
    out: dict[str, Markup] = {}
    figure, axes = _figure("Articles per day (site time)")
    per_day = frames["per_day"]
    axes.bar(pd.to_datetime(per_day["day"]), per_day["articles"], color="#3a6ea5")
    figure.autofmt_xdate()
    out["per_day"] = _svg(figure)

    figure, axes = _figure(f"Top {TOP_TAGS} tags")
    top = frames["top_tags"].iloc[::-1]
    axes.barh(top["tag"], top["articles"], color="#5b8f5b")
    out["top_tags"] = _svg(figure)

    trend = frames["tag_trend"].pivot_table(index="week", columns="tag", values="articles",
                                            fill_value=0)
    weeks = pd.to_datetime(trend.index)
    days = pd.to_datetime(per_day["day"])
    partial = partial_weeks(weeks, days.min(), days.max()) if len(days) else []
    note = f" (dashed: partial week, {len(partial)})" if partial else ""
    figure, axes = _figure(f"Weekly articles of the top {TREND_TAGS} tags{note}")
    whole = [w not in partial for w in weeks]
    for tag in trend.columns:
        line, = axes.plot(weeks.where(whole), trend[tag].where(whole), marker="o", label=tag)
        for week in partial:  # a partial week's count is no fall: drawn apart, hollow
            at = weeks.get_loc(week)
            span = slice(max(at - 1, 0), at + 2)
            axes.plot(weeks[span], trend[tag].iloc[span], linestyle="--",
                      color=line.get_color())
            axes.plot(weeks[at], trend[tag].iloc[at], marker="o", markerfacecolor="white",
                      color=line.get_color())
    axes.legend(frameon=False, fontsize=8, ncol=TREND_TAGS)
    figure.autofmt_xdate()
    out["tag_trend"] = _svg(figure)

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    for axes, frame, column, title in ((left, frames["labels"], "label", "Labels"),
                                       (right, frames["languages"], "lang", "Languages")):
        axes.bar(frame[column].astype(str), frame["articles"], color="#a5673a")
        axes.set_title(title, loc="left")
        axes.spines[["top", "right"]].set_visible(False)
    out["labels_languages"] = _svg(figure)

    rates = frames["quarantine_rate"]
    figure, axes = _figure(f"Quarantine rate per run: the latest that discovered articles "
                           f"({len(rates)}, at most {RATE_RUNS})")
    axes.bar(range(len(rates)), rates["quarantine_rate"] * 100, color="#a53a3a", width=0.6)
    axes.set_xlim(-0.5, max(len(rates), RUN_SLOTS) - 0.5)
    axes.set_ylabel("% of discovered")
    step = max(1, len(rates) // RUN_SLOTS)  # at most about ten labels, whatever the runs
    axes.set_xticks(range(0, len(rates), step),
                    [f"{t:%m-%d %H:%M}" for t in rates["started_at"].iloc[::step]],
                    rotation=45, ha="right", fontsize=7)
    out["quarantine_rate"] = _svg(figure)
    return out


def partial_weeks(weeks: pd.DatetimeIndex, first_day: pd.Timestamp,
                  last_day: pd.Timestamp) -> list[pd.Timestamp]:
    """The weeks (by their Monday) that the corpus does not cover whole: the first, when it
    starts after that Monday, and the last, when it ends before that Sunday. A crawl ends
    mid-week, and a week of three days read as a week looks like a collapse."""
    partial = []
    if len(weeks) and first_day > weeks[0]:
        partial.append(weeks[0])
    if len(weeks) and last_day < weeks[-1] + pd.Timedelta(days=6) and weeks[-1] not in partial:
        partial.append(weeks[-1])
    return partial


def _local(moment: Any, zone: ZoneInfo) -> str:
    return "" if moment is None or pd.isna(moment) else \
        pd.Timestamp(moment).tz_convert(zone).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Numbers:
    """A chart's numbers as text: its columns, and a row each of what it draws."""

    columns: list[str]
    rows: list[list[str]]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Numbers:
        def text(value: Any) -> str:
            if isinstance(value, (datetime, date, pd.Timestamp)):
                return f"{value:%Y-%m-%d}"
            return str(value)
        return cls([str(c) for c in frame.columns],
                   [[text(v) for v in row] for row in frame.itertuples(index=False)])


def numbers(frames: dict[str, pd.DataFrame]) -> dict[str, Numbers]:
    """Each chart's numbers, as the table printed under it: what the chart draws, to read
    exactly, copy, or hear read aloud."""
    trend = frames["tag_trend"].pivot_table(index="week", columns="tag", values="articles",
                                            fill_value=0).reset_index()
    rates = frames["quarantine_rate"].assign(
        quarantine_rate=lambda f: (f["quarantine_rate"] * 100).round(2))
    return {name: Numbers.of(frame) for name, frame in {
        "per_day": frames["per_day"], "top_tags": frames["top_tags"], "tag_trend": trend,
        "labels_languages": pd.concat([
            frames["labels"].rename(columns={"label": "label or language"}),
            frames["languages"].rename(columns={"lang": "label or language"})]),
        "quarantine_rate": rates[["run_id", "discovered", "quarantine_rate"]].rename(
            columns={"quarantine_rate": "quarantined, % of discovered"})}.items()}


def build(db: Target, out: Path) -> Path:
    """Write the report to `out` (an .html file); returns its path."""
    with reading(db) as con:
        frames = {
            "per_day": queries.run(con, "report_per_day").df(),
            "top_tags": queries.run(con, "report_top_tags", limit=TOP_TAGS).df(),
            "tag_trend": queries.run(con, "report_tag_trend", limit=TREND_TAGS).df(),
            "labels": queries.run(con, "report_labels").df(),
            "languages": queries.run(con, "report_languages").df(),
            "quarantine_rate": queries.run(con, "report_quarantine_rate",
                                           limit=RATE_RUNS).df(),
        }
        totals = queries.run(con, "report_totals").df().iloc[0].to_dict()
    zone = ZoneInfo(totals.pop("timezone") or "UTC")  # the site's, as the charts count days
    for key in ("first", "last"):
        totals[key] = _local(totals[key], zone)
    runs = frames["quarantine_rate"]
    runs["started_at"] = pd.to_datetime(runs["started_at"], utc=True).dt.tz_convert(zone)
    html = _ENV.get_template("report.html").render(
        charts=charts(frames), numbers=numbers(frames), totals=totals, db=str(db),
        zone=zone.key, generated=_local(datetime.now(UTC), zone))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
