"""What the booking pages show: slots grouped by day, a booking's summary, the service context."""

from __future__ import annotations

import datetime as dt

from portal import clock
from portal.bookings import availability as av
from portal.i18n import _
from portal.plugin_api import Service

__all__ = ["STATUS_LABELS", "WEEKDAYS", "day_label", "describe", "slot_days", "parse_slot"]

WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
STATUS_LABELS = {
    "held": "候补待确认",
    "booked": "已预约",
    "checked_in": "已签到",
    "no_show": "未到",
    "cancelled": "已取消",
    "expired": "已过期",
}
DAYS_PER_PAGE = 7


def day_label(day: dt.date) -> str:
    return f"{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


def parse_slot(value: str) -> int | None:
    """A submitted slot is an epoch minute; anything else is a forged or broken value."""
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) <= 10 else None


def slot_days(found: av.Search, service: Service, limit: int = DAYS_PER_PAGE) -> list[dict]:
    """The first ``limit`` days that have free slots: [{day, label, slots: [{value, label}]}]."""
    out = []
    for day, slots in sorted(found.days.items()):
        if not slots:
            continue
        out.append({
            "day": day.isoformat(),
            "label": day_label(day),
            "slots": [{"value": str(start), "label": av.slot_label(start, service.duration_minutes)} for start, _r in slots],
        })
        if len(out) >= limit:
            break
    return out


def describe(booking: dict) -> dict:
    """Display fields of a booking row."""
    starts = booking["starts_at"]
    start = av.to_minute(starts if isinstance(starts, dt.datetime) else dt.datetime.fromisoformat(str(starts)))
    ends = booking["ends_at"]
    end = av.to_minute(ends if isinstance(ends, dt.datetime) else dt.datetime.fromisoformat(str(ends)))
    return {
        **booking,
        "day_label": day_label(av.day_of(start)),
        "time_label": av.slot_label(start, end - start),
        "status_label": STATUS_LABELS.get(booking["status"], booking["status"]),
        "minute": start,
        "future": start > av.to_minute(clock.now()),
        "hold_label": clock.local(booking["hold_expires_at"]).strftime("%m月%d日 %H:%M") if booking.get("hold_expires_at") else "",
        "what": _("Appointment"),
    }
