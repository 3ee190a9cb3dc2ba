"""Staff pages of the legal-aid module's roster and applications (mounted at /m/legal_aid, behind
``module_guard``): lawyer profiles, the duty roster (week view), the center's legal-aid rules,
the applications (list with clocks, window registration, the application page and its steps,
the refusal notice, documents) and the numbers page.

Scope: a member sees the centers of their subtree where the module is enabled; an application,
profile or document of any other center answers 404, forged ids included.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlencode

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal import clock
from portal.centers.scope import in_scope, prefix_range
from portal.db import create_once, new_submission_key, raw, read, write_transaction
from portal.i18n import _
from portal.matters.attachments import MAX_FILES, AttachmentError, path_for, store
from portal.matters.calendar import load_calendar, official_day
from portal.matters.codes import format_code
from portal.notify.outbox import deliver_soon
from portal.notify.senders import mask_phone
from portal.web.forms import normalize_phone, read_form
from portal.web.render import redirect, render
from portal.web.request import principal, trail

from plugins.legal_aid import applications as apps
from plugins.legal_aid import roster
from plugins.legal_aid.roster import SPECIALTIES, RosterError

__all__ = ["ROUTES", "application_in_scope", "module_centers", "prefill_values", "read_documents"]

MODULE = "legal_aid"
ROSTER = {"permission": "legal_aid.roster"}
APPLICATIONS = {"permission": "legal_aid.applications"}
PAGE_SIZE = 50
WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def who(request: Request) -> apps.Who:
    return apps.Who(trail=trail(request), user_id=principal(request).user_id)


async def module_centers(user) -> list[dict]:
    """Active centers of the member's subtree where the module is enabled, in tree order."""
    low, high = prefix_range(user.center_path)
    return await read(
        "SELECT c.id, c.code, c.name, c.level, c.path, c.phone, c.address, c.hours FROM center c "
        "JOIN center_module m ON m.center = c.id AND m.module = {} AND m.allowed AND m.enabled "
        "WHERE c.path >= {} AND c.path < {} AND c.active ORDER BY c.path",
        MODULE, low, high,
    )


async def _center_for(request: Request, center_id: int | None) -> tuple[dict, list[dict]]:
    """The chosen center (default: the member's own) among the module's centers in scope; 404 otherwise."""
    user = principal(request)
    centers = await module_centers(user)
    wanted = center_id if center_id is not None else user.center_id
    for center in centers:
        if center["id"] == wanted:
            return center, centers
    raise NotFoundException()


def _query_int(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not str(value).isdigit():
        raise NotFoundException()
    return int(value)


# ----------------------------------------------------------------------------- scope loaders


async def application_in_scope(user, application_id: int) -> dict:
    rows = await raw(
        "SELECT a.*, c.path AS center_path, c.name AS center_name, c.code AS center_code FROM legal_aid_application a "
        "JOIN center c ON c.id = a.center WHERE a.id = {}", application_id,
    )
    if not rows or not in_scope(user, rows[0]["center_path"]):
        raise NotFoundException()
    enabled = await raw("SELECT 1 FROM center_module WHERE center = {} AND module = {} AND allowed AND enabled",
                        rows[0]["center"], MODULE)
    if not enabled:
        raise NotFoundException()
    return rows[0]


async def lawyer_in_scope(user, lawyer_id: int) -> dict:
    rows = await raw(
        "SELECT l.*, s.display_name, s.username, c.path AS center_path, c.name AS center_name FROM legal_aid_lawyer l "
        "JOIN staff_user s ON s.id = l.staff JOIN center c ON c.id = l.center WHERE l.id = {}", lawyer_id,
    )
    if not rows or not in_scope(user, rows[0]["center_path"]):
        raise NotFoundException()
    return rows[0]


async def document_in_scope(user, document_id: int) -> dict:
    rows = await raw("SELECT * FROM legal_aid_document WHERE id = {}", document_id)
    if not rows:
        raise NotFoundException()
    await application_in_scope(user, rows[0]["application"])
    return rows[0]


APPLICATION = {**APPLICATIONS, "scope_loaders": {"application_id": application_in_scope}}
LAWYER = {**ROSTER, "scope_loaders": {"lawyer_id": lawyer_in_scope}}


# ----------------------------------------------------------------------------- uploads


async def read_documents(request: Request, data, name: str = "documents", already: int = 0) -> tuple[list[dict], str | None]:
    """Store the files of a multipart form (sniffed type, size limit, content-addressed outside the
    web root: ``portal.matters.attachments``); returns (documents, error)."""
    uploads = [item for item in data.getall(name, []) if not isinstance(item, str) and getattr(item, "filename", "")]
    if already + len(uploads) > MAX_FILES:
        return [], _("You can attach at most %(n)s files.", n=MAX_FILES)
    documents = []
    for upload in uploads:
        content = await upload.read()
        try:
            digest, content_type = store(request.app.state.settings.data_dir, content)
        except AttachmentError as problem:
            return [], f"{upload.filename[-60:]}：{problem}"
        documents.append({"sha256": digest, "filename": upload.filename[-200:], "content_type": content_type,
                          "size": len(content)})
    return documents, None


# ----------------------------------------------------------------------------- lawyers


def _specialty_text(value: str) -> str:
    return "、".join(SPECIALTIES[key] for key in (value or "").split(",") if key in SPECIALTIES)


async def _lawyer_accounts(user) -> list[dict]:
    """Active staff accounts with the lawyer role in the member's subtree, with their profile id."""
    low, high = prefix_range(user.center_path)
    return await raw(
        "SELECT s.id, s.display_name, s.username, s.center, c.name AS center_name, l.id AS profile FROM staff_user s "
        "JOIN staff_role r ON r.\"user\" = s.id AND r.role = 'lawyer' JOIN center c ON c.id = s.center "
        "LEFT JOIN legal_aid_lawyer l ON l.staff = s.id "
        "WHERE s.active AND c.path >= {} AND c.path < {} ORDER BY c.path, s.display_name",
        low, high,
    )


async def _lawyers_page(request: Request, values: dict, errors: dict, status: int = 200) -> Response:
    user = principal(request)
    low, high = prefix_range(user.center_path)
    profiles = await raw(
        "SELECT l.*, s.display_name, c.name AS center_name FROM legal_aid_lawyer l JOIN staff_user s ON s.id = l.staff "
        "JOIN center c ON c.id = l.center WHERE c.path >= {} AND c.path < {} ORDER BY c.path, s.display_name", low, high,
    )
    accounts = await _lawyer_accounts(user)
    return await render(request, "legal_aid/roster_lawyers.html", {
        "title": _("Duty lawyers"), "profiles": [{**p, "specialty_text": _specialty_text(p["specialties"]),
                                                  "phone_masked": mask_phone(p["phone"]) if p["phone"] else ""}
                                                 for p in profiles],
        "accounts": [(str(a["id"]), f"{a['display_name']}（{a['center_name']}）") for a in accounts if a["profile"] is None],
        "specialties": list(SPECIALTIES.items()), "values": values, "errors": errors,
    }, status=status)


def _profile_values(form) -> dict:
    return {"staff": form.str("staff", 12), "firm": form.str("firm", 100), "licence_no": form.str("licence_no", 40),
            "specialties": form.list("specialties"), "phone": form.str("phone", 30), "active": form.flag("active")}


def _profile_errors(values: dict) -> dict:
    errors = {}
    if not values["firm"]:
        errors["firm"] = _("Enter the law firm (or legal-aid institution) the lawyer works for.")
    if not values["licence_no"]:
        errors["licence_no"] = _("Enter the 17-digit practising licence number (律师执业证号).")
    elif roster.valid_licence(values["licence_no"]) is None:
        digits = sum(ch.isdigit() for ch in values["licence_no"])
        errors["licence_no"] = _("A practising licence number has 17 digits and nothing else; this one has %(n)s digit(s).",
                                 n=digits)
    if not values["specialties"] or any(key not in SPECIALTIES for key in values["specialties"]):
        errors["specialties"] = _("Tick at least one specialty from the list.")
    if not values["phone"]:
        errors["phone"] = _("Enter the lawyer's phone, for example 138 0000 0000 or 0936-8212000.")
    elif normalize_phone(values["phone"], allow_landline=True) is None:
        errors["phone"] = _("Enter the lawyer's phone, for example 138 0000 0000 or 0936-8212000.")
    return errors


@get("/lawyers", opt=ROSTER)
async def lawyers(request: Request) -> Response:
    return await _lawyers_page(request, {"specialties": [], "active": True}, {})


@post("/lawyers", opt=ROSTER)
async def lawyer_create(request: Request) -> Response:
    user = principal(request)
    values = _profile_values(await read_form(request))
    errors = _profile_errors(values)
    accounts = {str(a["id"]): a for a in await _lawyer_accounts(user) if a["profile"] is None}
    if values["staff"] not in accounts:
        errors["staff"] = _("Choose a lawyer account of your centers that has no profile yet.")
    if errors:
        return await _lawyers_page(request, values, errors, status=422)
    account = accounts[values["staff"]]
    async with write_transaction():
        rows = await raw(
            "INSERT INTO legal_aid_lawyer (center, staff, firm, licence_no, specialties, phone, active, created_at, updated_at, "
            "updated_by) VALUES ({}, {}, {}, {}, {}, {}, TRUE, {}, {}, {}) ON CONFLICT (staff) DO NOTHING RETURNING id",
            account["center"], account["id"], values["firm"], roster.valid_licence(values["licence_no"]),
            ",".join(dict.fromkeys(values["specialties"])), normalize_phone(values["phone"], allow_landline=True),
            clock.now(), clock.now(), user.user_id,
        )
        if rows:
            await trail(request)("legal_aid.lawyer_created", object_type="legal_aid_lawyer", object_id=rows[0]["id"],
                                 center_id=account["center"], fields=("firm", "licence_no", "specialties", "phone"))
    return redirect(request, "/m/legal_aid/lawyers", _("Lawyer profile saved."))


@get("/lawyers/{lawyer_id:int}", opt=LAWYER)
async def lawyer_page(request: Request, lawyer_id: FromPath[int]) -> Response:
    profile = await lawyer_in_scope(principal(request), lawyer_id)
    values = {**profile, "specialties": [k for k in profile["specialties"].split(",") if k]}
    return await render(request, "legal_aid/roster_lawyer.html", {
        "title": profile["display_name"], "profile": profile, "values": values, "errors": {},
        "specialties": list(SPECIALTIES.items()),
    })


@post("/lawyers/{lawyer_id:int}", opt=LAWYER)
async def lawyer_update(request: Request, lawyer_id: FromPath[int]) -> Response:
    user = principal(request)
    profile = await lawyer_in_scope(user, lawyer_id)
    values = _profile_values(await read_form(request))
    errors = _profile_errors(values)
    if errors:
        return await render(request, "legal_aid/roster_lawyer.html", {
            "title": profile["display_name"], "profile": profile, "values": values, "errors": errors,
            "specialties": list(SPECIALTIES.items()),
        }, status=422)
    async with write_transaction():
        await raw(
            "UPDATE legal_aid_lawyer SET firm = {}, licence_no = {}, specialties = {}, phone = {}, active = {}, "
            "updated_at = {}, updated_by = {} WHERE id = {}",
            values["firm"], roster.valid_licence(values["licence_no"]), ",".join(dict.fromkeys(values["specialties"])),
            normalize_phone(values["phone"], allow_landline=True), values["active"], clock.now(), user.user_id, lawyer_id,
        )
        await trail(request)("legal_aid.lawyer_updated", object_type="legal_aid_lawyer", object_id=lawyer_id,
                             center_id=profile["center"], fields=("firm", "licence_no", "specialties", "phone", "active"))
    return redirect(request, f"/m/legal_aid/lawyers/{lawyer_id}", _("Lawyer profile saved."))


# ----------------------------------------------------------------------------- the roster


def _parse_day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _day_label(day: dt.date, calendar) -> str:
    official = official_day(day)
    workday = calendar.is_workday(day)
    if workday and day.weekday() >= 5:
        return _("Make-up working day") + (f"（{official.holiday}）" if official.holiday else "")
    if not workday and official.holiday:
        return official.holiday
    return _("Working day") if workday else _("Rest day")


async def _roster_page(request: Request, center: dict, centers: list[dict], week: dt.date, values: dict,
                       errors: dict, problems: list[str] | None = None, status: int = 200) -> Response:
    calendar = await load_calendar()
    last = week + dt.timedelta(days=6)
    duty = await roster.duty_between([center["id"]], week, last)
    today = roster.today()
    days = []
    for offset in range(7):
        day = week + dt.timedelta(days=offset)
        entries = duty.get((center["id"], day), [])
        days.append({"day": day, "weekday": WEEKDAY_NAMES[day.weekday()], "label": _day_label(day, calendar),
                     "workday": calendar.is_workday(day), "entries": entries, "past": day < today,
                     "gap": calendar.is_workday(day) and not entries and day >= today})
    gaps = await roster.center_gaps(center["id"], calendar)
    lawyers_here = await roster.lawyers_for_roster(center)
    return await render(request, "legal_aid/roster.html", {
        "title": _("Duty roster"), "center": center, "centers": [(str(c["id"]), c["name"]) for c in centers],
        "week": week, "prev_week": week - dt.timedelta(days=7), "next_week": week + dt.timedelta(days=7),
        "days": days, "gaps": gaps, "lawyers": [(str(l["id"]), f"{l['display_name']}（{l['firm']}）") for l in lawyers_here],
        "values": values, "errors": errors, "problems": problems or [],
    }, status=status)


def _default_roster_values(week: dt.date) -> dict:
    start = max(week, roster.today())
    return {"first": start.isoformat(), "last": (week + dt.timedelta(days=4)).isoformat() if week + dt.timedelta(days=4) >= start
            else start.isoformat(), "mode": "workdays", "am_start": "8:30", "am_end": "12:00", "pm_start": "14:30",
            "pm_end": "18:00", "lawyer": "", "remove_first": "", "remove_last": "", "remove_lawyer": ""}


@get("/roster", opt=ROSTER)
async def roster_page(request: Request) -> Response:
    center, centers = await _center_for(request, _query_int(request, "center_id"))
    week = _parse_day(request.query_params.get("week", "")) or roster.today()
    week = _monday(week)
    return await _roster_page(request, center, centers, week, _default_roster_values(week), {})


def _hours(values: dict, errors: dict) -> list[tuple[int, int]]:
    from portal.bookings.admin_routes import parse_time

    hours = []
    for part in ("am", "pm"):
        start_text, end_text = values[f"{part}_start"], values[f"{part}_end"]
        if not start_text and not end_text:
            continue
        start, end = parse_time(start_text), parse_time(end_text)
        if start is None:
            errors[f"{part}_start"] = _("Enter the time as 8:30.")
        if end is None:
            errors[f"{part}_end"] = _("Enter the time as 8:30.")
        elif start is not None and end - start < roster.SERVICE.duration_minutes:
            errors[f"{part}_end"] = _("The end must be at least 30 minutes after the start.")
        if start is not None and end is not None and end > start:
            hours.append((start, end))
    if len(hours) == 2 and hours[0][1] > hours[1][0]:
        errors["pm_start"] = _("The afternoon must start after the morning ends.")
    if not hours and not errors:
        errors["am_start"] = _("Enter the hours on duty: a morning, an afternoon or both.")
    return hours


@post("/roster/add", opt=ROSTER)
async def roster_add(request: Request) -> Response:
    form = await read_form(request)
    center_id = form.int("center_id")
    center, centers = await _center_for(request, center_id)
    values = {**_default_roster_values(roster.today()),
              **{k: form.str(k, 12) for k in ("lawyer", "first", "last", "mode", "am_start", "am_end", "pm_start", "pm_end")}}
    errors: dict = {}
    lawyers_here = {str(l["id"]): l for l in await roster.lawyers_for_roster(center)}
    if values["lawyer"] not in lawyers_here:
        errors["lawyer"] = _("Choose a lawyer from the list.")
    first, last = _parse_day(values["first"]), _parse_day(values["last"] or values["first"])
    if first is None:
        errors["first"] = _("Enter the date as 2026-12-01.")
    elif first < roster.today():
        errors["first"] = _("The date has passed: the roster is planned from today on.")
    if last is None:
        errors["last"] = _("Enter the date as 2026-12-01.")
    elif first is not None and last < first:
        errors["last"] = _("The last day must be on or after the first day.")
    elif first is not None and (last - first).days >= roster.MAX_RANGE_DAYS:
        errors["last"] = _("Enter at most %(n)s days at a time.", n=roster.MAX_RANGE_DAYS)
    if values["mode"] not in ("workdays", "all"):
        errors["mode"] = _("Choose which days of the range.")
    hours = _hours(values, errors)
    week = _monday(first) if first else _monday(roster.today())
    if errors:
        return await _roster_page(request, center, centers, week, values, errors, status=422)
    days = roster.days_in_range(first, last, values["mode"], await load_calendar())
    try:
        result = await roster.add_duty(trail(request), center, lawyers_here[values["lawyer"]], days, hours,
                                       user_id=principal(request).user_id)
    except RosterError as problem:
        return await _roster_page(request, center, centers, week, values, {problem.field: problem.message},
                                  problem.items, status=422)
    message = _("Roster saved: %(n)s day(s) added.", n=result.days) if result.intervals else \
        _("Nothing to add: the lawyer is already on duty at those times.")
    return redirect(request, f"/m/legal_aid/roster?center_id={center['id']}&week={week.isoformat()}", message)


@post("/roster/remove", opt=ROSTER)
async def roster_remove(request: Request) -> Response:
    form = await read_form(request)
    center, centers = await _center_for(request, form.int("center_id"))
    values = {**_default_roster_values(roster.today()),
              **{k: form.str(k, 12) for k in ("remove_lawyer", "remove_first", "remove_last")}}
    errors: dict = {}
    lawyers_here = {str(l["id"]): l for l in await roster.lawyers_for_roster(center)}
    if values["remove_lawyer"] not in lawyers_here:
        # A profile no longer active may still be on the roster here: allow taking it off.
        rows = await raw("SELECT DISTINCT d.lawyer AS id, l.staff, s.display_name, l.firm FROM legal_aid_duty d "
                         "JOIN legal_aid_lawyer l ON l.id = d.lawyer JOIN staff_user s ON s.id = l.staff WHERE d.center = {}",
                         center["id"])
        lawyers_here.update({str(r["id"]): r for r in rows})
    if values["remove_lawyer"] not in lawyers_here:
        errors["remove_lawyer"] = _("Choose a lawyer from the list.")
    first = _parse_day(values["remove_first"])
    last = _parse_day(values["remove_last"] or values["remove_first"])
    if first is None:
        errors["remove_first"] = _("Enter the date as 2026-12-01.")
    if last is None:
        errors["remove_last"] = _("Enter the date as 2026-12-01.")
    elif first is not None and last < first:
        errors["remove_last"] = _("The last day must be on or after the first day.")
    week = _monday(first) if first else _monday(roster.today())
    if errors:
        return await _roster_page(request, center, centers, week, values, errors, status=422)
    try:
        removed = await roster.remove_duty(trail(request), center, lawyers_here[values["remove_lawyer"]], first, last)
    except RosterError as problem:
        field = {"first": "remove_first"}.get(problem.field, problem.field)
        return await _roster_page(request, center, centers, week, values, {field: problem.message}, problem.items,
                                  status=422)
    return redirect(request, f"/m/legal_aid/roster?center_id={center['id']}&week={week.isoformat()}",
                    _("Duty removed: %(n)s period(s).", n=removed))


# ----------------------------------------------------------------------------- the center's rules


async def _settings_page(request: Request, center: dict, values: dict, errors: dict, status: int = 200) -> Response:
    policy = await apps.load_policy(center)
    inherited = ""
    if policy["categories_from"] and policy["categories_from"] != center["id"]:
        inherited = (await raw("SELECT name FROM center WHERE id = {}", policy["categories_from"]))[0]["name"]
    return await render(request, "legal_aid/roster_settings.html", {
        "title": _("Legal-aid rules"), "center": center, "values": values, "errors": errors,
        "day_kinds": list(apps.DAY_KINDS.items()), "national": apps.NATIONAL_CATEGORIES, "policy": policy,
        "inherited": inherited,
    }, status=status)


@get("/settings", opt=ROSTER)
async def settings_page(request: Request) -> Response:
    center, _centers = await _center_for(request, None)
    policy = await apps.load_policy(center)
    own = await raw("SELECT exemption_categories FROM legal_aid_policy WHERE center = {}", center["id"])
    values = {k: str(policy[k]) for k in ("day_kind", "decision_days", "assign_days", "materials_days")}
    values["exemption_categories"] = own[0]["exemption_categories"] if own else ""
    return await _settings_page(request, center, values, {})


@post("/settings", opt=ROSTER)
async def settings_save(request: Request) -> Response:
    center, _centers = await _center_for(request, None)
    form = await read_form(request)
    values = {k: form.str(k, 8) for k in ("day_kind", "decision_days", "assign_days", "materials_days")}
    values["exemption_categories"] = form.str("exemption_categories", 4000)
    errors = {}
    if values["day_kind"] not in apps.DAY_KINDS:
        errors["day_kind"] = _("Choose working days or calendar days.")
    numbers = {}
    for name, low, high, message in (
        ("decision_days", 1, apps.MAX_DECISION_DAYS, _("Enter a whole number of days from 1 to 7 (the statute allows at most 7).")),
        ("assign_days", 1, apps.MAX_ASSIGN_DAYS, _("Enter a whole number of days from 1 to 3 (the statute allows at most 3).")),
        ("materials_days", 1, 60, _("Enter a whole number of days from 1 to 60.")),
    ):
        text = values[name]
        if not text.isdigit() or not low <= int(text) <= high:
            errors[name] = message
        else:
            numbers[name] = int(text)
    lines = [line.strip() for line in values["exemption_categories"].splitlines() if line.strip()]
    if any(len(line) > 100 for line in lines):
        errors["exemption_categories"] = _("Each category must fit on one line of at most 100 characters.")
    if errors:
        return await _settings_page(request, center, values, errors, status=422)
    async with write_transaction():
        await raw(
            "INSERT INTO legal_aid_policy (center, day_kind, decision_days, assign_days, materials_days, exemption_categories, "
            "updated_at, updated_by) VALUES ({}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (center) DO UPDATE SET "
            "day_kind = excluded.day_kind, decision_days = excluded.decision_days, assign_days = excluded.assign_days, "
            "materials_days = excluded.materials_days, exemption_categories = excluded.exemption_categories, "
            "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            center["id"], values["day_kind"], numbers["decision_days"], numbers["assign_days"], numbers["materials_days"],
            "\n".join(lines), clock.now(), principal(request).user_id,
        )
        await trail(request)("legal_aid.policy_saved", object_type="legal_aid_policy", object_id=center["id"],
                             center_id=center["id"], fields=("day_kind", "decision_days", "assign_days", "materials_days",
                                                             "exemption_categories"))
    return redirect(request, "/m/legal_aid/settings", _("Legal-aid rules saved."))


# ----------------------------------------------------------------------------- applications: list


@get("/applications", opt=APPLICATIONS)
async def application_list(request: Request) -> Response:
    user = principal(request)
    centers = await module_centers(user)
    ids = [c["id"] for c in centers]
    state = request.query_params.get("state", "open")
    state = state if state in ("open", "closed") else "open"
    calendar = await load_calendar()
    now = clock.now()
    rows, more = [], None
    if ids:
        marks = ", ".join("{}" for _ in ids)
        if state == "open":
            # The clock that runs: the decision's, the assignment's, or the applicant's materials period.
            rows = await raw(
                "SELECT a.id, a.code, a.applicant_name, a.phone, a.matter_type, a.status, a.received_at, a.day_kind, "
                "a.decision_due_at, a.assign_due_at, a.materials_due_at, c.name AS center_name FROM legal_aid_application a "
                f"JOIN center c ON c.id = a.center WHERE a.center IN ({marks}) AND a.status IN "
                "('received', 'materials_requested', 'complete', 'granted') ORDER BY a.id LIMIT 1000", *ids,
            )
        else:
            before = request.query_params.get("before", "")
            extra, args = ("AND a.id < {}", [int(before)]) if before.isdigit() else ("", [])
            rows = await raw(
                "SELECT a.id, a.code, a.applicant_name, a.phone, a.matter_type, a.status, a.received_at, a.day_kind, "
                "a.decision_due_at, a.assign_due_at, a.materials_due_at, c.name AS center_name FROM legal_aid_application a "
                f"JOIN center c ON c.id = a.center WHERE a.center IN ({marks}) AND a.status IN "
                f"('assigned', 'refused', 'withdrawn') {extra} ORDER BY a.id DESC LIMIT {PAGE_SIZE + 1}", *ids, *args,
            )
            if len(rows) > PAGE_SIZE:
                rows = rows[:PAGE_SIZE]
                more = "?" + urlencode({"state": "closed", "before": rows[-1]["id"]})
    items = []
    for row in rows:
        due = {"granted": row["assign_due_at"], "materials_requested": row["materials_due_at"]}.get(
            row["status"], row["decision_due_at"])
        kind = "calendar" if row["status"] == "materials_requested" else row["day_kind"]
        clock_state, clock_label = apps.clock_text(due, kind, now, calendar) if row["status"] in apps.OPEN_STATUSES \
            else ("none", "")
        items.append({**row, "due": apps.as_dt(due), "clock_state": clock_state, "clock_text": clock_label,
                      "phone_masked": mask_phone(row["phone"]) if row["phone"] else "",
                      "status_label": apps.STATUS_LABELS.get(row["status"], row["status"]),
                      "matter_label": apps.MATTER_TYPES.get(row["matter_type"], ""),
                      "waiting_applicant": row["status"] == "materials_requested"})
    if state == "open":
        # Overdue first, then by the due time; the applicant's materials period after the staff's clocks.
        far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
        items.sort(key=lambda r: (r["waiting_applicant"], r["clock_state"] != "overdue", r["due"] or far, r["id"]))
    return await render(request, "legal_aid/application_list.html", {
        "title": _("Legal-aid applications"), "items": items, "state": state, "more": more,
    }, headers={"Cache-Control": "no-store"})


# ----------------------------------------------------------------------------- applications: window


def _form_context(policy: dict) -> dict:
    return {"matter_types": list(apps.MATTER_TYPES.items()), "on_behalf_options": list(apps.ON_BEHALF.items()),
            "hardship_modes": list(apps.HARDSHIP_MODES.items()),
            "categories": [(c, c) for c in policy["categories"]]}


# Consultation topics (the log's) that name an Art. 31 matter type.
TOPIC_MATTER_TYPES = {"labour": "labour", "injury": "injury", "traffic": "injury", "medical": "injury"}
PREFILL = ("applicant_name", "phone", "address", "matter_type", "description")


def prefill_values(request: Request) -> dict:
    """A new application may be started with details carried over (e.g. from a consultation):
    ``?applicant_name=…&phone=…&address=…&matter_type=…&description=…``."""
    values = {"on_behalf": "self", "hardship_mode": "statement"}
    for name in PREFILL:
        value = (request.query_params.get(name) or "").strip()
        if value:
            values[name] = value[:2000 if name == "description" else 200]
    return values


async def _window_page(request: Request, center: dict, centers: list[dict], values: dict, errors: dict, key: str,
                       status: int = 200) -> Response:
    policy = await apps.load_policy(center)
    return await render(request, "legal_aid/application_new.html", {
        "title": _("Register a legal-aid application"), "values": values, "errors": errors, "submission_key": key,
        "center": center, "centers": [(str(c["id"]), c["name"]) for c in centers], **_form_context(policy),
    }, status=status, headers={"Cache-Control": "no-store"})


@get("/applications/new", opt=APPLICATIONS)
async def application_new(request: Request) -> Response:
    center, centers = await _center_for(request, None)
    values = prefill_values(request)
    consultation = _query_int(request, "consultation")
    if consultation is not None:
        # A consultation handed over to the window: the log carries the person and the question over.
        from plugins.legal_aid.consultations import application_prefill

        carried = await application_prefill(principal(request), consultation)
        values.update({k: carried[k] for k in ("applicant_name", "phone", "description") if carried.get(k)})
        if TOPIC_MATTER_TYPES.get(carried.get("topic", "")):
            values["matter_type"] = TOPIC_MATTER_TYPES[carried["topic"]]
    return await _window_page(request, center, centers, values, {}, new_submission_key())


@post("/applications/new", opt=APPLICATIONS)
async def application_create(request: Request) -> Response:
    center, centers = await _center_for(request, None)
    data = await request.form()
    from portal.web.forms import Form

    form = Form(data)
    key = form.str("_submission_key")
    values = apps.application_values(form)
    policy = await apps.load_policy(center)
    errors = apps.validate(values, policy)
    documents: list[dict] = []
    if not errors:
        documents, problem = await read_documents(request, data)
        if problem:
            errors["documents"] = problem
    if errors:
        return await _window_page(request, center, centers, values, errors, key or new_submission_key(), status=422)

    async def check() -> dict:
        return {}

    async def create():
        created = await apps.create_application(who(request), center, values, documents, channel="window", citizen_id=None)
        return f"/m/legal_aid/applications/{created['id']}", created

    result = await create_once(key, "legal_aid.application", check, create)
    deliver_soon(request.app)
    if result.duplicate:
        return redirect(request, result.url)
    return redirect(request, result.url, _("Application registered. Reference %(code)s was sent to the applicant by SMS.",
                                           code=format_code(result.extra["code"])))


# ----------------------------------------------------------------------------- applications: one


async def _lawyers_to_assign(center: dict) -> list[dict]:
    return await roster.lawyers_for_roster(center)


async def _application_page(request: Request, application_id: int, errors: dict | None = None,
                            values: dict | None = None, status: int = 200) -> Response:
    user = principal(request)
    app = await application_in_scope(user, application_id)
    center = (await raw("SELECT id, code, name, path, phone FROM center WHERE id = {}", app["center"]))[0]
    calendar = await load_calendar()
    now = clock.now()
    events = await raw(
        "SELECT e.kind, e.note, e.at, s.display_name FROM legal_aid_event e LEFT JOIN staff_user s ON s.id = e.actor "
        "WHERE e.application = {} ORDER BY e.id", app["id"],
    )
    documents = await raw("SELECT id, filename, size, stage, uploaded_at FROM legal_aid_document WHERE application = {} "
                          "ORDER BY id", app["id"])
    notice = await raw("SELECT id, number FROM legal_aid_notice WHERE application = {}", app["id"])
    assigned = None
    if app["assigned_lawyer"]:
        assigned = (await raw("SELECT s.display_name, l.firm FROM legal_aid_lawyer l JOIN staff_user s ON s.id = l.staff "
                              "WHERE l.id = {}", app["assigned_lawyer"]))[0]
    clocks = {
        "decision": apps.clock_text(app["decision_due_at"], app["day_kind"], now, calendar)
        if app["status"] in ("received", "complete") else ("none", ""),
        "assign": apps.clock_text(app["assign_due_at"], app["day_kind"], now, calendar)
        if app["status"] == "granted" else ("none", ""),
        "materials": apps.clock_text(app["materials_due_at"], "calendar", now, calendar)
        if app["status"] == "materials_requested" else ("none", ""),
    }
    async with write_transaction():
        # The full ID number and phone are on this page: every read is on record.
        await trail(request)("legal_aid.application_read", object_type="legal_aid_application", object_id=app["id"],
                             center_id=app["center"], fields=("id_number", "phone"))
    lawyer_options = [(str(l["id"]), f"{l['display_name']}（{l['firm']}，{l['center_name']}）")
                      for l in await _lawyers_to_assign(center)]
    return await render(request, "legal_aid/application.html", {
        "title": _("Legal-aid application %(code)s", code=format_code(app["code"])), "a": app, "center": center,
        "events": events, "documents": documents, "notice": notice[0] if notice else None, "assigned": assigned,
        "clocks": clocks, "status_label": apps.STATUS_LABELS.get(app["status"], app["status"]),
        "matter_label": apps.MATTER_TYPES.get(app["matter_type"], ""), "on_behalf_label": apps.ON_BEHALF.get(app["on_behalf"], ""),
        "event_labels": apps.EVENT_LABELS, "materials": list(apps.MATERIALS.items()),
        "materials_items": [line for line in (app["materials_items"] or "").splitlines() if line],
        "lawyers": lawyer_options, "errors": errors or {}, "values": values or {}, "fmt": format_code,
        "date_text": apps.local_date_text,
    }, status=status, headers={"Cache-Control": "no-store"})


@get("/applications/{application_id:int}", opt=APPLICATION)
async def application_page(request: Request, application_id: FromPath[int]) -> Response:
    return await _application_page(request, application_id)


async def _step(request: Request, application_id: int, run, values: dict | None = None, message: str = "") -> Response:
    try:
        await run()
    except apps.ApplicationError as problem:
        return await _application_page(request, application_id, {problem.field: problem.message}, values, status=422)
    deliver_soon(request.app)
    return redirect(request, f"/m/legal_aid/applications/{application_id}", message)


@post("/applications/{application_id:int}/complete", opt=APPLICATION)
async def application_complete(request: Request, application_id: FromPath[int]) -> Response:
    await application_in_scope(principal(request), application_id)
    return await _step(request, application_id, lambda: apps.mark_complete(who(request), application_id),
                       message=_("Marked complete: the decision clock runs from the receipt."))


@post("/applications/{application_id:int}/materials", opt=APPLICATION)
async def application_materials(request: Request, application_id: FromPath[int]) -> Response:
    await application_in_scope(principal(request), application_id)
    form = await read_form(request)
    items, other = form.list("items"), form.str("other", 500)
    return await _step(request, application_id, lambda: apps.request_materials(who(request), application_id, items, other),
                       {"items": items, "other": other}, _("The request for missing materials was sent to the applicant."))


@post("/applications/{application_id:int}/supply", opt=APPLICATION)
async def application_supply(request: Request, application_id: FromPath[int]) -> Response:
    user = principal(request)
    await application_in_scope(user, application_id)
    data = await request.form()
    from portal.web.forms import Form

    note = Form(data).str("note", 500)
    documents, problem = await read_documents(request, data)
    if problem:
        return await _application_page(request, application_id, {"documents": problem}, {"note": note}, status=422)
    if not documents and not note:
        return await _application_page(request, application_id, {
            "note": _("Upload the materials, or note what the applicant handed in at the window.")}, {"note": note}, status=422)
    return await _step(request, application_id,
                       lambda: apps.supply_materials(who(request), application_id, documents, note or _("Handed in at the window")),
                       message=_("Materials recorded: the application is complete and the decision clock runs from today."))


@post("/applications/{application_id:int}/decide", opt=APPLICATION)
async def application_decide(request: Request, application_id: FromPath[int]) -> Response:
    app = await application_in_scope(principal(request), application_id)
    form = await read_form(request)
    outcome, reasons = form.str("outcome", 12), form.str("reasons", 2000)
    center = (await raw("SELECT id, code, name, path, phone FROM center WHERE id = {}", app["center"]))[0]
    message = _("Legal aid granted: assign a legal-aid worker within the limit.") if outcome == "grant" else \
        _("Legal aid refused: the numbered notice was issued and the applicant told.")
    return await _step(request, application_id,
                       lambda: apps.decide(who(request), application_id, outcome, reasons, center=center),
                       {"outcome": outcome, "reasons": reasons}, message)


@post("/applications/{application_id:int}/assign", opt=APPLICATION)
async def application_assign(request: Request, application_id: FromPath[int]) -> Response:
    app = await application_in_scope(principal(request), application_id)
    form = await read_form(request)
    lawyer_id, external = form.str("lawyer", 12), form.str("external", 100)
    center = (await raw("SELECT id, path FROM center WHERE id = {}", app["center"]))[0]
    choices = {str(l["id"]): l for l in await _lawyers_to_assign(center)}
    if lawyer_id and lawyer_id not in choices:
        return await _application_page(request, application_id, {"lawyer": _("Choose a lawyer from the list.")},
                                       {"lawyer": lawyer_id, "external": external}, status=422)
    lawyer = choices.get(lawyer_id) if lawyer_id else None
    return await _step(request, application_id,
                       lambda: apps.assign(who(request), application_id, lawyer=lawyer, external=external),
                       {"lawyer": lawyer_id, "external": external}, _("Legal-aid worker assigned; the applicant was told."))


@get("/applications/{application_id:int}/notice", opt=APPLICATION)
async def application_notice(request: Request, application_id: FromPath[int]) -> Response:
    app = await application_in_scope(principal(request), application_id)
    rows = await raw("SELECT * FROM legal_aid_notice WHERE application = {}", app["id"])
    if not rows:
        raise NotFoundException()
    return await render(request, "legal_aid/application_notice.html", {
        "title": rows[0]["title"], "notice": rows[0], "issuer": app["center_name"],
        "back": f"/m/legal_aid/applications/{app['id']}",
    }, headers={"Cache-Control": "no-store"})


@get("/documents/{document_id:int}", opt={**APPLICATIONS, "scope_loaders": {"document_id": document_in_scope}})
async def document_download(request: Request, document_id: FromPath[int]) -> Response:
    row = await document_in_scope(principal(request), document_id)
    content = path_for(request.app.state.settings.data_dir, row["sha256"]).read_bytes()
    async with write_transaction():
        await trail(request)("legal_aid.document_read", object_type="legal_aid_application", object_id=row["application"],
                             fields=("document",))
    return Response(content=content, media_type=row["content_type"], headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(row['filename'])}", "Cache-Control": "no-store"})


# ----------------------------------------------------------------------------- numbers


@get("/numbers", opt={"permission": "legal_aid.summary"})
async def numbers_page(request: Request) -> Response:
    from plugins.legal_aid.numbers import month_numbers, parse_month

    user = principal(request)
    month_text = (request.query_params.get("month") or "").strip()
    errors = {}
    month = parse_month(month_text) if month_text else None
    if month_text and month is None:
        errors["month"] = _("Enter a month like 2026-11.")
    if month is None:
        today = roster.today()
        month = dt.date(today.year, today.month, 1)
    centers = await module_centers(user)
    rows, total = await month_numbers(centers, month)
    return await render(request, "legal_aid/numbers.html", {
        "title": _("Legal-aid numbers"), "rows": rows, "total": total, "month": month, "month_text": month_text or
        month.strftime("%Y-%m"), "errors": errors,
    })


ROUTES = [
    lawyers, lawyer_create, lawyer_page, lawyer_update, roster_page, roster_add, roster_remove, settings_page, settings_save,
    application_list, application_new, application_create, application_page, application_complete, application_materials,
    application_supply, application_decide, application_assign, application_notice, document_download, numbers_page,
]
