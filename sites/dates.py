"""Publication dates: ISO 8601 from structured data, and the site's own date lines."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from sites.profile import DateRules


def parse_iso(value: str | None, tz: ZoneInfo) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime in its own offset (so its calendar day is
    the page's); a missing offset means the site's zone."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


@cache
def _name_numbers(months: tuple[tuple[str, ...], ...]) -> dict[str, int]:
    return {name.lower(): i for names in months for i, name in enumerate(names, start=1)}


def parse_date_line(date_text: str | None, time_text: str | None, rules: DateRules,
                    tz: ZoneInfo) -> datetime | None:
    """A date line such as "24 January, 2025 Friday" plus "12:37", in the site's zone, as UTC."""
    if not date_text:
        return None
    match = re.search(rules.pattern, date_text)
    if match is None:
        return None
    months = _name_numbers(rules.months)
    month = months.get(match["month"].lower())
    if month is None:
        return None
    clock = time(0, 0)
    if time_text and (t := re.search(rules.time_pattern, time_text)):
        try:
            clock = time(int(t["hour"]), int(t["minute"]))
        except ValueError:
            return None
    try:
        day = datetime(int(match["year"]), month, int(match["day"]), clock.hour, clock.minute,
                       tzinfo=tz)
    except ValueError:
        return None
    return day.astimezone(UTC)


def weekday_agrees(date_text: str | None, moment: datetime | None, rules: DateRules,
                   tz: ZoneInfo) -> bool | None:
    """Whether the weekday a date line names is the weekday of `moment` in the site's zone.

    None when there is nothing to compare: no date line, no weekday in it, or no moment.
    """
    if not date_text or moment is None or not rules.weekdays:
        return None
    days = _name_numbers(rules.weekdays)  # name -> 1..7
    named = [days[w] for w in re.findall(r"[^\W\d_][\w']*", date_text.lower()) if w in days]
    if not named:
        return None
    return named[-1] == moment.astimezone(tz).weekday() + 1
