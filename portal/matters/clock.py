"""The statutory clocks of a matter: time limits, how days are counted, and the due time.

Time limits (《信访工作条例》, 2022; "日" is read as calendar days because the 条例 says
"工作日" explicitly the one time it means working days):

=================  ======  ========  ==========================================================
rule               days    counted   basis
=================  ======  ========  ==========================================================
acceptance         15      calendar  Art. 22 (登记、转送、交办、告知 within 15 日 of receipt) and
                                     Art. 23 ¶2–3 (written notice of receipt within 15 日)
objection          5       working   Art. 23 ¶3 (a forwarded or assigned matter outside the
                                     organ's remit: 异议/退回 within 5 个工作日 of receipt)
handling           60      calendar  Art. 34 (办结 within 60 日 of acceptance)
extension_max      30      calendar  Art. 34 (extension approved by the head, ≤ 30 日 in total)
review_request     30      calendar  Art. 35 (petitioner asks for 复查 within 30 日 of the reply)
review             30      calendar  Art. 35 (复查意见 within 30 日 of the request)
rereview_request   30      calendar  Art. 36 (petitioner asks for 复核 within 30 日)
rereview           30      calendar  Art. 36 (复核意见 within 30 日; hearing time not counted)
=================  ======  ========  ==========================================================

Counting conventions (the 条例 has no counting clause, so the general rule of Chinese procedure
law is applied: 民事诉讼法 Art. 85, the same as 民法典 Arts. 201 and 203):

* The start day is not counted (期间开始的日不计算在期间内): a clock started at any time on
  2026-03-02 China time counts its first day on 2026-03-03.
* A period ends at the end of its last day (民法典 Art. 203: 截止时间为二十四时), i.e.
  23:59:59.999999 China Standard Time, stored and returned as aware UTC.
* Calendar-day limits: the last day is start + days (+ pause days + extension days). If that day
  is not a working day — a weekend or a public holiday, 法定休假日 — the period ends on the first
  working day after it (民事诉讼法 Art. 85 ¶2). Official make-up working days (调休上班) are
  working days; days in between are never skipped, only the last day moves.
* Working-day limits: the period ends at the end of the n-th working day after the start day.
  Pause days and extension days are added to n as working days, so a stop never shortens them.
* Pauses: the clock stands still while a matter is paused (e.g. the 复核 hearing, Art. 36 ¶2:
  听证所需时间不计算在期限内). A pause counts the whole China calendar days between pausing and
  resuming; pausing and resuming on the same day costs nothing.
* Extensions (Art. 34) are counted in the rule's own day type and total at most 30 days:
  ``deadline`` refuses more, and a center's own shorter ``extension_max`` is read through
  ``extension_left``.
* States: ``overdue`` once the due instant has passed; ``due_soon`` when the due day is within
  the next 3 China calendar days counting today; otherwise ``on_track``.
* Centers may set a shorter limit for themselves (``CenterLimit``), never a longer one, and never
  for a period that belongs to the petitioner (``review_request``, ``rereview_request``): that
  would cut a citizen's statutory right. The day type of a rule never changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Literal

from portal.audit.chain import AuditTrail
from portal.clock import TZ_CN
from portal.db import raw, write_transaction
from portal.matters.calendar import WorkingCalendar
from portal.matters.tables import CenterLimit

__all__ = [
    "CLOCK_STATES",
    "CLOCK_STATE_CLASSES",
    "CLOCK_STATE_LABELS",
    "RULES",
    "Rule",
    "clock_state",
    "deadline",
    "end_of_day",
    "extension_left",
    "limits_for",
    "paused_days_between",
    "reset_center_limit",
    "set_center_limit",
]

DayType = Literal["calendar", "working"]


@dataclass(frozen=True)
class Rule:
    days: int
    day_type: DayType
    label: str  # Chinese domain term, shown as-is (data, like the labels in portal.matters.vocab)
    basis: str = ""
    adjustable: bool = True  # may a center set a shorter limit of its own?


RULES: dict[str, Rule] = {
    "acceptance": Rule(15, "calendar", "受理告知", "《信访工作条例》第二十二条、第二十三条"),
    "objection": Rule(5, "working", "异议退回", "《信访工作条例》第二十三条第三款"),
    "handling": Rule(60, "calendar", "办理答复", "《信访工作条例》第三十四条"),
    "extension_max": Rule(30, "calendar", "延长办理期限（最长）", "《信访工作条例》第三十四条"),
    "review_request": Rule(30, "calendar", "申请复查", "《信访工作条例》第三十五条", adjustable=False),
    "review": Rule(30, "calendar", "复查答复", "《信访工作条例》第三十五条"),
    "rereview_request": Rule(30, "calendar", "申请复核", "《信访工作条例》第三十六条", adjustable=False),
    "rereview": Rule(30, "calendar", "复核答复", "《信访工作条例》第三十六条"),
}


async def limits_for(center_id: int) -> dict[str, Rule]:
    """The rules as they apply at a center: statutory defaults, shortened by its own limits."""
    rows = await raw("SELECT rule, days FROM center_limit WHERE center = {}", center_id)
    limits = dict(RULES)
    for row in rows:
        statutory = RULES.get(row["rule"])
        # A stray row (unknown rule, or one the statute does not let a center change) is ignored,
        # and a value is clamped so no row can ever lengthen a statutory limit.
        if statutory is None or not statutory.adjustable:
            continue
        limits[row["rule"]] = replace(statutory, days=max(1, min(row["days"], statutory.days)))
    return limits


async def set_center_limit(trail: AuditTrail, center_id: int, rule: str, days: int) -> None:
    """Give a center its own (shorter) limit for ``rule``; the caller validated ``days``."""
    statutory = RULES[rule]
    if not statutory.adjustable or not 1 <= days <= statutory.days:
        raise ValueError(f"{rule}: {days} days is not allowed")
    if days == statutory.days:
        # Equal to the statute is "no own limit": no row, so the center follows any later change.
        await reset_center_limit(trail, center_id, rule)
        return
    async with write_transaction():
        await CenterLimit.insert(CenterLimit(center=center_id, rule=rule, days=days)).on_conflict(
            target=(CenterLimit.center, CenterLimit.rule), action="DO UPDATE", values=[CenterLimit.days]
        )
        await trail("center_limit.set", object_type="center_limit", object_id=rule, center_id=center_id, fields=["days"])


async def reset_center_limit(trail: AuditTrail, center_id: int, rule: str) -> bool:
    """Back to the statutory limit; False when the center had no limit of its own."""
    async with write_transaction():
        removed = await (
            CenterLimit.delete()
            .where((CenterLimit.center == center_id) & (CenterLimit.rule == rule))
            .returning(CenterLimit.id)
        )
        if removed:
            await trail("center_limit.reset", object_type="center_limit", object_id=rule, center_id=center_id, fields=["days"])
    return bool(removed)


# ------------------------------------------------------------------------ due time


def end_of_day(day: dt.date) -> dt.datetime:
    """The last instant of a China date, as aware UTC."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=TZ_CN).astimezone(dt.timezone.utc)


def _aware(moment: dt.datetime) -> dt.datetime:
    # Stored times are UTC; a naive one read back is taken as UTC, as portal.clock.local does.
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment


def _china_date(moment: dt.datetime) -> dt.date:
    return _aware(moment).astimezone(TZ_CN).date()


def deadline(
    started_at: dt.datetime,
    rule: Rule,
    calendar: WorkingCalendar,
    *,
    paused_days: int = 0,
    extension_days: int = 0,
) -> dt.datetime:
    """When the clock of ``rule`` started at ``started_at`` runs out (aware UTC); see the module doc."""
    if paused_days < 0 or extension_days < 0:
        raise ValueError("paused_days and extension_days must not be negative")
    if extension_days > RULES["extension_max"].days:
        raise ValueError("an extension may not exceed the statutory maximum")
    start = _china_date(started_at)
    days = rule.days + paused_days + extension_days
    if rule.day_type == "working":
        last = calendar.add_working_days(start, days)
    else:
        last = calendar.roll_forward(start + dt.timedelta(days=days))
    return end_of_day(last)


def paused_days_between(paused_at: dt.datetime, resumed_at: dt.datetime) -> int:
    """Whole calendar days the clock stood still (China dates; same day = 0, never negative)."""
    return max(0, (_china_date(resumed_at) - _china_date(paused_at)).days)


def extension_left(limits: dict[str, Rule], granted_days: int) -> int:
    """Days of extension still available at a center, given the days already granted (Art. 34)."""
    return max(0, limits["extension_max"].days - granted_days)


# ----------------------------------------------------------------------- the state

CLOCK_STATES = ("on_track", "due_soon", "overdue", "none")
CLOCK_STATE_LABELS: dict[str, str] = {
    "on_track": "按期",
    "due_soon": "即将到期",
    "overdue": "已超期",
    "none": "不计时",
}
# Modifiers of the ``tag`` class in static/css/portal.css: ``<span class="tag {{ class }}">``.
CLOCK_STATE_CLASSES: dict[str, str] = {
    "on_track": "ok",
    "due_soon": "warn",
    "overdue": "bad",
    "none": "off",
}


def clock_state(due_at: dt.datetime | None, now: dt.datetime, due_soon_days: int = 3) -> str:
    """``overdue`` after the due time; ``due_soon`` when the due day is one of the next
    ``due_soon_days`` China days counting today (3: today, tomorrow, the day after); else ``on_track``.
    ``none`` when no clock runs.
    """
    if due_at is None:
        return "none"
    if _aware(now) > _aware(due_at):
        return "overdue"
    days_left = (_china_date(due_at) - _china_date(now)).days
    return "due_soon" if days_left < due_soon_days else "on_track"
