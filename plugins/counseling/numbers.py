"""Anonymous monthly counts per center: sessions held, first visits, referrals, crisis flags.

Counts only — no pseudonym, phone, counselor or date finer than the month ever leaves this module.
Definitions (calendar month in China time):

* 咨询人次 (sessions held): sessions recorded as attended (``counseling_session.attendance =
  'attended'``) whose ``held_at`` falls in the month, group sessions counted once per session;
* 首次来访 (first visits): of those, the ones of kind ``first``;
* 转介 (referrals): referrals to a medical institution dated (``referred_on``) in the month;
* 危机预警 (crisis flags): flags raised in the month, from screening or by a counselor.

Small numbers: a count of 1 or 2 is shown as "<3" (k-anonymity with k = 3). A village counseling
room may see one or two people a month; "1 crisis flag at 新新村 in March" can point at a person
who is known locally. Zero is shown as 0 (it describes nobody). There is no total row across
centers: a total beside suppressed cells would let anyone subtract the cells back out. The
counts are computed exactly; only their display is suppressed (``shown``).
"""

from __future__ import annotations

import datetime as dt

from portal import clock
from portal.db import read

__all__ = ["COLUMNS", "SUPPRESS_BELOW", "month_bounds", "monthly_counts", "numbers_widgets", "shown", "widgets"]

SUPPRESS_BELOW = 3
COLUMNS: tuple[tuple[str, str], ...] = (
    ("sessions", "咨询人次"),
    ("first_visits", "首次来访"),
    ("referrals", "转介医疗机构"),
    ("crises", "危机预警"),
)


def shown(count: int) -> str:
    return f"<{SUPPRESS_BELOW}" if 0 < count < SUPPRESS_BELOW else str(count)


def month_bounds(month: str | None = None) -> tuple[dt.date, dt.date] | None:
    """First day of ``month`` ("2026-11", default this month) and of the next, or None if invalid."""
    if not month:
        today = clock.local(clock.now()).date()
        first = today.replace(day=1)
    else:
        try:
            first = dt.datetime.strptime(month, "%Y-%m").date()
        except ValueError:
            return None
        if not 2000 <= first.year <= 2100:
            return None
    return first, (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=clock.TZ_CN).astimezone(dt.timezone.utc)


async def monthly_counts(center_ids: list[int], first: dt.date, after: dt.date) -> dict[int, dict[str, int]]:
    """{center id: {sessions, first_visits, referrals, crises}} for the month [first, after)."""
    counts = {cid: {key: 0 for key, _label in COLUMNS} for cid in center_ids}
    if not center_ids:
        return counts
    marks = ", ".join("{}" for _ in center_ids)
    low, high = _utc(first), _utc(after)
    for row in await read(
        "SELECT center, count(*) AS sessions, sum(CASE WHEN kind = 'first' THEN 1 ELSE 0 END) AS first_visits "
        f"FROM counseling_session WHERE center IN ({marks}) AND attendance = 'attended' AND held_at >= {{}} AND held_at < {{}} "
        "GROUP BY center", *center_ids, low, high,
    ):
        counts[row["center"]]["sessions"] = int(row["sessions"] or 0)
        counts[row["center"]]["first_visits"] = int(row["first_visits"] or 0)
    for row in await read(
        f"SELECT center, count(*) AS n FROM counseling_referral WHERE center IN ({marks}) AND referred_on >= {{}} "
        "AND referred_on < {} GROUP BY center", *center_ids, first, after,
    ):
        counts[row["center"]]["referrals"] = int(row["n"])
    for row in await read(
        f"SELECT center, count(*) AS n FROM counseling_crisis WHERE center IN ({marks}) AND raised_at >= {{}} "
        "AND raised_at < {} GROUP BY center", *center_ids, low, high,
    ):
        counts[row["center"]]["crises"] = int(row["n"])
    return counts


async def numbers_widgets(user, center) -> list:
    """Dashboard card of this month's anonymous counts (``counseling.numbers``)."""
    from portal.plugin_api import Widget

    if not user.can("counseling.numbers"):
        return []
    first, after = month_bounds(None)
    counts = (await monthly_counts([center.id], first, after))[center.id]
    return [Widget("心理咨询（本月）", "counseling/widget_numbers.html", {
        "cells": [(label, shown(counts[key])) for key, label in COLUMNS], "suppress_below": SUPPRESS_BELOW,
    }, order=60)]


async def widgets(user, center) -> list:
    """Dashboard cards: the counselor's bookings of today and open crisis flags; open flags for a
    crisis contact who is not a counselor."""
    from portal.bookings import availability as av
    from portal.plugin_api import Widget

    from plugins.counseling.booking import SERVICE_LABELS, counselor_bookings, is_crisis_contact
    from plugins.counseling.crisis import visible_flags

    cards = []
    if user.can("counseling.counsel"):
        today = av.day_of(av.to_minute(clock.now()))
        start = av.from_minute(av.local_day_start(today))
        rows = await counselor_bookings(user, start, start + dt.timedelta(days=1), limit=20)
        cards.append(Widget("今日心理咨询", "counseling/widget_counselor.html", {
            "bookings": [{"id": r["id"], "time": av.slot_label(av.to_minute(_aware(r["starts_at"])),
                                                               av.to_minute(_aware(r["ends_at"])) - av.to_minute(_aware(r["starts_at"]))),
                          "name": r["name"], "service": SERVICE_LABELS.get(r["service_key"], ""), "status": r["status"],
                          "consented": r["consented_at"] is not None} for r in rows],
            "flags": await visible_flags(user, status="open", limit=10),
        }, order=12))
    elif await is_crisis_contact(user, center.id):
        flags = await visible_flags(user, status="open", limit=10)
        cards.append(Widget("危机预警", "counseling/widget_crisis.html", {"flags": flags}, order=11))
    return cards


def _aware(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
