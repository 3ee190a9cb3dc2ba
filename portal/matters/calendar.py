"""The working calendar: which China dates are working days (工作日).

The official calendar comes from the ``chinese-calendar`` package, which knows each year's State
Council holiday notice (法定节假日 and the weekend make-up working days, 调休上班). Administrators
correct or extend it with ``CalendarDay`` rows (a notice the installed package does not know yet, a
local arrangement); an override always wins. For a year the package does not cover, a plain
Monday–Friday week is assumed, so deadlines still come out, only without that year's holidays.

``WorkingCalendar`` is an immutable value; ``load_calendar`` builds it from the override rows and
keeps it per process (see ``load_calendar`` for how the copy is refreshed).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple

import chinese_calendar

from portal.audit.chain import AuditTrail
from portal.db import current_engine, write_transaction
from portal.matters.tables import CalendarDay

__all__ = [
    "HOLIDAY_NAMES",
    "OfficialDay",
    "WorkingCalendar",
    "invalidate_calendar",
    "load_calendar",
    "official_holidays",
    "official_day",
    "official_workday",
    "remove_override",
    "set_override",
]

_ONE_DAY = dt.timedelta(days=1)

# The package names holidays in English; these are the names of the State Council notices.
HOLIDAY_NAMES: dict[str, str] = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}


class OfficialDay(NamedTuple):
    """What the official calendar says about a day, for display next to an override."""

    workday: bool
    known: bool  # False: the package has no data for the year, Monday–Friday was assumed
    holiday: str = ""  # Chinese name of the holiday a day off or a make-up working day belongs to


@lru_cache(maxsize=4096)
def official_day(day: dt.date) -> OfficialDay:
    try:
        workday = chinese_calendar.is_workday(day)
        _is_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        # The package covers a fixed range of years; outside it the ordinary week is the best guess.
        return OfficialDay(workday=day.weekday() < 5, known=False)
    return OfficialDay(workday=workday, known=True, holiday=HOLIDAY_NAMES.get(name, name or ""))


def official_workday(day: dt.date) -> bool:
    return official_day(day).workday


def official_holidays(year: int) -> list[tuple[dt.date, OfficialDay]]:
    """The days of ``year`` named in the official notice: every day of each public holiday (its
    weekend days included) and each make-up working day; [] for a year the package does not know.
    """
    day, days = dt.date(year, 1, 1), []
    while day.year == year:
        official = official_day(day)
        if official.known and (official.holiday or official.workday != (day.weekday() < 5)):
            days.append((day, official))
        day += _ONE_DAY
    return days


@dataclass(frozen=True)
class WorkingCalendar:
    """Official calendar plus administrator overrides (``{date: is_workday}``)."""

    overrides: Mapping[dt.date, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Copy into a read-only view so a caller's dict cannot change a shared calendar later.
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping]) -> WorkingCalendar:
        return cls({row["day"]: bool(row["workday"]) for row in rows})

    def is_workday(self, day: dt.date) -> bool:
        override = self.overrides.get(day)
        return official_workday(day) if override is None else override

    def next_workday(self, day: dt.date) -> dt.date:
        """The first working day strictly after ``day``."""
        # Terminates: overrides are finite and every official or assumed week has working days.
        day += _ONE_DAY
        while not self.is_workday(day):
            day += _ONE_DAY
        return day

    def roll_forward(self, day: dt.date) -> dt.date:
        """``day`` itself if it is a working day, else the next working day."""
        return day if self.is_workday(day) else self.next_workday(day)

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after ``day`` (``day`` itself is not counted; n = 0 gives ``day``)."""
        if n < 0:
            raise ValueError("n must not be negative")
        for _ in range(n):
            day = self.next_workday(day)
        return day

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """Working days in (a, b]: ``a`` not counted, ``b`` counted; negative when b is before a.

        It is the inverse of ``add_working_days``: ``working_days_between(a, add_working_days(a, n)) == n``.
        """
        if b < a:
            return -self.working_days_between(b, a)
        count, day = 0, a
        while day < b:
            day += _ONE_DAY
            count += self.is_workday(day)
        return count


# ---------------------------------------------------------------- per-process copy

# Other processes cannot call our invalidate_calendar(), so a copy also expires after this long.
CACHE_SECONDS = 300.0
_cache: tuple[object, float, WorkingCalendar] | None = None
# Bumped by invalidate_calendar(): a read that started before a change must not be kept after it.
_generation = 0


async def load_calendar() -> WorkingCalendar:
    """The calendar with the current overrides, read at most once per ``CACHE_SECONDS``.

    The copy is tied to the database engine it was read from (tests and the CLI bind new ones),
    is dropped by ``invalidate_calendar()`` after an override changes in this process, and expires
    so that the other processes of a deployment see the change within ``CACHE_SECONDS``.
    """
    global _cache
    engine, moment, generation = current_engine(), time.monotonic(), _generation
    if _cache is not None:
        cached_engine, loaded_at, calendar = _cache
        if cached_engine is engine and moment - loaded_at < CACHE_SECONDS:
            return calendar
    rows = await CalendarDay.select(CalendarDay.day, CalendarDay.workday)
    calendar = WorkingCalendar.from_rows(rows)
    if generation == _generation:
        _cache = (engine, moment, calendar)
    return calendar


def invalidate_calendar() -> None:
    """Forget the cached calendar; call after the transaction that changed an override commits."""
    global _cache, _generation
    _cache = None
    _generation += 1


# ------------------------------------------------------------------------- changes


async def set_override(trail: AuditTrail, day: dt.date, workday: bool, note: str) -> None:
    """Add or replace the override of ``day`` (audited). Call it outside any open transaction:
    the cache is dropped when this one commits."""
    async with write_transaction():
        await CalendarDay.insert(CalendarDay(day=day, workday=workday, note=note)).on_conflict(
            target=CalendarDay.day, action="DO UPDATE", values=[CalendarDay.workday, CalendarDay.note]
        )
        await trail("calendar_day.set", object_type="calendar_day", object_id=day.isoformat(), fields=["workday", "note"])
    # After the commit: invalidating inside the transaction would let a concurrent reader cache
    # the old rows again before they change.
    invalidate_calendar()


async def remove_override(trail: AuditTrail, day: dt.date) -> bool:
    """Remove the override of ``day``; False when there was none (nothing is audited then)."""
    async with write_transaction():
        removed = await CalendarDay.delete().where(CalendarDay.day == day).returning(CalendarDay.id)
        if removed:
            await trail("calendar_day.removed", object_type="calendar_day", object_id=day.isoformat())
    invalidate_calendar()
    return bool(removed)
