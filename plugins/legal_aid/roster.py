"""Duty lawyers and the duty roster, and how the roster feeds the appointments engine.

One source of truth: the roster (``legal_aid_duty``). Each roster interval owns one dated
opening-hours row of the engine (``booking_exception`` with ``closed`` false) on the lawyer's
booking resource at that center, written and deleted in the same transaction as the interval; the
resource has no weekly rules, so the engine offers 「法律咨询」 slots exactly on rostered hours
(official holidays included when someone is rostered on one: the engine keeps dated hours open).
A resource is one (center, lawyer) pair, created the first time the lawyer is rostered there.

Removing a rostered day that already has bookings is refused with the bookings listed: they must
be moved or cancelled first, so no booking is left without its lawyer.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from portal import clock
from portal.audit.chain import AuditTrail
from portal.bookings import availability as av
from portal.db import current_engine, raw, read, write_transaction
from portal.i18n import _
from portal.matters.calendar import WorkingCalendar
from portal.notify.senders import mask_phone
from portal.plugin_api import Service

__all__ = [
    "DEFAULT_HOURS",
    "SERVICE",
    "SERVICE_KEY",
    "SPECIALTIES",
    "RosterError",
    "add_duty",
    "as_date",
    "duty_between",
    "gap_days",
    "lawyers_for_roster",
    "remove_duty",
    "valid_licence",
]

SERVICE_KEY = "legal_aid.consultation"
SERVICE = Service(
    SERVICE_KEY,
    "法律咨询",
    duration_minutes=30,
    provider_role="lawyer",
    bring="身份证、与问题有关的材料（合同、判决书、通知等）",
    booking_window_days=14,
)
# The centers' office hours (8:30–12:00, 14:30–18:00) as minutes after local midnight.
DEFAULT_HOURS = ((8 * 60 + 30, 12 * 60), (14 * 60 + 30, 18 * 60))
RESOURCE_NOTE = "法律援助值班"
MAX_RANGE_DAYS = 92  # one form adds at most a quarter

# Chinese domain terms shown as-is (data, like the matter categories).
SPECIALTIES: dict[str, str] = {
    "labour": "劳动与社会保障",
    "marriage": "婚姻家庭与继承",
    "neighbour": "邻里、土地与相邻关系",
    "contract": "合同与债务",
    "property": "房产与征收拆迁",
    "traffic": "交通事故",
    "injury": "工伤与人身损害",
    "medical": "医疗纠纷",
    "consumer": "消费者权益",
    "administrative": "行政法律事务",
    "criminal": "刑事法律事务",
    "company": "公司与商事",
}

_LICENCE = re.compile(r"^\d{17}$")


class RosterError(Exception):
    """A roster change the rules refuse; ``message`` is shown on the form, at ``field``."""

    def __init__(self, message: str, field: str = "lawyer", items: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.items = items or []


def valid_licence(value: str) -> str | None:
    """The 17-digit lawyer's practising licence number (律师执业证号), spaces and full-width digits
    accepted; None when it is not 17 digits."""
    text = re.sub(r"\s", "", unicodedata.normalize("NFKC", value or ""))
    return text if _LICENCE.match(text) else None


def as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def today() -> dt.date:
    return clock.local(clock.now()).date()


def _pg() -> bool:
    return current_engine().engine_type == "postgres"


def hours_text(start: int, end: int) -> str:
    return f"{start // 60}:{start % 60:02d}–{end // 60}:{end % 60:02d}"


# ----------------------------------------------------------------------------- lawyers


async def lawyers_for_roster(center: dict) -> list[dict]:
    """Active lawyer profiles that may be rostered at ``center``: those of the center itself and
    of the centers above it (a district's lawyers also serve its townships)."""
    ids = [int(part) for part in center["path"].strip("/").split("/") if part]
    marks = ", ".join("{}" for _ in ids)
    return await raw(
        "SELECT l.id, l.staff, l.firm, l.center, s.display_name, c.name AS center_name FROM legal_aid_lawyer l "
        "JOIN staff_user s ON s.id = l.staff JOIN center c ON c.id = l.center "
        f"WHERE l.active AND s.active AND l.center IN ({marks}) ORDER BY c.path, s.display_name",
        *ids,
    )


async def _resource_for(center_id: int, lawyer: dict) -> int:
    """The lawyer's booking resource at the center providing the consultation (created once)."""
    rows = await raw(
        "SELECT r.id, r.active FROM booking_resource r JOIN booking_resource_service s ON s.resource = r.id "
        "WHERE r.center = {} AND r.staff = {} AND s.service_key = {} ORDER BY r.id LIMIT 1",
        center_id, lawyer["staff"], SERVICE_KEY,
    )
    if rows:
        if not rows[0]["active"]:
            await raw("UPDATE booking_resource SET active = TRUE WHERE id = {}", rows[0]["id"])
        return rows[0]["id"]
    created = await raw(
        "INSERT INTO booking_resource (center, kind, name, staff, role, active, feed_token_hash, created_at) "
        "VALUES ({}, 'person', {}, {}, 'lawyer', TRUE, '', {}) RETURNING id",
        center_id, f"{lawyer['display_name']}（{RESOURCE_NOTE}）"[:64], lawyer["staff"], clock.now(),
    )
    rid = created[0]["id"]
    await raw("INSERT INTO booking_resource_service (resource, service_key) VALUES ({}, {})", rid, SERVICE_KEY)
    return rid


# ----------------------------------------------------------------------------- adding


@dataclass(frozen=True)
class AddResult:
    days: int
    intervals: int
    skipped: int  # already rostered exactly so


def days_in_range(first: dt.date, last: dt.date, mode: str, calendar: WorkingCalendar) -> list[dt.date]:
    """The days from ``first`` to ``last`` a roster entry covers. ``workdays``: working days of the
    shared calendar (holidays left out, make-up working days included); ``all``: every day."""
    days, day = [], first
    while day <= last:
        if mode == "all" or calendar.is_workday(day):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


async def add_duty(trail: AuditTrail, center: dict, lawyer: dict, days: list[dt.date],
                   hours: list[tuple[int, int]], *, user_id: int | None) -> AddResult:
    """Roster ``lawyer`` at ``center`` for ``hours`` on each of ``days``, in one transaction.

    An interval already rostered exactly so is skipped; one that overlaps other duty of the same
    lawyer that day (here or at another center) refuses the whole change, listing the clashes.
    """
    if not days:
        raise RosterError(_("No day in that range matches: choose other dates or include every day."), "first")
    async with write_transaction():
        marks = ", ".join("{}" for _ in days)
        existing = await raw(
            "SELECT d.day, d.start_minute, d.end_minute, d.center, c.name AS center_name FROM legal_aid_duty d "
            f"JOIN center c ON c.id = d.center WHERE d.lawyer = {{}} AND d.day IN ({marks})",
            lawyer["id"], *days,
        )
        taken: dict[dt.date, list[dict]] = {}
        for row in existing:
            taken.setdefault(as_date(row["day"]), []).append(row)
        clashes, plan, skipped = [], [], 0
        for day in days:
            for start, end in hours:
                same = [r for r in taken.get(day, []) if r["center"] == center["id"]
                        and r["start_minute"] == start and r["end_minute"] == end]
                if same:
                    skipped += 1
                    continue
                overlapping = [r for r in taken.get(day, []) if r["start_minute"] < end and start < r["end_minute"]]
                if overlapping:
                    clashes += [f"{day.isoformat()} {hours_text(r['start_minute'], r['end_minute'])} {r['center_name']}"
                                for r in overlapping]
                    continue
                plan.append((day, start, end))
        if clashes:
            raise RosterError(_("The lawyer is already on duty at these times; remove that duty first or choose other hours:"),
                              "start", sorted(set(clashes)))
        if not plan:
            return AddResult(days=len(days), intervals=0, skipped=skipped)
        resource = await _resource_for(center["id"], lawyer)
        now = clock.now()
        for day, start, end in plan:
            exception = await raw(
                "INSERT INTO booking_exception (resource, day, closed, start_minute, end_minute, note) "
                "VALUES ({}, {}, FALSE, {}, {}, {}) RETURNING id",
                resource, day, start, end, RESOURCE_NOTE,
            )
            await raw(
                "INSERT INTO legal_aid_duty (center, lawyer, day, start_minute, end_minute, resource, exception, "
                "created_at, created_by) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
                center["id"], lawyer["id"], day, start, end, resource, exception[0]["id"], now, user_id,
            )
        await trail("legal_aid.roster_added", object_type="legal_aid_lawyer", object_id=lawyer["id"],
                    center_id=center["id"], fields=("day", "start_minute", "end_minute"))
    return AddResult(days=len({d for d, _s, _e in plan}), intervals=len(plan), skipped=skipped)


# ----------------------------------------------------------------------------- removing


async def _bookings_on(duties: list[dict]) -> list[dict]:
    """Open bookings (held, booked, checked in) inside the given duty intervals."""
    found = []
    for duty in duties:
        if duty["resource"] is None:
            continue
        base = av.local_day_start(as_date(duty["day"]))
        rows = await raw(
            "SELECT id, code, name, phone, starts_at, ends_at FROM booking WHERE resource = {} "
            "AND status IN ('held', 'booked', 'checked_in') AND starts_at >= {} AND starts_at < {} ORDER BY starts_at",
            duty["resource"], av.from_minute(base + duty["start_minute"]), av.from_minute(base + duty["end_minute"]),
        )
        found += rows
    return found


def booking_line(booking: dict) -> str:
    start = av.to_minute(_aware(booking["starts_at"]))
    end = av.to_minute(_aware(booking["ends_at"]))
    day = av.day_of(start)
    who = booking["name"] or _("(no name)")
    phone = mask_phone(booking["phone"]) if booking["phone"] else ""
    return f"{day.isoformat()} {av.slot_label(start, end - start)} · {who} {phone} · {booking['code']}".strip()


def _aware(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


async def remove_duty(trail: AuditTrail, center: dict, lawyer: dict, first: dt.date, last: dt.date) -> int:
    """Take ``lawyer`` off the roster of ``center`` from ``first`` to ``last``; returns the
    intervals removed. Refused (nothing changes) when a booking falls in any of them."""
    if first < today():
        raise RosterError(_("Past duty stays on record: choose today or a later date."), "first")
    async with write_transaction():
        lock = " FOR UPDATE" if _pg() else ""
        duties = await raw(
            "SELECT id, day, start_minute, end_minute, resource, exception FROM legal_aid_duty "
            f"WHERE center = {{}} AND lawyer = {{}} AND day >= {{}} AND day <= {{}} ORDER BY day, start_minute{lock}",
            center["id"], lawyer["id"], first, last,
        )
        if not duties:
            raise RosterError(_("The lawyer is not on duty here on those days."), "first")
        if _pg():
            for rid in sorted({d["resource"] for d in duties if d["resource"]}):
                # The booking path locks the resource row too: a booking cannot slip in meanwhile.
                await raw("SELECT id FROM booking_resource WHERE id = {} FOR UPDATE", rid)
        booked = await _bookings_on(duties)
        if booked:
            raise RosterError(
                _("Citizens have booked consultations in this duty. Move or cancel these bookings first (they are "
                  "told by SMS), then remove the duty:"), "first", [booking_line(b) for b in booked])
        for duty in duties:
            await raw("DELETE FROM legal_aid_duty WHERE id = {}", duty["id"])
            if duty["exception"]:
                await raw("DELETE FROM booking_exception WHERE id = {}", duty["exception"])
        await trail("legal_aid.roster_removed", object_type="legal_aid_lawyer", object_id=lawyer["id"],
                    center_id=center["id"], fields=("day",))
    return len(duties)


# ----------------------------------------------------------------------------- reading


async def duty_between(center_ids: list[int], first: dt.date, last: dt.date) -> dict[tuple[int, dt.date], list[dict]]:
    """Roster intervals by (center, day), with the lawyer's name and firm."""
    if not center_ids:
        return {}
    marks = ", ".join("{}" for _ in center_ids)
    rows = await read(
        "SELECT d.id, d.center, d.day, d.start_minute, d.end_minute, d.lawyer, s.display_name, l.firm "
        "FROM legal_aid_duty d JOIN legal_aid_lawyer l ON l.id = d.lawyer JOIN staff_user s ON s.id = l.staff "
        f"WHERE d.center IN ({marks}) AND d.day >= {{}} AND d.day <= {{}} ORDER BY d.day, d.start_minute, s.display_name",
        *center_ids, first, last,
    )
    result: dict[tuple[int, dt.date], list[dict]] = {}
    for row in rows:
        row = {**row, "day": as_date(row["day"]), "hours": hours_text(row["start_minute"], row["end_minute"])}
        result.setdefault((row["center"], row["day"]), []).append(row)
    return result


def gap_days(duty: dict[tuple[int, dt.date], list[dict]], center_id: int, first: dt.date, last: dt.date,
             calendar: WorkingCalendar) -> list[dt.date]:
    """Working days of the shared calendar from ``first`` to ``last`` with nobody on duty.
    A holiday is no gap; a make-up working day (调休上班) is one when empty."""
    gaps, day = [], first
    while day <= last:
        if calendar.is_workday(day) and not duty.get((center_id, day)):
            gaps.append(day)
        day += dt.timedelta(days=1)
    return gaps


GAP_WINDOW_DAYS = 7  # today and the next 7 days are watched: an empty working day is flagged a week ahead


async def center_gaps(center_id: int, calendar: WorkingCalendar, start: dt.date | None = None) -> list[dt.date]:
    first = start or today()
    last = first + dt.timedelta(days=GAP_WINDOW_DAYS)
    return gap_days(await duty_between([center_id], first, last), center_id, first, last, calendar)
