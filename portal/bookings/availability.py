"""Free slots: opening rules, dated exceptions, the working calendar, buffers, notice and window.

Times inside the engine are whole minutes since the Unix epoch (UTC), so the search over 30 days
and 20 resources is integer arithmetic; opening rules are minutes after local midnight in
Asia/Shanghai (UTC+8 all year, no daylight saving). A slot is *offered* when a resource's opening
hours produce it, and *free* when none of the 5-minute units it covers (slot + buffer) is claimed
by another slot — or, for a group service, when its own slot still has a seat.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from portal import clock
from portal.db import current_engine, raw
from portal.matters.calendar import WorkingCalendar, load_calendar
from portal.plugin_api import Service

__all__ = [
    "UNIT",
    "Hours",
    "Search",
    "day_of",
    "from_minute",
    "load_hours",
    "local_day_start",
    "search",
    "slot_label",
    "span",
    "to_minute",
]

UNIT = 5  # minutes: the granularity of claims
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_OFFSET = 8 * 60  # Asia/Shanghai


def to_minute(value: dt.datetime) -> int:
    return int(value.timestamp()) // 60


def from_minute(minute: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(minute * 60, dt.timezone.utc)


def local_day_start(day: dt.date) -> int:
    """Epoch minute of local midnight starting ``day``."""
    return (day.toordinal() - _EPOCH_ORDINAL) * 1440 - _OFFSET


def day_of(minute: int) -> dt.date:
    """The local date of an epoch minute."""
    return dt.date.fromordinal((minute + _OFFSET) // 1440 + _EPOCH_ORDINAL)


def span(service: Service) -> int:
    """Minutes a slot occupies its resource: duration plus buffer, rounded up to whole units."""
    total = service.duration_minutes + service.buffer_minutes
    return -(-total // UNIT) * UNIT


def slot_label(minute: int, duration: int) -> str:
    """「上午 9:00–9:30」 (ux.md C6)."""
    start = (minute + _OFFSET) % 1440
    end = start + duration
    part = "上午" if start < 12 * 60 else ("下午" if start < 18 * 60 else "晚上")
    return f"{part} {start // 60}:{start % 60:02d}–{end // 60}:{end % 60:02d}"


@dataclass
class Hours:
    """One resource's opening rules and exceptions (local minutes after midnight)."""

    resource: int
    rules: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    closed_days: set[dt.date] = field(default_factory=set)
    closed_windows: dict[dt.date, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    extra: dict[dt.date, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))

    def windows(self, day: dt.date, calendar: WorkingCalendar) -> list[tuple[int, int]]:
        if day in self.closed_days:
            return []
        # Official holidays close the weekly hours; dated extra hours still open.
        base = list(self.rules.get(day.weekday(), ())) if calendar.is_workday(day) else []
        result = sorted(base + list(self.extra.get(day, ())))
        for c_start, c_end in self.closed_windows.get(day, ()):
            cut = []
            for start, end in result:
                if c_end <= start or c_start >= end:
                    cut.append((start, end))
                    continue
                if start < c_start:
                    cut.append((start, c_start))
                if c_end < end:
                    cut.append((c_end, end))
            result = cut
        return result

    def slots(self, day: dt.date, calendar: WorkingCalendar, duration: int, step: int) -> list[int]:
        """Epoch minutes of the slots ``day``'s opening hours produce (no overlap between windows)."""
        base = local_day_start(day)
        out: list[int] = []
        last_end = -1
        for start, end in self.windows(day, calendar):
            t = max(start, last_end)
            t = -(-t // UNIT) * UNIT
            while t + duration <= end:
                out.append(base + t)
                t += step
            last_end = max(last_end, t)
        return out


async def load_hours(resource_ids: list[int], first: dt.date, last: dt.date) -> dict[int, Hours]:
    hours = {rid: Hours(rid) for rid in resource_ids}
    if not resource_ids:
        return hours
    marks = ", ".join("{}" for _ in resource_ids)
    for row in await raw(
        f"SELECT resource, weekday, start_minute, end_minute FROM booking_rule WHERE resource IN ({marks})", *resource_ids
    ):
        hours[row["resource"]].rules[row["weekday"]].append((row["start_minute"], row["end_minute"]))
    for row in await raw(
        f"SELECT resource, day, closed, start_minute, end_minute FROM booking_exception "
        f"WHERE resource IN ({marks}) AND day >= {{}} AND day <= {{}}", *resource_ids, first, last
    ):
        day = row["day"] if isinstance(row["day"], dt.date) else dt.date.fromisoformat(str(row["day"]))
        h = hours[row["resource"]]
        if not row["closed"]:
            h.extra[day].append((row["start_minute"], row["end_minute"]))
        elif row["start_minute"] == row["end_minute"]:
            h.closed_days.add(day)
        else:
            h.closed_windows[day].append((row["start_minute"], row["end_minute"]))
    return hours


async def resources_for(center_id: int, service_key: str) -> list[int]:
    rows = await raw(
        "SELECT r.id FROM booking_resource r JOIN booking_resource_service s ON s.resource = r.id "
        "WHERE r.center = {} AND s.service_key = {} AND r.active ORDER BY r.id",
        center_id, service_key,
    )
    return [row["id"] for row in rows]


async def _claims(resource_ids: list[int], service: Service, low: int, high: int) -> tuple[dict, dict]:
    """Taken units in [low, high) per resource: (blocked, shareable).

    ``blocked[rid]``: units no slot of ``service`` may use (another service's, or a full slot);
    ``shareable[rid]``: {unit: slot start} of this service's slots that still have a seat.
    One row per resource with the units joined into a string: a month of 20 busy resources is
    ~14,000 claim rows, and converting them row by row cost ~100 ms (bench/RESULTS.md).
    """
    if not resource_ids:
        return {}, {}
    marks = ", ".join("{}" for _ in resource_ids)
    pg = current_engine().engine_type == "postgres"
    # One scan: a unit of a slot of this service with a free seat is written "unit:slot", any other "unit".
    token = ("CASE WHEN service_key = {} AND taken < capacity THEN minute::text || ':' || slot_minute::text "
             "ELSE minute::text END") if pg else \
            "CASE WHEN service_key = {} AND taken < capacity THEN minute || ':' || slot_minute ELSE minute END"
    joined = f"string_agg({token}, ',')" if pg else f"group_concat({token}, ',')"
    rows = await raw(
        f"SELECT resource, {joined} AS units FROM booking_claim "
        f"WHERE resource IN ({marks}) AND minute >= {{}} AND minute < {{}} GROUP BY resource",
        service.key, *resource_ids, low, high,
    )
    blocked: dict[int, set[int]] = {}
    shareable: dict[int, dict[int, int]] = {}
    for row in rows:
        text = row["units"] or ""
        if ":" not in text:  # the usual case: nothing shareable, one C-level conversion
            blocked[row["resource"]] = set(map(int, text.split(","))) if text else set()
            continue
        busy, shared = set(), {}
        for item in text.split(","):
            if ":" in item:
                unit, slot = item.split(":")
                shared[int(unit)] = int(slot)
            elif item:
                busy.add(int(item))
        blocked[row["resource"]] = busy
        shareable[row["resource"]] = shared
    return blocked, shareable


@dataclass
class Search:
    """Free slots of one service at one center: {local day: [(epoch minute, [free resource ids])]}.

    ``offered`` holds every slot the opening hours produce in the window (free or not), so a
    submitted slot can be told apart as "never offered" (forged, outside hours) or "just taken".
    """

    days: dict[dt.date, list[tuple[int, list[int]]]]
    offered: set[int]
    earliest: int
    latest_day: dt.date

    def free_resources(self, minute: int) -> list[int]:
        for start, resources in self.days.get(day_of(minute), ()):
            if start == minute:
                return resources
        return []

    @property
    def next_free_day(self) -> dt.date | None:
        return next((day for day, slots in sorted(self.days.items()) if slots), None)


async def search(
    center_id: int,
    service: Service,
    *,
    first: dt.date | None = None,
    days: int | None = None,
    min_notice: bool = True,
    resource_ids: list[int] | None = None,
    calendar: WorkingCalendar | None = None,
) -> Search:
    """Free slots from ``first`` (default today) for ``days`` days, within the booking window."""
    now = clock.now()
    today = day_of(to_minute(now))
    earliest = to_minute(now) + (service.min_notice_minutes if min_notice else 0)
    latest_day = today + dt.timedelta(days=service.booking_window_days)
    first = max(first or today, today)
    last = min(first + dt.timedelta(days=(days or service.booking_window_days + 1) - 1), latest_day)
    if resource_ids is None:
        resource_ids = await resources_for(center_id, service.key)
    calendar = calendar or await load_calendar()
    hours = await load_hours(resource_ids, first, last)
    step = span(service)
    duration = service.duration_minutes
    blocked, shareable = await _claims(resource_ids, service, local_day_start(first),
                                       local_day_start(last + dt.timedelta(days=1)) + step)
    result: dict[dt.date, list[tuple[int, list[int]]]] = {}
    offered: set[int] = set()
    day = first
    empty: set[int] = set()
    none: dict[int, int] = {}
    while day <= last:
        by_start: dict[int, list[int]] = {}
        for rid in resource_ids:
            busy = blocked.get(rid, empty)
            shared = shareable.get(rid, none)
            for start in hours[rid].slots(day, calendar, duration, step):
                if start < earliest:
                    continue
                offered.add(start)
                bucket = by_start.setdefault(start, [])
                for unit in range(start, start + step, UNIT):
                    if unit in busy or shared.get(unit, start) != start:
                        break
                else:
                    bucket.append(rid)
        result[day] = [(start, rids) for start, rids in sorted(by_start.items()) if rids]
        day += dt.timedelta(days=1)
    return Search(days=result, offered=offered, earliest=earliest, latest_day=latest_day)
