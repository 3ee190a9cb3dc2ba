"""Pages of the check-in module (mounted at /m/checkin by core, behind ``module_guard``).

Center staff: the list, blowing a whistle (from a matter or standalone), the whistle page (QR code
and check-in code for the meeting place, minutes, tasks, results, close, cancel, rating), the
policy page. Leaders: approval. Department officers: the whistle page, check-in by code or QR
(phone-sized pages), online check-in, their result report.

Officer-facing pages declare ``module_at: record``: an officer usually sits at the district while
the whistle comes from a township, so they answer where the module is enabled at the *whistle's*
center (``service.visible``), not the officer's own.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath
from markupsafe import Markup, escape

from portal import clock
from portal.centers.scope import prefix_range
from portal.db import create_once, new_submission_key, raw, write_transaction
from portal.i18n import _
from portal.matters.scope import can_change, matter_in_scope
from portal.matters.vocab import RATINGS
from portal.notify.outbox import deliver_soon
from portal.web.forms import parse_local_datetime, read_form
from portal.web.render import redirect, render
from portal.web.request import principal, trail

from plugins.checkin import service as svc
from plugins.checkin.views import summons_state
from plugins.checkin.vocab import EVENT_LABELS, GRADES, METHODS, MODES, SOURCES, STANDALONE_SOURCES, STATUS_LABELS

__all__ = ["ROUTES"]

PAGE_SIZE = 50
MAX_MINUTES = 7 * 24 * 60  # a limit or an escalation offset of at most a week
LEVEL_FLAG = {"district": "at_district", "township": "at_township", "village": "at_village"}
WHISTLE = {"scope_loaders": {"whistle_id": svc.whistle_in_scope}}
RECORD = {"module_at": "record"}


def who(request: Request) -> svc.Who:
    user = principal(request)
    return svc.Who(trail=trail(request), user_id=user.user_id, label=f"{user.display_name}（{user.center_name}）",
                   registry=request.app.state.registry)


def qr_svg(data: str, title: str) -> Markup:
    """An inline SVG QR code (no external request; works without JavaScript)."""
    import io

    buffer = io.BytesIO()
    qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10).save(buffer)
    svg = buffer.getvalue().decode()
    svg = svg[svg.index("<svg"):]
    return Markup(svg.replace("<svg", f'<svg role="img" aria-label="{escape(title)}" class="qr"', 1))


async def _center(center_id: int) -> dict:
    return (await raw("SELECT * FROM center WHERE id = {}", center_id))[0]


async def summonable_departments(center: dict) -> list[dict]:
    """The directory a center summons from: active departments of the center and its ancestors
    that serve the center's level (at_township for a township…)."""
    ids = [int(part) for part in center["path"].strip("/").split("/") if part]
    flag = LEVEL_FLAG[center["level"]]
    marks = ", ".join("{}" for _ in ids)
    return await raw(
        "SELECT d.id, d.name, c.name AS center_name FROM department d JOIN center c ON c.id = d.center "
        f"WHERE d.active AND d.{flag} AND d.center IN ({marks}) ORDER BY c.path, d.name",
        *ids,
    )


# ----------------------------------------------------------------------------- the list


def _month_range(value: str) -> tuple[dt.datetime, dt.datetime] | None:
    try:
        start = dt.datetime.strptime(value, "%Y-%m").replace(tzinfo=clock.TZ_CN)
    except ValueError:
        return None
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc)


@get("/", opt={"permission": "checkin.view"})
async def whistle_list(request: Request) -> Response:
    user = principal(request)
    params = request.query_params
    status = params.get("status", "")
    status = status if status in STATUS_LABELS else ""
    mine = params.get("mine") == "1"
    month = (params.get("month") or "").strip()
    errors = {}
    where, args = [], []
    if month:
        bounds = _month_range(month)
        if bounds is None:
            errors["month"] = _("Enter a month like 2026-11.")
        else:
            where.append("w.created_at >= {} AND w.created_at < {}")
            args += list(bounds)
    if status:
        where.append("w.status = {}")
        args.append(status)
    before = params.get("before", "")
    if before.isdigit():
        where.append("w.id < {}")
        args.append(int(before))
    officer = svc.is_department_member(user)
    if officer:
        where.append("w.status NOT IN ('pending_approval', 'rejected') AND EXISTS (SELECT 1 FROM checkin_summons m "
                     "WHERE m.whistle = w.id AND m.department = {}) AND w.center IN (SELECT center FROM center_module "
                     "WHERE module = 'checkin' AND allowed AND enabled)")
        args.append(user.department_id)
    else:
        low, high = prefix_range(user.center_path)
        where.append("c.path >= {} AND c.path < {}")
        args += [low, high]
        if mine:
            where.append("w.created_by = {}")
            args.append(user.user_id)
    rows = await raw(
        "SELECT w.id, w.reason, w.grade, w.mode, w.status, w.created_at, w.report_at, c.name AS center_name, "
        "(SELECT count(*) FROM checkin_summons s WHERE s.whistle = w.id) AS summoned, "
        "(SELECT count(*) FROM checkin_summons s WHERE s.whistle = w.id AND s.checked_in_at IS NOT NULL) AS checked_in "
        "FROM checkin_whistle w JOIN center c ON c.id = w.center WHERE " + " AND ".join(where)
        + f" ORDER BY w.id DESC LIMIT {PAGE_SIZE + 1}",
        *args,
    )
    more = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        query = {k: v for k, v in {"status": status, "mine": "1" if mine else "", "month": month}.items() if v}
        more = "?" + urlencode({**query, "before": rows[-1]["id"]})
    return await render(request, "checkin/list.html", {
        "title": _("Whistles"), "rows": rows, "more": more, "officer": officer, "errors": errors,
        "filters": {"status": status, "mine": mine, "month": month}, "statuses": STATUS_LABELS, "grades": GRADES,
    })


# ----------------------------------------------------------------------------- blowing the whistle


async def _blow_context(request: Request, values: dict, errors: dict, key: str, matter: dict | None) -> dict:
    user = principal(request)
    center = await _center(user.center_id)
    policy = await svc.load_policy(center["id"])
    departments = await summonable_departments(center)
    return {
        "title": _("Blow the whistle"), "values": values, "errors": errors, "submission_key": key, "matter": matter,
        "departments": [(str(d["id"]), d["name"] if d["center_name"] == center["name"] else f"{d['name']}（{d['center_name']}）")
                        for d in departments],
        "reasons": [(r, r) for r in svc.reasons_of(policy)], "grades": list(GRADES.items()),
        "modes": list(MODES.items()), "sources": [(s, SOURCES[s]) for s in STANDALONE_SOURCES],
        "approval": bool(policy["require_approval"]), "policy": policy,
        "grades_with_limits": [(grade, _("%(grade)s: check in within %(limit)s", grade=label,
                                         limit=duration_text(policy[f"ack_minutes_{grade}"])))
                               for grade, label in GRADES.items()],
    }


def duration_text(minutes: int) -> str:
    if minutes % 60 or minutes < 60:
        return _("%(n)s minutes", n=minutes)
    return _("%(n)s hours", n=minutes // 60)


async def _matter_for(request: Request) -> dict | None:
    raw_id = request.query_params.get("matter_id")
    if raw_id is None:
        return None
    user = principal(request)
    matter = await matter_in_scope(user, int(raw_id))  # the guard already refused a non-number
    if not can_change(user, matter):
        raise NotFoundException()
    return matter


def _default_report_at() -> str:
    soon = clock.local(clock.now()) + dt.timedelta(hours=1)
    soon = soon.replace(minute=(soon.minute // 10) * 10, second=0, microsecond=0)
    return soon.strftime("%Y-%m-%d %H:%M")


@get("/new", opt={"permission": "checkin.blow", "scope_loaders": {"matter_id": matter_in_scope}})
async def blow_form(request: Request) -> Response:
    matter = await _matter_for(request)
    values = {"grade": "ordinary", "mode": "onsite", "report_at": _default_report_at(), "departments": [],
              "source": "matter" if matter else ""}
    return await render(request, "checkin/new.html", await _blow_context(request, values, {}, new_submission_key(), matter))


@post("/new", opt={"permission": "checkin.blow", "scope_loaders": {"matter_id": matter_in_scope}})
async def blow_create(request: Request) -> Response:
    user = principal(request)
    matter = await _matter_for(request)
    form = await read_form(request)
    key = form.str("_submission_key")
    center = await _center(user.center_id)
    values = {
        "source": "matter" if matter else form.str("source"), "reason": form.str("reason"), "grade": form.str("grade"),
        "mode": form.str("mode"), "place": form.str("place", 200), "report_at": form.str("report_at", 20),
        "instruction": form.str("instruction", 2000), "departments": form.list("departments"),
    }
    data: dict = {}

    async def validate() -> dict:
        # Inside the transaction: the directory and the policy are those the whistle is created with.
        errors = {}
        policy = await svc.ensure_policy(center["id"])
        directory = {str(d["id"]) for d in await summonable_departments(center)}
        chosen = list(dict.fromkeys(values["departments"]))
        if not chosen:
            errors["departments"] = _("Choose at least one department to summon.")
        elif any(d not in directory for d in chosen):
            errors["departments"] = _("Choose departments from the list: one of them cannot be summoned by this center.")
        if not matter and values["source"] not in STANDALONE_SOURCES:
            errors["source"] = _("Choose where the whistle comes from.")
        if values["reason"] not in svc.reasons_of(policy):
            errors["reason"] = _("Choose the reason from the list.")
        if values["grade"] not in GRADES:
            errors["grade"] = _("Choose how urgent it is.")
        if values["mode"] not in MODES:
            errors["mode"] = _("Choose on-site or online check-in.")
        elif values["mode"] == "onsite" and not values["place"]:
            errors["place"] = _("Write where the departments report on site.")
        report_at = parse_local_datetime(values["report_at"])
        if report_at is None:
            errors["report_at"] = _("Enter the date and time to report, like 2026-11-27 14:30.")
        elif report_at < clock.now() - dt.timedelta(minutes=1):
            errors["report_at"] = _("The time to report is in the past: enter a later time.")
        if not values["instruction"]:
            errors["instruction"] = _("Write what the departments are asked to do.")
        if not errors:
            data.update(policy=policy, report_at=report_at, departments=[int(d) for d in chosen])
        return errors

    async def create():
        created = await svc.blow(who(request), center, svc.NewWhistle(
            source=values["source"], reason=values["reason"], grade=values["grade"], mode=values["mode"],
            place=values["place"], report_at=data["report_at"],
            instruction=values["instruction"], departments=data["departments"],
            matter=matter["id"] if matter else None,
        ), data["policy"])
        return f"/m/checkin/w/{created['id']}", created

    result = await create_once(key, "checkin.blow", validate, create)
    if result.errors:
        context = await _blow_context(request, values, result.errors, key or new_submission_key(), matter)
        return await render(request, "checkin/new.html", context, status=422)
    deliver_soon(request.app)
    if result.duplicate:
        return redirect(request, result.url)
    if result.extra["status"] == "pending_approval":
        return redirect(request, result.url, _("The whistle waits for a leader's approval; the departments are told once it is approved."))
    return redirect(request, result.url, _("Whistle blown: the departments have been notified."))


# ----------------------------------------------------------------------------- the whistle page


async def _matter_brief(matter_id: int | None) -> dict | None:
    if matter_id is None:
        return None
    rows = await raw("SELECT id, code, summary, status, rating, rating_reason, rated_at FROM matter WHERE id = {}", matter_id)
    return rows[0] if rows else None


async def _names(ids: set) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = await raw("SELECT id, display_name FROM staff_user WHERE id IN (" + ", ".join("{}" for _ in ids) + ")", *ids)
    return {row["id"]: row["display_name"] for row in rows}


async def whistle_context(request: Request, w: dict, errors: dict | None = None, values: dict | None = None) -> dict:
    user = principal(request)
    now = clock.now()
    officer = svc.is_department_member(user)
    summons = await svc.summonses(w["id"])
    events = await raw("SELECT * FROM checkin_event WHERE whistle = {} ORDER BY id", w["id"])
    names = await _names({w["created_by"], w["approved_by"], w["closed_by"], *(e["actor"] for e in events),
                          *(s["checked_in_by"] for s in summons), *(s["result_by"] for s in summons)})
    for s in summons:
        s["state"], s["tag"] = summons_state(s, now)
        s["own"] = officer and s["department"] == user.department_id
    own = next((s for s in summons if s["own"]), None)
    status = w["status"]
    staff_side = not officer
    can_close = staff_side and user.can("checkin.close")
    show_code = staff_side and status == "open" and w["mode"] == "onsite"
    base = str(request.base_url).rstrip("/")
    missing = [s["department_name"] for s in summons if not (s["result"] or "").strip()]
    return {
        "title": _("Whistle: %(reason)s", reason=w["reason"]), "w": w, "summons": summons, "events": events,
        "names": names, "own": own, "officer": officer, "matter": await _matter_brief(w["matter"]),
        "policy": svc.whistle_policy(w), "errors": errors or {}, "values": values or {},
        "statuses": STATUS_LABELS, "grades": GRADES, "modes": MODES, "sources": SOURCES, "methods": METHODS,
        "event_labels": EVENT_LABELS, "missing": missing, "ratings": RATINGS,
        "open_forms": {key.split("-")[0] for key in (errors or {})},
        "code": w["code"] if show_code else None,
        "qr": qr_svg(f"{base}/m/checkin/c/{w['code']}", _("QR code for checking in to this whistle")) if show_code else None,
        "can_approve": staff_side and status == "pending_approval" and user.can("checkin.approve"),
        "can_online": officer and status == "open" and w["mode"] == "online" and user.can("checkin.respond")
        and own is not None and own["checked_in_at"] is None,
        "can_onsite": officer and status == "open" and w["mode"] == "onsite" and own is not None
        and own["checked_in_at"] is None,
        "can_report": status == "open" and ((officer and own is not None and user.can("checkin.respond")) or can_close),
        "can_handle": can_close and status == "open",
        "can_cancel": staff_side and user.can("checkin.blow") and status in ("open", "pending_approval")
        and not any(s["checked_in_at"] for s in summons),
        "can_rate": can_close and status == "closed",
        "department_options": [(str(s["department"]), s["department_name"]) for s in summons],
        "scores": range(1, 6),
    }


@get("/w/{whistle_id:int}", opt={"permission": "checkin.view", **WHISTLE, **RECORD})
async def whistle_page(request: Request, whistle_id: FromPath[int]) -> Response:
    w = await svc.whistle_in_scope(principal(request), whistle_id)
    return await render(request, "checkin/whistle.html", await whistle_context(request, w))


async def _act(request: Request, whistle_id: int, change, form_name: str, field, success: str) -> Response:
    """Run one change in a write transaction; a refusal re-renders the whistle page with the message
    beside the form's field (``field``: its id, or a function of the form giving it) and what was
    typed kept."""
    user = principal(request)
    await svc.whistle_in_scope(user, whistle_id)
    form = await read_form(request)
    try:
        async with write_transaction():
            await change(form)
    except svc.CheckinError as problem:
        fresh = await svc.whistle_in_scope(user, whistle_id)
        typed = {name: form.str(name) for name in ("note", "text", "department", "attendees", "reason")}
        key = field(form) if callable(field) else field
        context = await whistle_context(request, fresh, {key: str(problem)}, {form_name: typed})
        return await render(request, "checkin/whistle.html", context, status=422)
    deliver_soon(request.app)
    return redirect(request, f"/m/checkin/w/{whistle_id}", success)


def _staff_only(request: Request) -> None:
    if svc.is_department_member(principal(request)):
        raise PermissionDeniedException()


@post("/w/{whistle_id:int}/approve", opt={"permission": "checkin.approve", **WHISTLE})
async def approve(request: Request, whistle_id: FromPath[int]) -> Response:
    _staff_only(request)

    async def change(form):
        await svc.approve(who(request), whistle_id, form.str("note", 1000))

    return await _act(request, whistle_id, change, "approve", "approve-note", _("Approved: the departments have been notified."))


@post("/w/{whistle_id:int}/reject", opt={"permission": "checkin.approve", **WHISTLE})
async def reject(request: Request, whistle_id: FromPath[int]) -> Response:
    _staff_only(request)

    async def change(form):
        await svc.reject(who(request), whistle_id, form.str("note", 1000))

    return await _act(request, whistle_id, change, "reject", "reject-note", _("The whistle was not approved."))


@post("/w/{whistle_id:int}/checkin", opt={"permission": "checkin.respond", **WHISTLE, **RECORD})
async def online_checkin(request: Request, whistle_id: FromPath[int]) -> Response:
    if principal(request).department_id is None:
        raise PermissionDeniedException()
    return await _check_in(request, whistle_id, "online")


async def _check_in(request: Request, whistle_id: int, method: str, confirm_page: bool = False) -> Response:
    user = principal(request)
    w = await svc.whistle_in_scope(user, whistle_id)
    form = await read_form(request)
    attendees = form.str("attendees", 200)
    try:
        async with write_transaction():
            outcome = await svc.check_in(who(request), whistle_id, user.department_id, method, attendees)
    except svc.CheckinError as problem:
        own = await svc.summons_of(whistle_id, user.department_id)
        if own is not None and own["checked_in_at"] is not None:
            # Checked in before (a second scan, a double click): say so; it is not an error.
            return redirect(request, f"/m/checkin/w/{whistle_id}", str(problem), "info")
        if confirm_page:
            context = _confirm_context(w, method, {"attendees": str(problem)}, attendees)
            return await render(request, "checkin/confirm.html", context, status=422)
        context = await whistle_context(request, await svc.whistle_in_scope(user, whistle_id),
                                        {"online-attendees": str(problem)}, {"online": {"attendees": attendees}})
        return await render(request, "checkin/whistle.html", context, status=422)
    deliver_soon(request.app)
    message = _("Checked in. Thank you.") if not outcome["late"] else _("Checked in, after the time limit: recorded as late.")
    return redirect(request, f"/m/checkin/w/{whistle_id}", message)


@post("/w/{whistle_id:int}/minutes", opt={"permission": "checkin.close", **WHISTLE})
async def minutes(request: Request, whistle_id: FromPath[int]) -> Response:
    _staff_only(request)

    async def change(form):
        await svc.add_minutes(who(request), whistle_id, form.str("text", 5000))

    return await _act(request, whistle_id, change, "minutes", "minutes-text", _("Minutes saved."))


@post("/w/{whistle_id:int}/task", opt={"permission": "checkin.close", **WHISTLE})
async def task(request: Request, whistle_id: FromPath[int]) -> Response:
    _staff_only(request)

    async def change(form):
        await svc.set_task(who(request), whistle_id, form.int("department"), form.str("text", 2000))

    return await _act(request, whistle_id, change, "task", "task-text", _("Task saved."))


@post("/w/{whistle_id:int}/result", opt={"permission": "checkin.view", **WHISTLE, **RECORD})
async def result(request: Request, whistle_id: FromPath[int]) -> Response:
    user = principal(request)
    officer = svc.is_department_member(user)
    if (officer and not user.can("checkin.respond")) or (not officer and not user.can("checkin.close")):
        raise PermissionDeniedException()

    async def change(form):
        # An officer reports for the own department only; the center enters it for one it names.
        department = user.department_id if officer else form.int("department")
        await svc.report_result(who(request), whistle_id, department, form.str("text", 5000), on_behalf=not officer)

    return await _act(request, whistle_id, change, "result", "result-text", _("Result saved."))


@post("/w/{whistle_id:int}/close", opt={"permission": "checkin.close", **WHISTLE})
async def close(request: Request, whistle_id: FromPath[int]) -> Response:
    _staff_only(request)

    async def change(form):
        await svc.close(who(request), whistle_id, form.str("note", 2000))

    return await _act(request, whistle_id, change, "close", "close-note", _("The whistle is closed."))


@post("/w/{whistle_id:int}/cancel", opt={"permission": "checkin.blow", **WHISTLE})
async def cancel(request: Request, whistle_id: FromPath[int]) -> Response:
    _staff_only(request)

    async def change(form):
        await svc.cancel(who(request), whistle_id, form.str("reason", 1000))

    return await _act(request, whistle_id, change, "cancel", "cancel-reason", _("The whistle was withdrawn."))


@post("/w/{whistle_id:int}/rate", opt={"permission": "checkin.close", **WHISTLE})
async def rate(request: Request, whistle_id: FromPath[int]) -> Response:
    _staff_only(request)

    async def change(form):
        await svc.rate(who(request), whistle_id, form.int("department"), form.int("timeliness"),
                       form.int("effectiveness"), form.str("note", 500))

    # The message belongs beside that department's rating form.
    return await _act(request, whistle_id, change, "rate", lambda form: f"rate-{form.int('department')}",
                      _("Rating saved."))


# ----------------------------------------------------------------------------- check-in by code / QR

@get("/code", opt={"permission": "checkin.respond", **RECORD})
async def code_form(request: Request) -> Response:
    return await render(request, "checkin/code.html", {"title": _("Check in with a code"), "values": {}, "errors": {}})


@post("/code", opt={"permission": "checkin.respond", **RECORD})
async def code_submit(request: Request) -> Response:
    user = principal(request)
    form = await read_form(request)
    typed = form.str("code", 20)
    code = svc.parse_code(typed)
    whistle = await svc.whistle_by_code(user, code) if code else None
    if whistle is None:
        return await render(request, "checkin/code.html", {
            "title": _("Check in with a code"), "values": {"code": typed},
            "errors": {"code": _("No whistle has this check-in code, or it does not summon your department.")},
        }, status=422)
    return redirect(request, f"/m/checkin/c/{code}?via=code")


def _confirm_context(w: dict, method: str, errors: dict, attendees: str = "") -> dict:
    return {"title": _("Confirm check-in"), "w": w, "method": method, "errors": errors, "values": {"attendees": attendees},
            "grades": GRADES, "modes": MODES}


async def _by_code(request: Request, code: str) -> dict:
    parsed = svc.parse_code(code)
    whistle = await svc.whistle_by_code(principal(request), parsed) if parsed else None
    if whistle is None:
        raise NotFoundException()
    return whistle


@get("/c/{code:str}", opt={"permission": "checkin.respond", **RECORD})
async def confirm_form(request: Request, code: FromPath[str]) -> Response:
    w = await _by_code(request, code)
    own = await svc.summons_of(w["id"], principal(request).department_id)
    if own["checked_in_at"] is not None:
        return redirect(request, f"/m/checkin/w/{w['id']}", _("Your department already checked in at %(time)s.",
                                                             time=svc.local_text(own["checked_in_at"])), "info")
    method = "code" if request.query_params.get("via") == "code" else "qr"
    return await render(request, "checkin/confirm.html", _confirm_context(w, method, {}))


@post("/c/{code:str}", opt={"permission": "checkin.respond", **RECORD})
async def confirm(request: Request, code: FromPath[str]) -> Response:
    w = await _by_code(request, code)
    form = await read_form(request)
    method = "code" if form.str("method") == "code" else "qr"
    return await _check_in(request, w["id"], method, confirm_page=True)


# ----------------------------------------------------------------------------- the policy page


def _minutes(form, name: str, errors: dict, *, optional: bool, low: int) -> int | None:
    value = form.str(name, 12, ascii_fold=True)
    if not value:
        if optional:
            return None
        errors[name] = _("Enter a number of minutes.")
        return None
    if not value.isdigit() or not low <= int(value) <= MAX_MINUTES:
        errors[name] = _("Enter a whole number of minutes from %(low)s to %(high)s.", low=low, high=MAX_MINUTES)
        return None
    return int(value)


def _policy_values(policy: dict) -> dict:
    values = {name: "" if policy[name] is None else str(policy[name]) for name in svc.POLICY_FIELDS if name != "require_approval"}
    values["require_approval"] = bool(policy["require_approval"])
    return values


@get("/settings", opt={"permission": "checkin.manage"})
async def settings_form(request: Request) -> Response:
    policy = await svc.load_policy(principal(request).center_id)
    return await render(request, "checkin/settings.html", {"title": _("Check-in rules"), "values": _policy_values(policy),
                                                           "errors": {}})


@post("/settings", opt={"permission": "checkin.manage"})
async def settings_save(request: Request) -> Response:
    user = principal(request)
    form = await read_form(request)
    errors: dict = {}
    new = {
        "require_approval": form.flag("require_approval"),
        "ack_minutes_emergency": _minutes(form, "ack_minutes_emergency", errors, optional=False, low=1),
        "ack_minutes_urgent": _minutes(form, "ack_minutes_urgent", errors, optional=False, low=1),
        "ack_minutes_ordinary": _minutes(form, "ack_minutes_ordinary", errors, optional=False, low=1),
        "renotify_after": _minutes(form, "renotify_after", errors, optional=True, low=0),
        "leader_after": _minutes(form, "leader_after", errors, optional=True, low=0),
        "upper_after": _minutes(form, "upper_after", errors, optional=True, low=0),
    }
    lines = [line.strip() for line in form.str("reasons", 5000).splitlines() if line.strip()]
    lines = list(dict.fromkeys(lines))
    if not lines:
        errors["reasons"] = _("Give at least one reason for blowing the whistle.")
    elif len(lines) > 20 or any(len(line) > 100 for line in lines):
        errors["reasons"] = _("At most 20 reasons of at most 100 characters each.")
    new["reasons"] = "\n".join(lines)
    if errors:
        values = {name: form.str(name) for name in svc.POLICY_FIELDS if name != "require_approval"}
        values["require_approval"] = new["require_approval"]
        return await render(request, "checkin/settings.html", {"title": _("Check-in rules"), "values": values, "errors": errors},
                            status=422)
    async with write_transaction():
        current = await svc.ensure_policy(user.center_id)
        changed = tuple(name for name in svc.POLICY_FIELDS if current[name] != new[name]
                        and not (name == "require_approval" and bool(current[name]) == new[name]))
        if changed:
            sets = ", ".join(f"{name} = {{}}" for name in changed)
            await raw(f"UPDATE checkin_policy SET {sets}, updated_at = {{}}, updated_by = {{}} WHERE id = {{}}",
                      *(new[name] for name in changed), clock.now(), user.user_id, current["id"])
            await trail(request)("checkin.policy_changed", object_type="checkin_policy", object_id=current["id"],
                                 center_id=user.center_id, fields=changed)
    message = _("Rules saved. Whistles already blown keep the rules they were blown with.") if changed else _("Nothing changed.")
    return redirect(request, "/m/checkin/settings", message)


ROUTES = [
    whistle_list, blow_form, blow_create, whistle_page, approve, reject, online_checkin, minutes, task, result, close,
    cancel, rate, code_form, code_submit, confirm_form, confirm, settings_form, settings_save,
]
