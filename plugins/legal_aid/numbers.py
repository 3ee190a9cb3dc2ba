"""The legal-aid numbers per center and month (``legal_aid.summary``): counts only, no personal data.

Definitions (统计口径), China time, the month of the event:

* 咨询人次: consultations the duty lawyers logged (``consultations.consultation_counts``);
  引导诉讼: those where the lawyer recommended litigation (诉访分离).
* 收到申请: applications first received (``received_at``) in the month.
* 给予 / 不予: decisions taken in the month (``decided_at``), by outcome.
* 视为撤回: applications deemed withdrawn in the month (materials not supplied in time).
* 按期决定率 = decisions in the month taken within the limit ÷ decisions in the month.
* 按期指派率 = assignments in the month made within the limit ÷ assignments in the month.

Every rate is shown with the two counts behind it; with nothing to divide by it is 「—」.
"""

from __future__ import annotations

import datetime as dt
import logging

from portal.clock import TZ_CN
from portal.db import raw, read

__all__ = ["month_bounds", "month_numbers", "parse_month", "rate_text"]

log = logging.getLogger("plugins.legal_aid")

COUNTS = ("consultations", "litigation", "received", "granted", "refused", "withdrawn", "decided", "decided_on_time", "assigned",
          "assigned_on_time")


def parse_month(value: str) -> dt.date | None:
    try:
        parsed = dt.datetime.strptime((value or "").strip(), "%Y-%m")
    except ValueError:
        return None
    return dt.date(parsed.year, parsed.month, 1)


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a China-time month as aware UTC."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=TZ_CN)
    following = dt.datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=TZ_CN)
    return start.astimezone(dt.timezone.utc), following.astimezone(dt.timezone.utc)


def rate_text(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


async def _consultations(center_ids: list[int], month: dt.date) -> dict[int, dict]:
    """Consultations logged per center in the month and those steered to litigation, from the
    consultation log (``consultations.consultation_counts``: counts only, no personal detail)."""
    try:
        from plugins.legal_aid.consultations import consultation_counts
    except ImportError:  # the log is optional for these numbers: without it, none were logged
        return {}
    result = {}
    for center_id in center_ids:
        counts = await consultation_counts([center_id], month) or {}
        result[center_id] = {"consultations": int(counts.get("total", 0)), "litigation": int(counts.get("litigation", 0))}
    return result


async def month_numbers(centers: list[dict], month: dt.date) -> tuple[list[dict], dict]:
    """One row per center (in the given order) and the total row."""
    ids = [c["id"] for c in centers]
    if not ids:
        return [], {key: 0 for key in COUNTS}
    start, end = month_bounds(month)
    marks = ", ".join("{}" for _ in ids)
    within = "{} >= {{}} AND {} < {{}}"
    received, decided, withdrawn, assigned = (within.format(c, c) for c in ("received_at", "decided_at", "withdrawn_at",
                                                                               "assigned_at"))
    rows = await raw(
        "SELECT center, "
        f"SUM(CASE WHEN {received} THEN 1 ELSE 0 END) AS received, "
        f"SUM(CASE WHEN {decided} AND status IN ('granted', 'assigned') THEN 1 ELSE 0 END) AS granted, "
        f"SUM(CASE WHEN {decided} AND status = 'refused' THEN 1 ELSE 0 END) AS refused, "
        f"SUM(CASE WHEN {withdrawn} THEN 1 ELSE 0 END) AS withdrawn, "
        f"SUM(CASE WHEN {decided} THEN 1 ELSE 0 END) AS decided, "
        f"SUM(CASE WHEN {decided} AND NOT decided_late THEN 1 ELSE 0 END) AS decided_on_time, "
        f"SUM(CASE WHEN {assigned} THEN 1 ELSE 0 END) AS assigned, "
        f"SUM(CASE WHEN {assigned} AND NOT assigned_late THEN 1 ELSE 0 END) AS assigned_on_time "
        f"FROM legal_aid_application WHERE center IN ({marks}) AND ({received} OR {decided} OR {withdrawn} OR {assigned}) "
        "GROUP BY center",
        *([start, end] * 8), *ids, *([start, end] * 4),
    )
    by_center = {row["center"]: row for row in rows}
    consultations = await _consultations(ids, month)
    result, total = [], {key: 0 for key in COUNTS}
    for center in centers:
        row = by_center.get(center["id"], {})
        counts = {key: int(row.get(key) or 0) for key in COUNTS}
        counts.update(consultations.get(center["id"], {}))
        for key in COUNTS:
            total[key] += counts[key]
        result.append({"center": center, **counts})
    for row in [*result, total]:
        row["decision_rate"] = rate_text(row["decided_on_time"], row["decided"])
        row["assign_rate"] = rate_text(row["assigned_on_time"], row["assigned"])
    return result, total


# ----------------------------------------------------------------------------- dashboard cards


async def applications_due(centers: list[dict], limit: int = 5) -> dict:
    """Open applications whose staff clock runs (decision or assignment), overdue first."""
    from portal import clock
    from portal.matters.calendar import load_calendar

    from plugins.legal_aid import applications as apps

    ids = [c["id"] for c in centers]
    if not ids:
        return {"items": [], "overdue": 0, "open": 0}
    marks = ", ".join("{}" for _ in ids)
    rows = await read(
        "SELECT id, code, status, day_kind, decision_due_at, assign_due_at FROM legal_aid_application "
        f"WHERE center IN ({marks}) AND status IN ('received', 'complete', 'granted') ORDER BY id LIMIT 1000", *ids,
    )
    calendar, now = await load_calendar(), clock.now()
    items = []
    for row in rows:
        due = row["assign_due_at"] if row["status"] == "granted" else row["decision_due_at"]
        state, text = apps.clock_text(due, row["day_kind"], now, calendar)
        items.append({"id": row["id"], "code": row["code"], "state": state, "text": text, "due": apps.as_dt(due),
                      "status_label": apps.STATUS_LABELS[row["status"]]})
    far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    items.sort(key=lambda r: (r["state"] != "overdue", r["due"] or far))
    return {"items": items[:limit], "overdue": sum(r["state"] == "overdue" for r in items), "open": len(items)}


async def duty_today(center_id: int) -> list[dict]:
    from plugins.legal_aid import roster

    today = roster.today()
    return (await roster.duty_between([center_id], today, today)).get((center_id, today), [])


async def roster_widgets(user) -> list:
    """Center admin: today's duty lawyers and the gap days ahead; staff who process applications:
    the applications whose clock runs, overdue first."""
    from portal.matters.calendar import load_calendar
    from portal.plugin_api import Widget

    from plugins.legal_aid import roster
    from plugins.legal_aid.routes import module_centers

    widgets = []
    if user.can("legal_aid.roster"):
        gaps = await roster.center_gaps(user.center_id, await load_calendar())
        widgets.append(Widget("今日值班律师", "legal_aid/widget_duty.html", {
            "duty": await duty_today(user.center_id), "gaps": gaps, "center_id": user.center_id,
        }, order=17))
    if user.can("legal_aid.applications"):
        widgets.append(Widget("法律援助申请", "legal_aid/widget_applications.html",
                              await applications_due(await module_centers(user)), order=18))
    return widgets
