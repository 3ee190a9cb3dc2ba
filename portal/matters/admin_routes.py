"""Admin pages of the one-stop window: working calendar overrides and per-center time limits."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from litestar import Request, Response, Router, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery

from portal.auth.guards import staff_guard
from portal.clock import TZ_CN, now
from portal.i18n import _
from portal.matters.calendar import OfficialDay, official_holidays, official_day, remove_override, set_override
from portal.matters.clock import RULES, limits_for, reset_center_limit, set_center_limit
from portal.matters.tables import CalendarDay, CenterLimit
from portal.web.forms import Form, read_form
from portal.web.render import redirect, render
from portal.web.request import principal, trail

__all__ = ["ROUTES", "parse_day"]

# Overrides only make sense for years a deadline can fall in; the bound also keeps date() happy.
FIRST_YEAR, LAST_YEAR = 2000, 2099
_DAY = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def parse_day(text: str) -> dt.date | None:
    """A date typed as 2026-10-09, 2026/10/9, 2026.10.09 or 2026年10月9日 (full-width digits too)."""
    match = _DAY.match(unicodedata.normalize("NFKC", text or "").strip())
    if not match:
        return None
    try:
        day = dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None


def _weekday(day: dt.date) -> str:
    names = (_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday"))
    return names[day.weekday()]


def _official_label(day: dt.date, official: OfficialDay) -> str:
    if not official.known:
        if official.workday:
            return _("Working day (assumed: no official calendar for this year)")
        return _("Day off (assumed: no official calendar for this year)")
    if official.workday:
        if official.holiday:
            return _("Working day (make-up day of %(holiday)s)", holiday=official.holiday)
        return _("Working day")
    if official.holiday:
        return _("Day off (%(holiday)s)", holiday=official.holiday)
    return _("Day off (weekend)")


def _day_row(day: dt.date, **extra) -> dict:
    return {"day": day, "weekday": _weekday(day), "official": _official_label(day, official_day(day)), **extra}


# ------------------------------------------------------------------------ calendar


def _this_year() -> int:
    return now().astimezone(TZ_CN).year


def _year(text: str | None) -> int:
    if not text:
        return _this_year()
    year = int(text) if text.isdigit() and len(text) == 4 else 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise NotFoundException()
    return year


async def _calendar_page(request: Request, year: int, values: dict, errors: dict, status: int = 200) -> Response:
    rows = (
        await CalendarDay.select()
        .where((CalendarDay.day >= dt.date(year, 1, 1)) & (CalendarDay.day <= dt.date(year, 12, 31)))
        .order_by(CalendarDay.day)
    )
    overrides = [_day_row(row["day"], workday=row["workday"], note=row["note"]) for row in rows]
    official = [_day_row(day) for day, _official in official_holidays(year)]
    context = {
        "title": _("Working calendar"),
        "year": year,
        "years": (year - 1 if year > FIRST_YEAR else None, year + 1 if year < LAST_YEAR else None),
        "overrides": overrides,
        "official": official,
        "official_known": official_day(dt.date(year, 7, 1)).known,
        "values": values,
        "errors": errors,
    }
    return await render(request, "admin/calendar.html", context, status=status)


@get("/admin/calendar", opt={"permission": "calendar.manage"})
async def calendar_page(request: Request, year: FromQuery[str | None] = None) -> Response:
    return await _calendar_page(request, _year(year), {}, {})


def _override_errors(form: Form, day: dt.date | None) -> dict[str, str]:
    errors = {}
    if not form.str("day"):
        errors["day"] = _("Enter the date, for example 2026-10-09.")
    elif day is None:
        errors["day"] = _("Enter a real date between the years 2000 and 2099, for example 2026-10-09.")
    if form.str("workday") not in ("1", "0"):
        errors["workday"] = _("Choose whether the day is a working day or a day off.")
    return errors


@post("/admin/calendar", opt={"permission": "calendar.manage"})
async def calendar_set(request: Request) -> Response:
    form = await read_form(request)
    day = parse_day(form.str("day"))
    errors = _override_errors(form, day)
    if errors:
        values = {"day": form.str("day", 40), "workday": form.str("workday"), "note": form.str("note", 100)}
        return await _calendar_page(request, _year(form.str("year")), values, errors, status=422)
    workday = form.str("workday") == "1"
    await set_override(trail(request), day, workday, form.str("note", 100))
    message = (
        _("%(day)s is now a working day.", day=day.isoformat())
        if workday
        else _("%(day)s is now a day off.", day=day.isoformat())
    )
    return redirect(request, f"/admin/calendar?year={day.year}", message)


@post("/admin/calendar/remove", opt={"permission": "calendar.manage"})
async def calendar_remove(request: Request) -> Response:
    day = parse_day((await read_form(request)).str("day"))
    if day is None:
        raise NotFoundException()
    if not await remove_override(trail(request), day):
        # A second click, or another administrator was quicker: say so rather than pretend.
        return redirect(request, f"/admin/calendar?year={day.year}", _("%(day)s had no override.", day=day.isoformat()), "error")
    return redirect(
        request,
        f"/admin/calendar?year={day.year}",
        _("The override of %(day)s has been removed; the official calendar applies.", day=day.isoformat()),
    )


# -------------------------------------------------------------------------- limits


def _adjustable_rule(rule: str) -> str:
    # The rule travels in the form, not the path: one URL per action, like /admin/calendar/remove.
    if rule not in RULES or not RULES[rule].adjustable:
        raise NotFoundException()
    return rule


async def _limits_page(request: Request, values: dict, errors: dict, status: int = 200) -> Response:
    user = principal(request)
    current = await limits_for(user.center_id)
    own = {
        row["rule"]
        for row in await CenterLimit.select(CenterLimit.rule).where(CenterLimit.center == user.center_id)
    }
    rows = [
        {"rule": name, "statutory": rule, "current": current[name], "own": name in own and rule.adjustable}
        for name, rule in RULES.items()
    ]
    context = {"title": _("Time limits"), "center": user.center_name, "rows": rows, "values": values, "errors": errors}
    return await render(request, "admin/limits.html", context, status=status)


@get("/admin/limits", opt={"permission": "limits.manage"})
async def limits_page(request: Request) -> Response:
    return await _limits_page(request, {}, {})


def _days_error(rule: str, typed: str, days: int | None) -> str | None:
    statutory = RULES[rule].days
    if not typed:
        return _("Enter the number of days.")
    if days is None or days < 1:
        return _("Enter a whole number of days, at least 1.")
    if days > statutory:
        return _(
            "A center may shorten a statutory limit but never lengthen it: enter at most %(days)s days.",
            days=statutory,
        )
    return None


@post("/admin/limits", opt={"permission": "limits.manage"})
async def limit_set(request: Request) -> Response:
    form = await read_form(request)
    rule = _adjustable_rule(form.str("rule"))
    typed, days = form.str("days", 12), form.int("days")
    error = _days_error(rule, typed, days)
    if error:
        field = f"days-{rule}"
        return await _limits_page(request, {field: typed}, {field: error}, status=422)
    await set_center_limit(trail(request), principal(request).center_id, rule, days)
    return redirect(request, "/admin/limits", _("The limit for %(rule)s is now %(days)s days.", rule=RULES[rule].label, days=days))


@post("/admin/limits/reset", opt={"permission": "limits.manage"})
async def limit_reset(request: Request) -> Response:
    rule = _adjustable_rule((await read_form(request)).str("rule"))
    await reset_center_limit(trail(request), principal(request).center_id, rule)
    # Reporting the outcome, not the click: after a double click the limit is statutory either way.
    return redirect(
        request,
        "/admin/limits",
        _("The limit for %(rule)s is the statutory %(days)s days again.", rule=RULES[rule].label, days=RULES[rule].days),
    )


ROUTES = [
    Router(
        path="/",
        guards=[staff_guard],
        route_handlers=[calendar_page, calendar_set, calendar_remove, limits_page, limit_set, limit_reset],
    )
]
