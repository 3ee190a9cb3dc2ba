"""The one source of "now" (UTC, aware), so tests can move time instead of sleeping."""

from __future__ import annotations

import datetime as dt

__all__ = ["now", "travel", "reset", "TZ_CN"]

TZ_CN = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
_offset = dt.timedelta(0)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + _offset


def travel(**delta: float) -> None:
    """Move the clock forward (tests only): ``travel(minutes=31)``."""
    global _offset
    _offset += dt.timedelta(**delta)


def reset() -> None:
    global _offset
    _offset = dt.timedelta(0)


def local(value: dt.datetime | None) -> dt.datetime | None:
    """Convert a stored UTC time to China Standard Time for display."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(TZ_CN)
