"""Pages of the duty lawyer's consultation log (mounted at /m/legal_aid by core, behind ``module_guard``).

Lawyers (``legal_aid.log``): the desk (today's bookings, today's entries), the one-form log with
snippets, a draft saved as they type, the check step and the save; their entries (edited on the
day only), their log with search, the monthly summary, the hand-over to the window.
Center admins and leaders (``legal_aid.summary``): counts without personal details.
Audit viewers (``legal_aid.audit_logs``): the entries, read-only, every read audited, also where
the module has since been switched off (``module_at: always``).
Window staff (``legal_aid.applications``): consultations handed over by lawyers.

Every lawyer page reads entries through ``entry_for_author``: another lawyer's entry is 404.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import unicodedata
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath

from portal import clock
from portal.centers.scope import centers_below, in_scope, prefix_range
from portal.db import create_once, insert, new_submission_key, raw, read, write_transaction
from portal.i18n import _
from portal.matters.codes import format_code, parse_code
from portal.notify.outbox import deliver_soon, queue_inapp
from portal.web.forms import normalize_phone, read_form
from portal.web.render import is_fragment_request, redirect, render
from portal.web.request import principal, trail

from plugins.legal_aid import consultations as cs
from plugins.legal_aid.conflicts import find_conflicts, lawyer_firm
from plugins.legal_aid.snippets import snippet_for_insert, snippets_for

__all__ = ["ROUTES", "log_nav", "log_widgets"]

LOG = {"permission": "legal_aid.log"}
SUMMARY = {"permission": "legal_aid.summary"}
# Read-only, guarded by the permission: the log stays readable where the module was switched off.
AUDIT = {"permission": "legal_aid.audit_logs", "module_at": "always"}
WINDOW = {"permission": "legal_aid.applications"}

PAGE_SIZE = 50
TEXT_MAX = 4000
NAME_MAX = 64
MINUTES_MAX = 480
BOOKING_STATES = ("booked", "checked_in")
# The field names of the log form (the draft, the hidden fields of the check page).
FIELDS = ("channel", "booking", "center", "person_name", "person_phone", "topic", "question", "advice", "route",
          "eligible", "minutes", "matter_code", "follow_up")


# ----------------------------------------------------------------------------- helpers


async def fetch(sql: str, *args) -> list[dict]:
    """Rows as plain dicts: the pages add display fields to them (PostgreSQL rows are read-only)."""
    return [dict(row) for row in await raw(sql, *args)]


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), clock.TZ_CN).astimezone(dt.timezone.utc)
    return start, start + dt.timedelta(days=1)


def parse_day(value: str) -> dt.date | None:
    text = unicodedata.normalize("NFKC", value or "").strip().replace("/", "-").replace(".", "-")
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


async def todays_bookings(user) -> list[dict]:
    """This lawyer's bookings of today (China time) at any center, with the entry that logged each."""
    start, end = day_bounds(cs.today())
    return await fetch(
        "SELECT b.id, b.code, b.starts_at, b.ends_at, b.name, b.phone, b.status, b.center, b.service_key, "
        "c.name AS center_name, (SELECT min(e.id) FROM legal_aid_consultation e WHERE e.booking = b.id) AS entry "
        "FROM booking b JOIN booking_resource r ON r.id = b.resource JOIN center c ON c.id = b.center "
        "WHERE r.staff = {} AND b.starts_at >= {} AND b.starts_at < {} AND b.status IN ('booked', 'checked_in') "
        "ORDER BY b.starts_at, b.id",
        user.user_id, start, end,
    )


async def log_centers(user, bookings: list[dict]) -> list[dict]:
    """Where a consultation may be logged: the lawyer's own center, the centers where the roster
    has them on duty today and those of today's bookings — where the module is enabled."""
    duty = await raw(
        "SELECT DISTINCT d.center FROM legal_aid_duty d JOIN legal_aid_lawyer l ON l.id = d.lawyer "
        "WHERE l.staff = {} AND d.day = {}", user.user_id, cs.today())
    ids = {user.center_id, *(row["center"] for row in duty), *(b["center"] for b in bookings)}
    marks = ", ".join("{}" for _ in ids)
    rows = await fetch(
        f"SELECT c.id, c.name, c.path FROM center c WHERE c.id IN ({marks}) AND (c.id = {{}} OR EXISTS "
        "(SELECT 1 FROM center_module m WHERE m.center = c.id AND m.module = 'legal_aid' AND m.allowed AND m.enabled)) "
        "ORDER BY c.path", *ids, user.center_id)
    duty_ids = [row["center"] for row in duty]
    for row in rows:
        row["on_duty"] = row["id"] in duty_ids
    return rows


def default_center(user, centers: list[dict]) -> int:
    on_duty = [c["id"] for c in centers if c["on_duty"]]
    return on_duty[0] if len(on_duty) == 1 else user.center_id


def _clean(text: str) -> str:
    return (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def read_values(form) -> dict:
    values = {name: _clean(form.str(name, 20000)) for name in FIELDS if name != "follow_up"}
    values["follow_up"] = form.flag("follow_up")
    values["minutes"] = unicodedata.normalize("NFKC", values["minutes"])
    return values


def empty_values(user, centers: list[dict]) -> dict:
    values = {name: "" for name in FIELDS}
    values.update(channel="walk_in", follow_up=False, center=str(default_center(user, centers)))
    return values


def values_from_entry(row: dict) -> dict:
    return {
        "channel": row["channel"], "booking": str(row["booking"] or ""), "center": str(row["center"]),
        "person_name": row["person_name"], "person_phone": row["person_phone"], "topic": row["topic"],
        "question": row["question"], "advice": row["advice"], "route": row["route"],
        "eligible": "yes" if row["eligible"] else "no", "minutes": str(row["minutes"]),
        "matter_code": format_code(row["matter_code"]) if row["matter_code"] else "", "follow_up": bool(row["follow_up"]),
    }


def values_from_booking(values: dict, booking: dict) -> dict:
    values = dict(values)
    values.update(channel="booked", booking=str(booking["id"]), center=str(booking["center"]))
    values["person_name"] = values["person_name"] or booking["name"] or ""
    values["person_phone"] = values["person_phone"] or booking["phone"] or ""
    return values


@dataclasses.dataclass
class Checked:
    """A valid form, ready to store."""

    channel: str
    booking: int | None
    center: int
    person_name: str
    person_phone: str
    topic: str
    question: str
    advice: str
    route: str
    eligible: bool
    minutes: int
    matter: int | None
    follow_up: bool


async def matter_by_code(user, code: str, center_path: str) -> dict | None:
    """The matter with this tracking code if it lies in the lawyer's or the log center's subtree.
    Only its id and code leave this function: the lawyer links, and reads nothing of it."""
    rows = await raw("SELECT id, code, center_path FROM matter WHERE code = {}", code)
    if not rows:
        return None
    row = rows[0]
    if not (in_scope(user, row["center_path"]) or row["center_path"].startswith(center_path)):
        return None
    return {"id": row["id"], "code": row["code"]}


async def check_values(user, values: dict, bookings: list[dict], centers: list[dict],
                       entry: dict | None = None) -> tuple[dict, Checked | None]:
    """Validate the log form. Returns (errors by field, the entry to store or None). ``values`` is
    updated in place with what the check normalises (phone, code, prefill from the booking)."""
    errors: dict[str, str] = {}
    channel = values["channel"]
    if channel not in cs.CHANNELS:
        errors["channel"] = _("Choose how the person reached you.")
    booking = None
    if channel == "booked":
        booking = next((b for b in bookings if str(b["id"]) == values["booking"]), None)
        if entry is not None and entry["booking"] and str(entry["booking"]) == values["booking"] and booking is None:
            booking = {"id": entry["booking"], "center": entry["center"], "name": "", "phone": ""}
        if booking is None:
            errors["booking"] = _("Choose the booking from today's bookings.")
        else:
            values.update(values_from_booking(values, booking))
    else:
        values["booking"] = ""
    if entry is not None:
        center_id = entry["center"]
    else:
        allowed = {str(c["id"]): c for c in centers}
        if booking is not None:
            center_id = booking["center"]
        elif values["center"] in allowed:
            center_id = int(values["center"])
        elif not values["center"]:
            center_id = default_center(user, centers)
            values["center"] = str(center_id)
        else:
            errors["center"] = _("Choose where the consultation took place.")
            center_id = user.center_id
    name = values["person_name"]
    if len(name) > NAME_MAX:
        errors["person_name"] = _("A name has at most %(max)s characters.", max=NAME_MAX)
    phone = ""
    if values["person_phone"]:
        phone = normalize_phone(values["person_phone"], allow_landline=True) or ""
        if not phone:
            errors["person_phone"] = _("Enter an 11-digit mobile number or a landline with its area code, "
                                       "like 13800138000 or 0936-1234567; leave it empty if the person gives none.")
        else:
            values["person_phone"] = phone
    if values["topic"] not in cs.TOPICS:
        errors["topic"] = _("Choose the topic of the consultation.")
    for field, missing in (("question", _("Write what the person asked.")),
                           ("advice", _("Write the advice you gave."))):
        if not values[field]:
            errors[field] = missing
        elif len(values[field]) > TEXT_MAX:
            errors[field] = _("This text has %(n)s characters; at most %(max)s.", n=len(values[field]), max=TEXT_MAX)
    if values["route"] not in cs.ROUTES:
        errors["route"] = _("Choose the route you recommended.")
    if values["eligible"] not in ("yes", "no"):
        errors["eligible"] = _("Say whether the person may be eligible for legal aid.")
    minutes = int(values["minutes"]) if values["minutes"].isdigit() and len(values["minutes"]) < 5 else 0
    if not 1 <= minutes <= MINUTES_MAX:
        errors["minutes"] = _("Enter the time spent in whole minutes, from 1 to %(max)s.", max=MINUTES_MAX)
    matter = None
    if values["matter_code"]:
        code = parse_code(values["matter_code"])
        center_path = next((c["path"] for c in centers if c["id"] == center_id), user.center_path)
        matter = await matter_by_code(user, code, center_path) if code else None
        if code is None:
            errors["matter_code"] = _("A tracking code has 12 letters and digits, like ABCD-EFGH-JKLM; check what you typed.")
        elif matter is None:
            errors["matter_code"] = _("No matter of this center or the centers below it has this tracking code.")
        else:
            values["matter_code"] = format_code(code)
    if errors:
        return errors, None
    return {}, Checked(
        channel=channel, booking=booking["id"] if booking else None, center=center_id,
        person_name="" if name == cs.ANONYMOUS else name, person_phone=phone, topic=values["topic"],
        question=values["question"], advice=values["advice"], route=values["route"],
        eligible=values["eligible"] == "yes", minutes=minutes, matter=matter["id"] if matter else None,
        follow_up=bool(values["follow_up"]),
    )


async def conflicts_for(user, checked: Checked, exclude_entry: int | None = None) -> list[dict]:
    if checked.matter is None:
        return []
    return await find_conflicts(author=user.user_id, firm=await lawyer_firm(user.user_id), matter_id=checked.matter,
                                person_name=checked.person_name, person_phone=checked.person_phone,
                                exclude_entry=exclude_entry)


# ----------------------------------------------------------------------------- drafts


async def load_draft(user) -> dict | None:
    rows = await raw("SELECT data, updated_at FROM legal_aid_draft WHERE staff = {}", user.user_id)
    if not rows:
        return None
    try:
        data = json.loads(rows[0]["data"] or "{}")
    except ValueError:
        return None
    if not isinstance(data, dict) or not any(data.get(name) for name in FIELDS if name not in ("channel", "center")):
        return None
    key = data.get("_key") or ""
    if key and await raw("SELECT 1 FROM submission_key WHERE key = {} AND result_url <> ''", key):
        return None  # the form was saved after all: nothing to restore
    values = {name: data.get(name, "") for name in FIELDS}
    values["follow_up"] = bool(data.get("follow_up"))
    return {"values": values, "key": key, "updated_at": rows[0]["updated_at"]}


async def save_draft(user, values: dict, key: str) -> None:
    data = json.dumps({**{name: values.get(name, "") for name in FIELDS}, "_key": key}, ensure_ascii=False)
    async with write_transaction():
        if key and await raw("SELECT 1 FROM submission_key WHERE key = {} AND result_url <> ''", key):
            return  # a late autosave after the save must not bring the saved form back as a draft
        updated = await raw("UPDATE legal_aid_draft SET data = {}, updated_at = {} WHERE staff = {} RETURNING id",
                            data, clock.now(), user.user_id)
        if not updated:
            await raw("INSERT INTO legal_aid_draft (staff, data, updated_at) VALUES ({}, {}, {}) "
                      "ON CONFLICT (staff) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                      user.user_id, data, clock.now())


# ----------------------------------------------------------------------------- the log form


def _booking_options(bookings: list[dict]) -> list[tuple[str, str]]:
    options = []
    for b in bookings:
        label = f"{clock.local(b['starts_at']):%H:%M} {b['code']}"
        if b["phone"]:
            label += f" {cs.mask_phone(b['phone'])}"
        if b["entry"]:
            label += "（已登记）"
        options.append((str(b["id"]), label))
    return options


async def snippet_options(user) -> list[tuple[str, str]]:
    return [(str(s["id"]), s["title"] + ("（共享）" if s["shared"] and s["owner"] != user.user_id else ""))
            for s in await snippets_for(user)]


async def form_context(request: Request, values: dict, errors: dict, *, key: str = "", entry: dict | None = None,
                       restored: dict | None = None, version: int | None = None) -> dict:
    user = principal(request)
    bookings = await todays_bookings(user)
    centers = await log_centers(user, bookings) if entry is None else []
    return {
        "title": _("Change a consultation entry") if entry else _("Log a consultation"),
        "values": values, "errors": errors, "submission_key": key, "entry": entry, "restored": restored,
        "action_url": f"/m/legal_aid/log/{entry['id']}/edit" if entry else "/m/legal_aid/log/new",
        "channels": list(cs.CHANNELS.items()), "topics": list(cs.TOPICS.items()), "routes": list(cs.ROUTES.items()),
        "bookings": _booking_options(bookings), "centers": [(str(c["id"]), c["name"]) for c in centers],
        "snippets": await snippet_options(user), "autosave": entry is None, "version": version,
    }


def check_context(values: dict, *, key: str, entry: dict | None, conflicts: list[dict], errors: dict,
                  center_name: str, version: int | None = None) -> dict:
    return {
        "title": _("Check the consultation entry"), "values": values, "submission_key": key, "entry": entry,
        "conflicts": conflicts, "errors": errors, "center_name": center_name, "version": version,
        "action_url": f"/m/legal_aid/log/{entry['id']}/edit" if entry else "/m/legal_aid/log/new",
        "labels": {"channel": cs.CHANNELS, "topic": cs.TOPICS, "route": cs.ROUTES},
        "masked_phone": cs.mask_phone(values["person_phone"]),
    }


async def _center_name(center_id: int) -> str:
    rows = await raw("SELECT name FROM center WHERE id = {}", center_id)
    return rows[0]["name"] if rows else ""


@get("/log/new", opt=LOG)
async def log_new(request: Request) -> Response:
    user = principal(request)
    bookings = await todays_bookings(user)
    centers = await log_centers(user, bookings)
    draft = await load_draft(user)
    booking_param = request.query_params.get("booking", "")
    values, restored, key = empty_values(user, centers), None, new_submission_key()
    booking = next((b for b in bookings if str(b["id"]) == booking_param), None) if booking_param else None
    if booking_param and booking is None:
        raise NotFoundException()  # not this lawyer's booking of today
    if draft and (booking is None or draft["values"].get("booking") == str(booking["id"])):
        values, restored, key = draft["values"], draft, draft["key"] or key
    elif booking is not None:
        values = values_from_booking(values, booking)
    context = await form_context(request, values, {}, key=key, restored=restored)
    context["other_draft"] = bool(draft) and restored is None
    return await render(request, "legal_aid/consult_form.html", context)


@post("/log/draft", opt=LOG)
async def log_draft(request: Request) -> Response:
    """The htmx autosave: one draft per lawyer, answered with a short status line."""
    user = principal(request)
    form = await read_form(request)
    if not is_fragment_request(request):
        return redirect(request, "/m/legal_aid/log/new")
    await save_draft(user, read_values(form), form.str("_submission_key"))
    text = _("Draft saved at %(time)s.", time=clock.local(clock.now()).strftime("%H:%M:%S"))
    return Response(content=text, media_type="text/html; charset=utf-8", status_code=200, headers={"Vary": "HX-Request"})


@post("/log/draft/clear", opt=LOG)
async def log_draft_clear(request: Request) -> Response:
    user = principal(request)
    async with write_transaction():
        await raw("DELETE FROM legal_aid_draft WHERE staff = {}", user.user_id)
    return redirect(request, "/m/legal_aid/log/new", _("Draft discarded."), "info")


@post("/log/snippet", opt=LOG)
async def log_snippet(request: Request) -> Response:
    """htmx: the advice field again, with the chosen snippet added at its end."""
    user = principal(request)
    form = await read_form(request)
    values = read_values(form)
    errors = {}
    snippet = await snippet_for_insert(user, form.int("snippet"))
    if snippet is None:
        errors["snippet"] = _("Choose a snippet to insert.")
    else:
        values["advice"] = _with_snippet(values["advice"], snippet["body"])
    if not is_fragment_request(request):
        context = await form_context(request, values, errors, key=form.str("_submission_key"))
        return await render(request, "legal_aid/consult_form.html", context, status=422 if errors else 200)
    return await render(request, "legal_aid/consult_advice.html",
                        {"values": values, "errors": errors, "snippets": await snippet_options(user), "focus_advice": True},
                        headers={"Vary": "HX-Request"})


def _with_snippet(advice: str, body: str) -> str:
    return f"{advice}\n{body}" if advice else body


async def _log_post(request: Request, entry: dict | None) -> Response:
    """The form's buttons: 插入 (snippet, without JS), 下一步 (check), 返回修改 (back), 确认保存 (save)."""
    user = principal(request)
    form = await read_form(request)
    action = form.str("action")
    values = read_values(form)
    key = form.str("_submission_key") if entry is None else ""
    version = form.int("version") if entry is not None else None
    template = "legal_aid/consult_form.html"

    async def form_page(errors: dict, status: int = 200) -> Response:
        context = await form_context(request, values, errors, key=key, entry=entry, version=version)
        return await render(request, template, context, status=status)

    if entry is None and action in ("snippet", "check", "back"):
        await save_draft(user, values, key)  # without JavaScript the draft follows each step instead
    if action == "snippet":
        snippet = await snippet_for_insert(user, form.int("snippet"))
        if snippet is None:
            return await form_page({"snippet": _("Choose a snippet to insert.")}, 422)
        values["advice"] = _with_snippet(values["advice"], snippet["body"])
        return await form_page({})
    if action not in ("check", "save"):
        return await form_page({})
    bookings = await todays_bookings(user)
    centers = await log_centers(user, bookings) if entry is None else []
    errors, checked = await check_values(user, values, bookings, centers, entry)
    if errors:
        return await form_page(errors, 422)
    assert checked is not None
    conflicts = await conflicts_for(user, checked, entry["id"] if entry else None)
    center_name = await _center_name(checked.center)
    if action == "check":
        context = check_context(values, key=key, entry=entry, conflicts=conflicts, errors={}, center_name=center_name,
                                version=version)
        return await render(request, "legal_aid/consult_check.html", context)
    ack = form.flag("conflict_ack")
    if entry is not None:
        return await _save_edit(request, entry, values, checked, ack, version, center_name)
    return await _save_new(request, values, checked, key, ack, center_name)


def _not_acknowledged() -> dict:
    return {"conflict_ack": _("Confirm that you have seen the possible conflict of interest before saving.")}


async def _save_new(request: Request, values: dict, checked: Checked, key: str, ack: bool, center_name: str) -> Response:
    user = principal(request)
    found: dict = {}

    async def validate() -> dict:
        # Again inside the transaction: an entry saved meanwhile by a colleague of the firm counts.
        found["conflicts"] = await conflicts_for(user, checked)
        return _not_acknowledged() if found["conflicts"] and not ack else {}

    async def create():
        now = clock.now()
        entry_id = await insert("legal_aid_consultation", {
            "center": checked.center, "author": user.user_id, "firm": await lawyer_firm(user.user_id),
            "day": cs.today(), "channel": checked.channel, "booking": checked.booking,
            "person_name": checked.person_name, "person_phone": checked.person_phone, "topic": checked.topic,
            "question": checked.question, "advice": checked.advice, "route": checked.route,
            "eligible": checked.eligible, "minutes": checked.minutes, "matter": checked.matter,
            "follow_up": checked.follow_up, "conflicts": json.dumps(found["conflicts"], ensure_ascii=False),
            "created_at": now, "updated_at": now, "version": 1,
        })
        await raw("DELETE FROM legal_aid_draft WHERE staff = {}", user.user_id)
        await trail(request)("legal_aid.consultation_logged", object_type="legal_aid_consultation", object_id=entry_id,
                             center_id=checked.center,
                             fields=("conflicts_acknowledged",) if found["conflicts"] else ())
        return f"/m/legal_aid/log/{entry_id}", entry_id

    result = await create_once(key, "legal_aid.consultation", validate, create)
    if result.errors:
        context = check_context(values, key=key or new_submission_key(), entry=None, conflicts=found.get("conflicts", []),
                                errors=result.errors, center_name=center_name)
        return await render(request, "legal_aid/consult_check.html", context, status=422)
    if result.duplicate:
        return redirect(request, result.url)
    return redirect(request, result.url, _("Consultation saved."))


def _editable(entry: dict) -> bool:
    return cs.as_date(entry["day"]) == cs.today()


def _refused(request: Request, entry: dict) -> Response:
    day = cs.as_date(entry["day"])
    day_text = f"{day.month}月{day.day}日"
    return redirect(request, f"/m/legal_aid/log/{entry['id']}",
                    _("An entry can be changed only on the day it was logged (%(day)s). Log a new consultation "
                      "to add what came later.", day=day_text), "error")


async def _save_edit(request: Request, entry: dict, values: dict, checked: Checked, ack: bool, version: int | None,
                     center_name: str) -> Response:
    user = principal(request)
    problem: dict = {}
    conflicts: list[dict] = []
    async with write_transaction():
        fresh = await cs.entry_for_author(user, entry["id"])
        if not _editable(fresh):
            problem["refused"] = True
        elif version != fresh["version"]:
            problem["errors"] = {"version": _("This entry was changed in another window meanwhile. "
                                              "Open it again and make your change there.")}
        else:
            conflicts = await conflicts_for(user, checked, entry["id"])
            if conflicts and not ack:
                problem["errors"] = _not_acknowledged()
            else:
                new = {
                    "channel": checked.channel, "booking": checked.booking, "person_name": checked.person_name,
                    "person_phone": checked.person_phone, "topic": checked.topic, "question": checked.question,
                    "advice": checked.advice, "route": checked.route, "eligible": checked.eligible,
                    "minutes": checked.minutes, "matter": checked.matter, "follow_up": checked.follow_up,
                }
                changed = tuple(name for name, value in new.items()
                                if (bool(fresh[name]) if isinstance(value, bool) else fresh[name]) != value)
                new["conflicts"] = json.dumps(conflicts, ensure_ascii=False)
                sets = ", ".join(f"{name} = {{}}" for name in new)
                await raw(f"UPDATE legal_aid_consultation SET {sets}, updated_at = {{}}, version = version + 1 "
                          f"WHERE id = {{}} AND version = {{}}", *new.values(), clock.now(), entry["id"], fresh["version"])
                await trail(request)("legal_aid.consultation_changed", object_type="legal_aid_consultation",
                                     object_id=entry["id"], center_id=fresh["center"], fields=changed)
    if problem.get("refused"):
        return _refused(request, entry)
    if problem.get("errors"):
        context = check_context(values, key="", entry=entry, conflicts=conflicts, errors=problem["errors"],
                                center_name=center_name, version=version)
        return await render(request, "legal_aid/consult_check.html", context, status=409 if "version" in problem["errors"] else 422)
    return redirect(request, f"/m/legal_aid/log/{entry['id']}", _("Changes saved."))


@post("/log/new", opt=LOG)
async def log_create(request: Request) -> Response:
    return await _log_post(request, None)


@get("/log/{entry_id:int}/edit", opt=LOG)
async def log_edit_form(request: Request, entry_id: FromPath[int]) -> Response:
    entry = await cs.entry_for_author(principal(request), entry_id)
    if not _editable(entry):
        return _refused(request, entry)
    context = await form_context(request, values_from_entry(entry), {}, entry=entry, version=entry["version"])
    return await render(request, "legal_aid/consult_form.html", context)


@post("/log/{entry_id:int}/edit", opt=LOG)
async def log_edit(request: Request, entry_id: FromPath[int]) -> Response:
    entry = await cs.entry_for_author(principal(request), entry_id)
    if not _editable(entry):
        return _refused(request, entry)
    return await _log_post(request, entry)


# ----------------------------------------------------------------------------- one entry, hand-over


async def handovers_of(entry_ids: list[int]) -> dict[int, dict]:
    """The hand-overs of these entries by entry and kind, with the matter the window registered
    (read from the one-time key of the prefilled window form: core records what it created)."""
    if not entry_ids:
        return {}
    marks = ", ".join("{}" for _ in entry_ids)
    rows = await fetch(
        "SELECT h.*, k.result_url FROM legal_aid_handover h LEFT JOIN submission_key k "
        f"ON k.key = h.submission_key AND k.result_url <> '' WHERE h.consultation IN ({marks}) ORDER BY h.id",
        *entry_ids,
    )
    matter_ids = {}
    for row in rows:
        url = row["result_url"] or ""
        if url.startswith("/matters/") and url.rsplit("/", 1)[-1].isdigit():
            matter_ids[row["id"]] = int(url.rsplit("/", 1)[-1])
    codes = {}
    if matter_ids:
        found = await raw("SELECT id, code FROM matter WHERE id IN (" + ", ".join("{}" for _ in matter_ids) + ")",
                          *matter_ids.values())
        codes = {row["id"]: row["code"] for row in found}
    result: dict[int, dict] = {}
    for row in rows:
        matter = matter_ids.get(row["id"])
        row["matter_id"] = matter
        row["matter_code"] = codes.get(matter) if matter else None
        row["done"] = row["status"] == "done" or matter is not None
        result.setdefault(row["consultation"], {})[row["kind"]] = row
    return result


def entry_view(row: dict) -> dict:
    row = dict(row)
    row["person"] = row["person_name"] or cs.ANONYMOUS
    row["conflict_list"] = cs.decode_conflicts(row)
    return row


@get("/log/{entry_id:int}", opt=LOG)
async def log_entry(request: Request, entry_id: FromPath[int]) -> Response:
    entry = await cs.entry_for_author(principal(request), entry_id)
    handovers = (await handovers_of([entry_id])).get(entry_id, {})
    return await render(request, "legal_aid/consult_entry.html", {
        "title": _("Consultation entry"), "e": entry_view(entry), "editable": _editable(entry),
        "handovers": handovers, "labels": {"channel": cs.CHANNELS, "topic": cs.TOPICS, "route": cs.ROUTES},
    })


HANDOVER_KINDS = ("matter", "application")


@post("/log/{entry_id:int}/handover", opt=LOG)
async def log_handover(request: Request, entry_id: FromPath[int]) -> Response:
    """The lawyer hands the consultation to the window: a lawyer cannot register a matter or take
    an application; the window staff open a form with the details carried over."""
    user = principal(request)
    form = await read_form(request)
    kind = form.str("kind")
    if kind not in HANDOVER_KINDS:
        raise NotFoundException()
    async with write_transaction():
        entry = await cs.entry_for_author(user, entry_id)
        created = await raw(
            "INSERT INTO legal_aid_handover (consultation, center, kind, submission_key, status, created_at, created_by) "
            "VALUES ({}, {}, {}, {}, 'open', {}, {}) ON CONFLICT (consultation, kind) DO NOTHING RETURNING id",
            entry_id, entry["center"], kind, new_submission_key(), clock.now(), user.user_id,
        )
        if created:
            await trail(request)("legal_aid.handed_over", object_type="legal_aid_consultation", object_id=entry_id,
                                 center_id=entry["center"], fields=(kind,))
            text = ("值班律师转来一条咨询，请登记为事项。" if kind == "matter"
                    else "值班律师转来一条咨询，请协助当事人申请法律援助。")
            for staff in await window_staff(entry["center"]):
                await queue_inapp(body=f"{text}（{cs.TOPICS.get(entry['topic'], '')}）", kind="legal_aid.handover",
                                  staff=staff["id"], center=entry["center"], link="/m/legal_aid/handovers")
    if created:
        deliver_soon(request.app)
    message = (_("Handed to the window: the window staff register the matter.") if kind == "matter"
               else _("Handed to the window: the window staff take the legal-aid application."))
    return redirect(request, f"/m/legal_aid/log/{entry_id}", message if created else _("Already handed to the window."),
                    "success" if created else "info")


async def window_staff(center_id: int) -> list[dict]:
    return await raw(
        "SELECT DISTINCT u.id FROM staff_user u JOIN staff_role r ON r.\"user\" = u.id "
        "WHERE u.active AND u.center = {} AND r.role = 'window_staff' ORDER BY u.id", center_id)


# ----------------------------------------------------------------------------- the desk and my log


@get("/desk", opt=LOG)
async def desk(request: Request) -> Response:
    user = principal(request)
    bookings = await todays_bookings(user)
    today = cs.today()
    entries = await fetch(
        "SELECT id, created_at, person_name, person_phone, topic, route, channel FROM legal_aid_consultation "
        "WHERE author = {} AND day = {} ORDER BY id DESC", user.user_id, today)
    for b in bookings:
        b["masked_phone"] = cs.mask_phone(b["phone"])
        b["masked_name"] = cs.mask_name(b["name"]) if b["name"] else ""
    for e in entries:
        e["masked"] = cs.mask_name(e["person_name"])
        e["masked_phone"] = cs.mask_phone(e["person_phone"])
    return await render(request, "legal_aid/my_desk.html", {
        "title": _("Duty lawyer's desk"), "bookings": bookings, "entries": entries, "today": today,
        "draft": await load_draft(user), "topics": cs.TOPICS, "routes": cs.ROUTES, "channels": cs.CHANNELS,
    })


@dataclasses.dataclass
class Search:
    text: str = ""
    topic: str = ""
    start: str = ""
    end: str = ""

    def query(self, **extra) -> str:
        params = {k: v for k, v in {"q": self.text, "topic": self.topic, "from": self.start, "to": self.end, **extra}.items() if v}
        return urlencode(params)


def read_search(params) -> tuple[Search, dict, dict]:
    """(search as typed, errors, SQL pieces {where: [...], args: [...]})."""
    search = Search(text=(params.get("q") or "").strip()[:100], topic=params.get("topic", ""),
                    start=(params.get("from") or "").strip(), end=(params.get("to") or "").strip())
    errors: dict[str, str] = {}
    where: list[str] = []
    args: list = []
    if search.topic and search.topic not in cs.TOPICS:
        search.topic = ""
    if search.topic:
        where.append("e.topic = {}")
        args.append(search.topic)
    start = parse_day(search.start)
    end = parse_day(search.end)
    if search.start and start is None:
        errors["from"] = _("Enter the first day as a date, like 2026-11-01.")
    if search.end and end is None:
        errors["to"] = _("Enter the last day as a date, like 2026-11-30.")
    if start and end and end < start:
        errors["to"] = _("The last day comes before the first day.")
    if not errors:
        if start:
            where.append("e.day >= {}")
            args.append(start)
        if end:
            where.append("e.day <= {}")
            args.append(end)
    if search.text:
        pattern = "%" + search.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(lower(e.question) LIKE {} ESCAPE '\\' OR lower(e.advice) LIKE {} ESCAPE '\\' "
                     "OR lower(e.person_name) LIKE {} ESCAPE '\\')")
        args += [pattern, pattern, pattern]
    return search, errors, {"where": where, "args": args}


@get("/log", opt=LOG)
async def my_log(request: Request) -> Response:
    user = principal(request)
    params = request.query_params
    search, errors, sql = read_search(params)
    where = ["e.author = {}", *sql["where"]]
    args = [user.user_id, *sql["args"]]
    before = params.get("before", "")
    if before.isdigit() and len(before) < 12:
        where.append("e.id < {}")
        args.append(int(before))
    rows = await fetch(
        "SELECT e.id, e.day, e.created_at, e.person_name, e.person_phone, e.topic, e.route, e.channel, e.question, "
        "e.minutes, c.name AS center_name FROM legal_aid_consultation e JOIN center c ON c.id = e.center "
        f"WHERE {' AND '.join(where)} ORDER BY e.id DESC LIMIT {PAGE_SIZE + 1}", *args)
    more = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        more = "?" + search.query(before=rows[-1]["id"])
    for row in rows:
        row["masked"] = cs.mask_name(row["person_name"])
        row["masked_phone"] = cs.mask_phone(row["person_phone"])
        row["excerpt"] = cs.scrub(row["question"])[:60]
    return await render(request, "legal_aid/my_log.html", {
        "title": _("My consultation log"), "rows": rows, "more": more, "search": search, "errors": errors,
        "topics": cs.TOPICS, "routes": cs.ROUTES, "export_query": search.query(),
    }, status=422 if errors else 200)


@get("/log/month", opt=LOG)
async def my_month(request: Request) -> Response:
    user = principal(request)
    text = (request.query_params.get("month") or "").strip()
    bounds = cs.month_bounds(text) if text else cs.month_bounds(cs.today())
    errors = {}
    if bounds is None:
        errors["month"] = _("Enter a month like 2026-11.")
        bounds = cs.month_bounds(cs.today())
    start, end = bounds
    rows = await fetch(
        "SELECT topic, route, count(*) AS n, sum(minutes) AS minutes, sum(CASE WHEN eligible THEN 1 ELSE 0 END) AS eligible, "
        "sum(CASE WHEN follow_up THEN 1 ELSE 0 END) AS follow_up FROM legal_aid_consultation "
        "WHERE author = {} AND day >= {} AND day < {} GROUP BY topic, route", user.user_id, start, end)
    totals = {"n": 0, "minutes": 0, "eligible": 0, "follow_up": 0}
    topics: dict[str, dict] = {}
    routes: dict[str, int] = {}
    for row in rows:
        n = int(row["n"])
        for name in totals:
            totals[name] += n if name == "n" else int(row[name] or 0)
        topic = topics.setdefault(row["topic"], {"n": 0, "minutes": 0})
        topic["n"] += n
        topic["minutes"] += int(row["minutes"] or 0)
        routes[row["route"]] = routes.get(row["route"], 0) + n
    previous = (start - dt.timedelta(days=1)).strftime("%Y-%m")
    following = end.strftime("%Y-%m") if end <= cs.today() else ""
    return await render(request, "legal_aid/my_summary.html", {
        "title": _("My month"), "month": start.strftime("%Y-%m"), "month_label": f"{start.year}年{start.month}月",
        "totals": totals, "topics": [(key, label, topics[key]) for key, label in cs.TOPICS.items() if key in topics],
        "routes": [(key, label, routes[key]) for key, label in cs.ROUTES.items() if key in routes],
        "previous": previous, "following": following, "errors": errors, "typed": text,
        "month_end": (end - dt.timedelta(days=1)).isoformat(),
    }, status=422 if errors else 200)


# ----------------------------------------------------------------------------- center summary


@get("/log/summary", opt=SUMMARY)
async def center_summary(request: Request) -> Response:
    """Counts for the center admin and leader: no consulted person's name, phone, question or advice."""
    user = principal(request)
    text = (request.query_params.get("year") or "").strip()
    errors = {}
    year = cs.today().year
    if text:
        if text.isdigit() and 2000 <= int(text) <= 2100:
            year = int(text)
        else:
            errors["year"] = _("Enter a year like 2026.")
    start, end = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    data = await cs.summary_rows(user.center_path, start, end)
    return await render(request, "legal_aid/summary_center.html", {
        "title": _("Consultation summary"), "year": year, "months": data["months"], "lawyers": data["lawyers"],
        "topics": cs.TOPICS, "routes": cs.ROUTES, "errors": errors, "typed": text,
    }, status=422 if errors else 200)


# ----------------------------------------------------------------------------- the audit viewer


@get("/audit/log", opt=AUDIT)
async def audit_list(request: Request) -> Response:
    user = principal(request)
    params = request.query_params
    search, errors, sql = read_search(params)
    centers = await centers_below(user.center_path, request.app.state.memo)
    low, high = prefix_range(user.center_path)
    where = ["c.path >= {} AND c.path < {}", *sql["where"]]
    args: list = [low, high, *sql["args"]]
    center = params.get("center", "")
    if center.isdigit() and int(center) in {c["id"] for c in centers}:
        where.append("e.center = {}")
        args.append(int(center))
    else:
        center = ""
    before = params.get("before", "")
    if before.isdigit() and len(before) < 12:
        where.append("e.id < {}")
        args.append(int(before))
    rows = await fetch(
        "SELECT e.id, e.day, e.created_at, e.person_name, e.topic, e.route, e.channel, c.name AS center_name, "
        "s.display_name AS author_name FROM legal_aid_consultation e JOIN center c ON c.id = e.center "
        f"JOIN staff_user s ON s.id = e.author WHERE {' AND '.join(where)} ORDER BY e.id DESC LIMIT {PAGE_SIZE + 1}",
        *args)
    more = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        more = "?" + search.query(center=center, before=rows[-1]["id"])
    for row in rows:
        row["masked"] = cs.mask_name(row["person_name"])
    async with write_transaction():
        await trail(request)("legal_aid.log_listed", object_type="legal_aid_consultation",
                             object_id=",".join(str(r["id"]) for r in rows)[:200], center_id=user.center_id)
    return await render(request, "legal_aid/log_audit.html", {
        "title": _("Lawyers' consultation logs"), "rows": rows, "more": more, "search": search, "errors": errors,
        "topics": cs.TOPICS, "routes": cs.ROUTES, "centers": [(str(c["id"]), c["name"]) for c in centers],
        "center": center,
    }, status=422 if errors else 200)


@get("/audit/log/{entry_id:int}", opt=AUDIT)
async def audit_entry(request: Request, entry_id: FromPath[int]) -> Response:
    user = principal(request)
    entry = await cs.entry_for_auditor(user, entry_id)
    async with write_transaction():
        await trail(request)("legal_aid.log_read", object_type="legal_aid_consultation", object_id=entry_id,
                             center_id=entry["center"])
    view = entry_view(entry)
    view["masked_phone"] = cs.mask_phone(entry["person_phone"])
    return await render(request, "legal_aid/log_audit_entry.html", {
        "title": _("Consultation entry"), "e": view,
        "labels": {"channel": cs.CHANNELS, "topic": cs.TOPICS, "route": cs.ROUTES},
    })


# ----------------------------------------------------------------------------- the window's hand-over list


async def _handover_in_scope(user, handover_id: int) -> dict:
    rows = await fetch(
        "SELECT h.*, c.path AS center_path FROM legal_aid_handover h JOIN center c ON c.id = h.center WHERE h.id = {}",
        handover_id)
    if not rows or not in_scope(user, rows[0]["center_path"]):
        raise NotFoundException()
    return rows[0]


@get("/handovers", opt=WINDOW)
async def handover_list(request: Request) -> Response:
    user = principal(request)
    low, high = prefix_range(user.center_path)
    rows = await fetch(
        "SELECT h.id, h.kind, h.status, h.created_at, h.consultation, e.person_name, e.person_phone, e.topic, "
        "c.name AS center_name, s.display_name AS lawyer_name FROM legal_aid_handover h "
        "JOIN legal_aid_consultation e ON e.id = h.consultation JOIN center c ON c.id = h.center "
        "JOIN staff_user s ON s.id = h.created_by "
        "WHERE c.path >= {} AND c.path < {} ORDER BY h.id DESC LIMIT 200", low, high)
    states = await handovers_of(sorted({r["consultation"] for r in rows}))
    for row in rows:
        state = states.get(row["consultation"], {}).get(row["kind"], {})
        row["done"] = state.get("done", False)
        row["matter_code"] = state.get("matter_code")
        row["matter_id"] = state.get("matter_id")
        row["masked"] = cs.mask_name(row["person_name"])
        row["masked_phone"] = cs.mask_phone(row["person_phone"])
    return await render(request, "legal_aid/log_handovers.html", {
        "title": _("Consultations handed over by lawyers"), "open": [r for r in rows if not r["done"]],
        "done": [r for r in rows if r["done"]][:50], "topics": cs.TOPICS,
        "can_register": user.can("matters.register"),
    })


def matter_values(entry: dict) -> dict:
    """The window's registration form filled from a consultation."""
    from portal.matters.forms import MAX_REPRESENTATIVES

    topic = cs.TOPICS.get(entry["topic"], "")
    question = entry["question"]
    first_line = question.splitlines()[0] if question else ""
    day = cs.as_date(entry["day"])
    values = {
        "channel": {"phone": "phone", "letter": "letter"}.get(entry["channel"], "visit"), "kind": "dispute",
        "category": cs.MATTER_CATEGORY.get(entry["topic"], "other"),
        "summary": f"{topic}：{first_line}"[:200], "request": question[:4000],
        "facts": f"值班律师{entry['author_name']}于{day.year}年{day.month}月{day.day}日接待咨询，"
                 f"建议途径：{cs.ROUTES.get(entry['route'], '')}。律师意见：{entry['advice']}"[:8000],
        "petitioner_name": entry["person_name"], "petitioner_phone": entry["person_phone"],
        "petitioner_address": "", "people_count": "1", "parties": "", "place": "", "place_center": "",
    }
    for i in range(1, MAX_REPRESENTATIVES + 1):
        values[f"rep{i}_name"] = values[f"rep{i}_phone"] = ""
    return values


@get("/handovers/{handover_id:int}/matter", opt=WINDOW)
async def handover_matter(request: Request, handover_id: FromPath[int]) -> Response:
    """Core's window registration form, filled from the consultation; it posts to /matters/new with
    the hand-over's one-time key, so the matter is registered once however often it is opened."""
    from portal.matters.forms import MAX_REPRESENTATIVES
    from portal.matters.vocab import CATEGORIES, CHANNELS, WINDOW_CHANNELS

    user = principal(request)
    if not user.can("matters.register"):
        raise PermissionDeniedException()
    handover = await _handover_in_scope(user, handover_id)
    if handover["kind"] != "matter":
        raise NotFoundException()
    state = (await handovers_of([handover["consultation"]]))[handover["consultation"]]["matter"]
    if state["matter_id"]:
        return redirect(request, f"/matters/{state['matter_id']}", _("This consultation is already registered as a matter."), "info")
    entry = (await raw("SELECT e.*, s.display_name AS author_name FROM legal_aid_consultation e "
                       "JOIN staff_user s ON s.id = e.author WHERE e.id = {}", handover["consultation"]))[0]
    centers = await centers_below(user.center_path, request.app.state.memo)
    return await render(request, "matters/new.html", {
        "title": _("Register a matter"), "values": matter_values(entry), "errors": {},
        "submission_key": handover["submission_key"], "channels": [(c, CHANNELS[c]) for c in WINDOW_CHANNELS],
        "categories": list(CATEGORIES.items()), "centers": [(c["id"], c["name"]) for c in centers],
        "rep_slots": range(1, MAX_REPRESENTATIVES + 1),
    })


@post("/handovers/{handover_id:int}/close", opt=WINDOW)
async def handover_close(request: Request, handover_id: FromPath[int]) -> Response:
    user = principal(request)
    async with write_transaction():
        handover = await _handover_in_scope(user, handover_id)
        closed = await raw("UPDATE legal_aid_handover SET status = 'done', closed_at = {}, closed_by = {} "
                           "WHERE id = {} AND status = 'open' RETURNING id", clock.now(), user.user_id, handover_id)
        if closed:
            await trail(request)("legal_aid.handover_closed", object_type="legal_aid_handover", object_id=handover_id,
                                 center_id=handover["center"])
    return redirect(request, "/m/legal_aid/handovers", _("Marked as dealt with.") if closed else None)


# ----------------------------------------------------------------------------- nav and widgets


def log_nav(user) -> list:
    from portal.plugin_api import NavItem

    return [
        NavItem("值班律师工作台", "/m/legal_aid/desk", order=45, permission="legal_aid.log"),
        NavItem("律师咨询统计", "/m/legal_aid/log/summary", order=47, permission="legal_aid.summary"),
        NavItem("律师咨询台账", "/m/legal_aid/audit/log", order=48, permission="legal_aid.audit_logs"),
        NavItem("律师转交", "/m/legal_aid/handovers", order=46, permission="legal_aid.applications"),
    ]


async def log_widgets(user) -> list:
    from portal.plugin_api import Widget

    widgets = []
    if user.can("legal_aid.log"):
        bookings = await todays_bookings(user)
        logged = await read("SELECT count(*) AS n FROM legal_aid_consultation WHERE author = {} AND day = {}",
                           user.user_id, cs.today())
        widgets.append(Widget("值班律师工作台", "legal_aid/my_widget.html", {
            "bookings": len(bookings), "waiting": sum(1 for b in bookings if not b["entry"]),
            "logged": int(logged[0]["n"]),
        }, order=12))
    if user.can("legal_aid.applications"):
        low, high = prefix_range(user.center_path)
        rows = await read(
            "SELECT h.consultation, h.kind FROM legal_aid_handover h JOIN center c ON c.id = h.center "
            "WHERE h.status = 'open' AND c.path >= {} AND c.path < {}", low, high)
        states = await handovers_of(sorted({r["consultation"] for r in rows}))
        waiting = sum(1 for r in rows if not states.get(r["consultation"], {}).get(r["kind"], {}).get("done"))
        if waiting:
            widgets.append(Widget("律师转交", "legal_aid/my_handover_widget.html", {"waiting": waiting}, order=22))
    return widgets


ROUTES = [
    log_new, log_draft, log_draft_clear, log_snippet, log_create, log_edit_form, log_edit, log_entry, log_handover,
    desk, my_log, my_month, center_summary, audit_list, audit_entry, handover_list, handover_matter, handover_close,
]
