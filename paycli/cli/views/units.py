"""Counts, durations and times as every human view words them; `--json` never uses these.

Invariants: a count has thousands separators and agrees in number with its noun
("1 break", "10,008 breaks"); a duration reads "850 ms" under a second, "5.0 s" under a
minute, "2 min 05 s" under an hour, "1 h 02 min" beyond; a time is the operator's local
time (the `TZ` environment variable is respected) and always names its zone, so a screen
never shows a bare UTC time without saying so. Imports nothing of Rich.
"""

from __future__ import annotations

from datetime import UTC, datetime


def count(number: int, noun: str, plural: str | None = None) -> str:
    """`number` with separators and `noun` in the matching number: "1 row", "5,000 rows"."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def duration(seconds: float) -> str:
    """A span of time, rounded to what an operator reads at a glance."""
    if seconds < 0.9995:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def local_time(at: str | None, seconds: bool = True) -> str:
    """A stored ISO 8601 time as local time with its zone ("2026-12-04 12:23:08 EST");
    empty for None. A time stored without an offset is UTC (the ledger writes UTC)."""
    if not at:
        return ""
    moment = datetime.fromisoformat(at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone()
    shown = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{shown} {_zone_name(local)}"


def _zone_name(moment: datetime) -> str:
    """The zone's abbreviation (EST, CET, UTC), or its offset (-03:00) where the zone has
    no letters for it."""
    name = moment.tzname() or ""
    if name.isalpha():
        return name
    offset = moment.strftime("%z")
    return f"{offset[:3]}:{offset[3:]}" if offset else "UTC"
