"""Staff pages of the counseling module (mounted at /m/counseling behind ``module_guard``).

* ``/settings`` (``counseling.manage``): counselors as booking resources (hours on the engine's own
  resource page), supervisors, crisis contacts, retention, consent text version, the room's phone;
* ``/book`` (``counseling.book_for``): book on someone's behalf through the engine (a name or
  pseudonym and a mobile number; the engine's confirmation SMS, worded discreetly);
* ``/bookings`` (the counselor's own): consent (given on the counselor's screen when not online),
  the self-screening (counselor only, each reading audited), raising a crisis flag;
* ``/crisis``: the flags and their checklist (crisis contacts, the counselor, supervisors);
* ``/numbers`` (``counseling.numbers``): anonymous monthly counts.

Pages about one record carry no ``permission`` opt on purpose: the record's loader decides, and
anyone it does not admit gets 404 — the same answer as for an id that does not exist.
"""

from __future__ import annotations

import datetime as dt
import logging

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal import clock
from portal.bookings import availability as av
from portal.bookings import service as engine
from portal.bookings.catalog import service_at
from portal.bookings.views import describe, parse_slot, slot_days
from portal.centers.modules import module_rows
from portal.centers.scope import centers_below
from portal.db import create_once, new_submission_key, raw, write_transaction
from portal.i18n import _
from portal.notify.outbox import deliver_soon
from portal.web.forms import normalize_phone, read_form
from portal.web.render import redirect, render
from portal.web.request import principal, trail

from plugins.counseling import booking as bk
from plugins.counseling import consent as cs
from plugins.counseling import crisis as cr
from plugins.counseling import numbers as nb
from plugins.counseling import screening as sc
from plugins.counseling.notes_crypto import CounselingKeyError, open_cipher

log = logging.getLogger("portal.counseling")

__all__ = ["ROUTES"]

MANAGE = {"permission": "counseling.manage"}
BOOK_FOR = {"permission": "counseling.book_for"}
NUMBERS = {"permission": "counseling.numbers"}
NO_STORE = {"Cache-Control": "no-store"}
MAX_RETENTION_DAYS = 36500


# ----------------------------------------------------------------------------- settings


async def _settings_context(request: Request, values: dict | None = None, errors: dict | None = None,
                            contact_values: dict | None = None) -> dict:
    user = principal(request)
    settings = await bk.load_settings(user.center_id)
    counselors = await bk.center_counselors(user.center_id)
    staff = await raw("SELECT id, display_name, phone FROM staff_user WHERE center = {} AND active ORDER BY display_name, id",
                      user.center_id)
    return {
        "title": _("Counseling settings"),
        "settings": settings,
        "values": values or {"retention_days": settings["retention_days"], "consent_version": settings["consent_version"],
                             "phone": settings["phone"]},
        "errors": errors or {},
        "contact_values": contact_values or {},
        "counselors": counselors,
        "supervisor_ids": {row["staff"] for row in await bk.supervisors(user.center_id)},
        "contacts": await bk.crisis_contacts(user.center_id),
        "staff": staff,
        "versions": [(v, f"{v}：{cs.TEXTS[v][0]}") for v in cs.TEXTS],
        "submission_key": new_submission_key(),
    }


@get("/settings", opt=MANAGE)
async def settings_page(request: Request) -> Response:
    return await render(request, "counseling/settings.html", await _settings_context(request), headers=NO_STORE)


@post("/settings", opt=MANAGE)
async def save_settings(request: Request) -> Response:
    user = principal(request)
    form = await read_form(request)
    values = {"retention_days": form.str("retention_days", 8, ascii_fold=True), "consent_version": form.str("consent_version", 16),
              "phone": form.str("phone", 40)}
    errors = {}
    days = int(values["retention_days"]) if values["retention_days"].isdigit() else None
    if days is None or not 1 <= days <= MAX_RETENTION_DAYS:
        errors["retention_days"] = _("Enter the number of days, from 1 to %(n)s.", n=MAX_RETENTION_DAYS)
    if values["consent_version"] not in cs.TEXTS:
        errors["consent_version"] = _("Choose a consent text from the list.")
    phone = ""
    if values["phone"]:
        phone = normalize_phone(values["phone"], allow_landline=True)
        if phone is None:
            errors["phone"] = _("Enter a mobile number or a landline such as 0936-8212000.")
    if errors:
        return await render(request, "counseling/settings.html", await _settings_context(request, values, errors), status=422,
                            headers=NO_STORE)
    async with write_transaction():
        await raw(
            "INSERT INTO counseling_settings (center, retention_days, consent_version, phone, updated_at, updated_by) "
            "VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT (center) DO UPDATE SET retention_days = excluded.retention_days, "
            "consent_version = excluded.consent_version, phone = excluded.phone, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            user.center_id, days, values["consent_version"], phone, clock.now(), user.user_id,
        )
        await trail(request)("counseling.settings_changed", object_type="counseling_settings", object_id=user.center_id,
                             center_id=user.center_id, fields=("retention_days", "consent_version", "phone"))
    return redirect(request, "/m/counseling/settings", _("Settings saved."))


@post("/settings/supervisors", opt=MANAGE)
async def save_supervisors(request: Request) -> Response:
    user = principal(request)
    form = await read_form(request)
    counselor_ids = {row["id"] for row in await bk.center_counselors(user.center_id)}
    chosen = {int(v) for v in form.list("supervisor") if v.isdigit() and int(v) in counselor_ids}
    async with write_transaction():
        current = {row["staff"] for row in await bk.supervisors(user.center_id)}
        for staff_id in current - chosen:
            await raw("DELETE FROM counseling_supervisor WHERE center = {} AND staff = {}", user.center_id, staff_id)
        for staff_id in chosen - current:
            await raw("INSERT INTO counseling_supervisor (center, staff, created_at, created_by) VALUES ({}, {}, {}, {})",
                      user.center_id, staff_id, clock.now(), user.user_id)
        for staff_id in current ^ chosen:
            await trail(request)("counseling.supervisor_" + ("added" if staff_id in chosen else "removed"),
                                 object_type="staff_user", object_id=staff_id, center_id=user.center_id)
    return redirect(request, "/m/counseling/settings", _("Supervisors saved."))


@post("/settings/contacts", opt=MANAGE)
async def add_contact(request: Request) -> Response:
    user = principal(request)
    form = await read_form(request)
    values = {"contact": form.str("contact", 12), "contact_phone": form.str("contact_phone", 20)}
    staff = await raw("SELECT id, phone FROM staff_user WHERE id = {} AND center = {} AND active",
                      int(values["contact"]) if values["contact"].isdigit() else 0, user.center_id)
    errors = {}
    if not staff:
        errors["contact"] = _("Choose a staff member of your center.")
    phone = normalize_phone(values["contact_phone"] or (staff[0]["phone"] if staff else ""))
    if phone is None:
        errors["contact_phone"] = _("Enter the contact's 11-digit mobile number: the alert goes there by SMS.")
    if errors:
        return await render(request, "counseling/settings.html", await _settings_context(request, errors=errors, contact_values=values),
                            status=422, headers=NO_STORE)
    async with write_transaction():
        rows = await raw(
            "INSERT INTO counseling_crisis_contact (center, staff, phone, created_at, created_by) VALUES ({}, {}, {}, {}, {}) "
            "ON CONFLICT (center, staff) DO UPDATE SET phone = excluded.phone RETURNING id",
            user.center_id, staff[0]["id"], phone, clock.now(), user.user_id,
        )
        await trail(request)("counseling.crisis_contact_saved", object_type="counseling_crisis_contact", object_id=rows[0]["id"],
                             center_id=user.center_id, fields=("staff", "phone"))
    return redirect(request, "/m/counseling/settings#contacts", _("Crisis contact saved."))


@post("/settings/contacts/{contact_id:int}/delete", opt=MANAGE)
async def remove_contact(request: Request, contact_id: FromPath[int]) -> Response:
    user = principal(request)
    async with write_transaction():
        rows = await raw("DELETE FROM counseling_crisis_contact WHERE id = {} AND center = {} RETURNING id", contact_id, user.center_id)
        if not rows:
            raise NotFoundException()
        await trail(request)("counseling.crisis_contact_removed", object_type="counseling_crisis_contact", object_id=contact_id,
                             center_id=user.center_id)
    return redirect(request, "/m/counseling/settings#contacts", _("Crisis contact removed."))


@post("/settings/counselors/{counselor_id:int}/resource", opt=MANAGE)
async def counselor_resource(request: Request, counselor_id: FromPath[int]) -> Response:
    """Make a counselor bookable: their resource (all counseling services), then the engine's page
    for their weekly hours."""
    user = principal(request)
    counselor = next((c for c in await bk.center_counselors(user.center_id) if c["id"] == counselor_id), None)
    if counselor is None:
        raise NotFoundException()
    async with write_transaction():
        resource_id = await bk.ensure_resource(trail(request), user.center_id, counselor)
    return redirect(request, f"/admin/booking-resources/{resource_id}", _("The counselor can be booked. Now set the weekly hours."))


# ----------------------------------------------------------------------------- booking on someone's behalf


async def _book_context(request: Request, values: dict, errors: dict) -> dict:
    user = principal(request)
    services = [s for s in bk.SERVICES]
    chosen = next((s for s in services if s.key == values.get("service")), services[0])
    try:
        first = dt.date.fromisoformat(values.get("from") or "")
    except ValueError:
        first = None
    found = await av.search(user.center_id, chosen, first=first)
    days = slot_days(found, chosen)
    return {
        "title": _("Book counseling for someone"), "services": services, "service": chosen, "days": days, "values": values,
        "errors": errors, "submission_key": new_submission_key(),
        "more_from": (dt.date.fromisoformat(days[-1]["day"]) + dt.timedelta(days=1)).isoformat() if days else "",
    }


@get("/book", opt=BOOK_FOR)
async def book_form(request: Request) -> Response:
    values = {"service": request.query_params.get("service", bk.FIRST), "from": request.query_params.get("from", "")}
    return await render(request, "counseling/book.html", await _book_context(request, values, {}), headers=NO_STORE)


@post("/book", opt=BOOK_FOR)
async def book(request: Request) -> Response:
    user = principal(request)
    form = await read_form(request)
    values = {k: form.str(k, 64) for k in ("service", "slot", "name", "phone")}
    registry = request.app.state.registry
    service = None
    if values["service"] in bk.SERVICE_KEYS:
        service = await service_at(registry, user.center_id, values["service"])
    minute = parse_slot(values["slot"])
    phone = normalize_phone(values["phone"])
    errors = {}
    if service is None:
        errors["service"] = _("Choose a service.")
    if minute is None:
        errors["slot"] = _("Choose a day and time from the list.")
    if not values["name"]:
        errors["name"] = _("Enter what to call the person: a name or a pseudonym.")
    if phone is None:
        errors["phone"] = _("Enter an 11-digit mobile number: the confirmation goes there by SMS.")
    if errors:
        return await render(request, "counseling/book.html", await _book_context(request, values, errors), status=422, headers=NO_STORE)

    async def validate() -> dict:
        return {}

    async def create():
        ctx = engine.Ctx(trail=trail(request), registry=registry, user_id=user.user_id)
        # Staff book ahead on someone's behalf: the engine's online rules (notice, SMS) apply; a
        # citizen account with that phone sees the booking among their own.
        booking = await engine.book(ctx, user.center_id, service, minute, citizen_id=await bk.citizen_for_phone(phone),
                                    name=values["name"], phone=phone, channel="online")
        return f"/bookings/{booking['id']}", booking

    try:
        result = await create_once(form.str("_submission_key"), "counseling_book", validate, create)
    except engine.BookingError as problem:
        field = problem.field if problem.field in ("slot", "service") else "slot"
        return await render(request, "counseling/book.html", await _book_context(request, values, {field: problem.message}),
                            status=409 if isinstance(problem, engine.SlotTaken) else 422, headers=NO_STORE)
    deliver_soon(request.app)
    return redirect(request, result.url, None if result.duplicate else _("Booked. The person gets an SMS that does not mention counseling."))


# ----------------------------------------------------------------------------- the counselor's bookings


@get("/bookings")
async def my_bookings(request: Request) -> Response:
    user = principal(request)
    if not user.can("counseling.counsel"):
        raise NotFoundException()
    today = av.day_of(av.to_minute(clock.now()))
    start = av.from_minute(av.local_day_start(today))
    rows = await bk.counselor_bookings(user, start - dt.timedelta(days=30), start + dt.timedelta(days=15))
    items = [{**describe(r), "service_label": bk.SERVICE_LABELS.get(r["service_key"], "")} for r in rows]
    tomorrow = start + dt.timedelta(days=1)
    return await render(request, "counseling/bookings.html", {
        "title": _("My counseling bookings"),
        "today": [b for b in items if start <= engine._dt(b["starts_at"]) < tomorrow],
        "upcoming": [b for b in items if engine._dt(b["starts_at"]) >= tomorrow],
        "recent": [b for b in items if engine._dt(b["starts_at"]) < start][::-1],
        "open_flags": await cr.visible_flags(user, status="open", limit=20),
    }, headers=NO_STORE)


async def _booking_page(request: Request, booking: dict, errors: dict | None = None, values: dict | None = None,
                        status: int = 200) -> Response:
    user = principal(request)
    screening = await sc.screening_for(booking["id"])
    shown = sc.present(screening, await _cipher(request)) if screening is not None else None
    if screening is not None:
        # Health information: every reading leaves an audit row (PIPL Art. 28; security.md §3.3).
        async with write_transaction():
            await trail(request)("counseling.screening_viewed", object_type="booking", object_id=booking["id"],
                                 center_id=booking["center"])
    flags = await raw("SELECT * FROM counseling_crisis WHERE booking = {} ORDER BY id DESC", booking["id"])
    settings = await bk.load_settings(booking["center"])
    # The notes side keeps a case per client; the booking page leads to it (or to opening it).
    case = await raw("SELECT id FROM counseling_case WHERE booking = {} AND counselor = {}", booking["id"], user.user_id)
    return await render(request, "counseling/booking.html", {
        "title": _("Counseling booking %(code)s", code=booking["code"]),
        "b": {**describe(booking), "service_label": bk.SERVICE_LABELS.get(booking["service_key"], "")},
        "first": booking["service_key"] == bk.FIRST,
        "consent": await cs.consent_for(booking["id"]), "channels": cs.CHANNELS,
        "screening": shown,
        "flags": flags, "sources": cr.SOURCES, "status_labels": cr.STATUS_LABELS,
        "errors": errors or {}, "values": values or {}, "submission_key": new_submission_key(),
        "consent_version": settings["consent_version"], "user": user, "case_id": case[0]["id"] if case else None,
    }, status=status, headers=NO_STORE)


@get("/bookings/{booking_id:int}")
async def booking_page(request: Request, booking_id: FromPath[int]) -> Response:
    booking = await bk.counselor_booking(principal(request), booking_id)
    return await _keyed(request, lambda: _booking_page(request, booking))


@get("/bookings/{booking_id:int}/consent")
async def onsite_consent_form(request: Request, booking_id: FromPath[int]) -> Response:
    booking = await bk.counselor_booking(principal(request), booking_id)
    return await _consent_page(request, booking)


async def _consent_page(request: Request, booking: dict, errors: dict | None = None, status: int = 200) -> Response:
    settings = await bk.load_settings(booking["center"])
    consent = await cs.consent_for(booking["id"])
    return await render(request, "counseling/consent_onsite.html", {
        "title": _("Informed consent"), "b": describe(booking), "consent": consent, "channels": cs.CHANNELS,
        "back": f"/m/counseling/bookings/{booking['id']}", "back_label": _("Back to the booking"),
        "action": f"/m/counseling/bookings/{booking['id']}/consent",
        "text": cs.text_for(consent["version"] if consent else settings["consent_version"], settings),
        "errors": errors or {},
    }, status=status, headers=NO_STORE)


@post("/bookings/{booking_id:int}/consent")
async def onsite_consent(request: Request, booking_id: FromPath[int]) -> Response:
    user = principal(request)
    booking = await bk.counselor_booking(user, booking_id)
    form = await read_form(request)
    if not form.flag("agree"):
        return await _consent_page(request, booking, {"agree": _("The person ticks the box to give consent; without it there is no first session.")},
                                   status=422)
    settings = await bk.load_settings(booking["center"])
    version = form.str("version", 16)
    if version not in cs.TEXTS:
        version = settings["consent_version"]
    await cs.record(trail(request), booking, version=version, channel="onsite", citizen_id=booking["citizen"],
                    recorded_by=user.user_id)
    return redirect(request, f"/m/counseling/bookings/{booking_id}", _("Consent recorded."))


# ----------------------------------------------------------------------------- crisis


async def _cipher(request: Request):
    return await open_cipher(request.app.state.settings)


async def _keyed(request: Request, page) -> Response:
    """Screening answers and crisis texts are encrypted with the notes key: a key that does not
    match fails loudly (503 with the explanation), as the notes pages do."""
    try:
        return await page()
    except CounselingKeyError:
        log.error("counseling records cannot be decrypted with the configured PORTAL_COUNSELING_KEY (%s)", request.url.path)
        return await render(request, "counseling/notes_key_error.html", {"title": _("The counseling records cannot be opened")},
                            status=503)


async def _flag_target(request: Request) -> dict:
    """What a new flag is about: a booking (?booking_id=) or a case (?case_id=) of this counselor."""
    user = principal(request)
    params = request.query_params
    if not user.can("counseling.counsel"):
        raise NotFoundException()
    if params.get("booking_id", "").isdigit():
        booking = await bk.counselor_booking(user, int(params["booking_id"]))
        return {"center": booking["center"], "booking": booking["id"], "case": None, "label": booking["name"] or booking["code"],
                "back": f"/m/counseling/bookings/{booking['id']}", "query": f"booking_id={booking['id']}"}
    if params.get("case_id", "").isdigit():
        rows = await raw("SELECT id, center, booking FROM counseling_case WHERE id = {} AND counselor = {}",
                         int(params["case_id"]), user.user_id)
        if rows:
            case = rows[0]
            return {"center": case["center"], "booking": case["booking"], "case": case["id"], "label": f"#{case['id']}",
                    "back": f"/m/counseling/cases/{case['id']}", "query": f"case_id={case['id']}"}
    raise NotFoundException()


@get("/crisis/new")
async def new_flag_form(request: Request) -> Response:
    target = await _flag_target(request)
    return await render(request, "counseling/crisis_new.html", {
        "title": _("Raise a crisis flag"), "target": target, "values": {}, "errors": {}, "submission_key": new_submission_key(),
    }, headers=NO_STORE)


@post("/crisis/new")
async def new_flag(request: Request) -> Response:
    user = principal(request)
    target = await _flag_target(request)
    form = await read_form(request)
    reason = form.str("reason", cr.NOTE_MAX)

    async def validate() -> dict:
        if len(reason) < 5:
            return {"reason": _("Say briefly why (at least 5 characters): the crisis contacts act on it.")}
        return {}

    async def create():
        flag = await cr.raise_flag(trail(request), center_id=target["center"], counselor_id=user.user_id, source="counselor",
                                   reason=reason, raised_by=user.user_id, booking_id=target["booking"], case_ref=target["case"],
                                   cipher=cipher)
        return cr.crisis_link(flag["id"]), flag

    try:
        cipher = await _cipher(request)
        result = await create_once(form.str("_submission_key"), "counseling_crisis", validate, create)
    except CounselingKeyError:
        return await _keyed(request, _raise_key_error)
    if result.errors:
        return await render(request, "counseling/crisis_new.html", {
            "title": _("Raise a crisis flag"), "target": target, "values": {"reason": reason}, "errors": result.errors,
            "submission_key": form.str("_submission_key"),
        }, status=422, headers=NO_STORE)
    deliver_soon(request.app)
    return redirect(request, result.url, None if result.duplicate else _("Crisis flag raised: the crisis contacts were alerted."))


@get("/crisis")
async def flags(request: Request) -> Response:
    user = principal(request)
    shown = await cr.visible_flags(user)
    if not shown and not user.can("counseling.counsel") and not await bk.is_crisis_contact(user, user.center_id):
        raise NotFoundException()
    return await render(request, "counseling/crisis_list.html", {
        "title": _("Crisis flags"), "flags": shown, "sources": cr.SOURCES, "status_labels": cr.STATUS_LABELS,
    }, headers=NO_STORE)


async def _raise_key_error() -> Response:
    raise CounselingKeyError()


async def _crisis_page(request: Request, crisis: dict, errors: dict | None = None, values: dict | None = None,
                       status: int = 200) -> Response:
    return await _keyed(request, lambda: _crisis_page_of(request, crisis, errors, values, status))


async def _crisis_page_of(request: Request, crisis: dict, errors: dict | None, values: dict | None, status: int) -> Response:
    cipher = await _cipher(request)
    crisis = cr.readable(cipher, crisis)
    booking = None
    if crisis["booking"]:
        rows = await raw("SELECT b.*, r.name AS resource_name FROM booking b JOIN booking_resource r ON r.id = b.resource "
                         "WHERE b.id = {}", crisis["booking"])
        booking = describe(rows[0]) if rows else None
    people = {row["id"]: row["display_name"] for row in await raw(
        "SELECT id, display_name FROM staff_user WHERE id IN ({}, {}, {})",
        crisis["counselor"] or 0, crisis["raised_by"] or 0, crisis["resolved_by"] or 0)}
    async with write_transaction():
        await trail(request)("counseling.crisis_viewed", object_type="counseling_crisis", object_id=crisis["id"],
                             center_id=crisis["center"])
    return await render(request, "counseling/crisis.html", {
        "title": _("Crisis flag"), "c": crisis, "booking": booking, "people": people, "steps": await cr.steps(crisis["id"], cipher),
        "step_labels": cr.STEPS, "sources": cr.SOURCES, "status_labels": cr.STATUS_LABELS,
        "errors": errors or {}, "values": values or {}, "submission_key": new_submission_key(),
        "settings": await bk.load_settings(crisis["center"]),
    }, status=status, headers=NO_STORE)


@get("/crisis/{crisis_id:int}")
async def crisis_page(request: Request, crisis_id: FromPath[int]) -> Response:
    return await _crisis_page(request, await cr.visible(principal(request), crisis_id))


@post("/crisis/{crisis_id:int}/steps")
async def crisis_step(request: Request, crisis_id: FromPath[int]) -> Response:
    user = principal(request)
    crisis = await cr.visible(user, crisis_id)
    form = await read_form(request)
    values = {"step": form.str("step", 12), "note": form.str("note", cr.NOTE_MAX)}

    async def validate() -> dict:
        return {}

    async def create():
        await cr.add_step(trail(request), crisis, values["step"], values["note"], user.user_id, cipher)
        return f"{cr.crisis_link(crisis_id)}#steps", None

    try:
        cipher = await _cipher(request)
        result = await create_once(form.str("_submission_key"), "counseling_crisis_step", validate, create)
    except CounselingKeyError:
        return await _keyed(request, _raise_key_error)
    except cr.CrisisError as problem:
        return await _crisis_page(request, await cr.visible(user, crisis_id), {problem.field: problem.message}, values, status=422)
    return redirect(request, result.url, None if result.duplicate else _("Step recorded."))


@post("/crisis/{crisis_id:int}/resolve")
async def crisis_resolve(request: Request, crisis_id: FromPath[int]) -> Response:
    user = principal(request)
    crisis = await cr.visible(user, crisis_id)
    form = await read_form(request)
    note = form.str("closing_note", cr.NOTE_MAX)
    try:
        await cr.resolve(trail(request), crisis, note, user.user_id, await _cipher(request))
    except CounselingKeyError:
        return await _keyed(request, _raise_key_error)
    except cr.CrisisError as problem:
        return await _crisis_page(request, await cr.visible(user, crisis_id), {problem.field: problem.message},
                                  {"closing_note": note}, status=422)
    return redirect(request, cr.crisis_link(crisis_id), _("The crisis flag is resolved."))


# ----------------------------------------------------------------------------- numbers


@get("/numbers", opt=NUMBERS)
async def numbers_page(request: Request) -> Response:
    user = principal(request)
    month = (request.query_params.get("month") or "").strip()
    bounds = nb.month_bounds(month)
    errors = {}
    if bounds is None:
        errors["month"] = _("Enter a month like 2026-11.")
        bounds = nb.month_bounds(None)
    first, after = bounds
    centers = await centers_below(user.center_path, request.app.state.memo)
    states = await module_rows([c["id"] for c in centers])
    centers = [c for c in centers if (s := states.get((c["id"], "counseling"))) and s["allowed"] and s["enabled"]]
    counts = await nb.monthly_counts([c["id"] for c in centers], first, after)
    rows = [{"center": c, "cells": [nb.shown(counts[c["id"]][key]) for key, _label in nb.COLUMNS]} for c in centers]
    return await render(request, "counseling/numbers.html", {
        "title": _("Counseling numbers"), "rows": rows, "columns": nb.COLUMNS, "month": month or first.strftime("%Y-%m"),
        "month_label": f"{first.year}年{first.month}月", "errors": errors, "suppress_below": nb.SUPPRESS_BELOW,
    }, status=422 if errors else 200)


ROUTES = [
    settings_page, save_settings, save_supervisors, add_contact, remove_contact, counselor_resource,
    book_form, book,
    my_bookings, booking_page, onsite_consent_form, onsite_consent,
    new_flag_form, new_flag, flags, crisis_page, crisis_step, crisis_resolve,
    numbers_page,
]


def nav_items(user) -> list:
    """The booking/crisis/settings/numbers side of the module's nav (hooks.nav_items)."""
    from portal.plugin_api import NavItem

    return [
        NavItem("心理咨询预约", "/m/counseling/bookings", order=60, permission="counseling.counsel"),
        NavItem("危机预警", "/m/counseling/crisis", order=63, permission="counseling.counsel"),
        NavItem("代约心理咨询", "/m/counseling/book", order=64, permission="counseling.book_for"),
        NavItem("心理咨询统计", "/m/counseling/numbers", order=65, permission="counseling.numbers"),
        NavItem("心理咨询设置", "/m/counseling/settings", order=936, permission="counseling.manage"),
    ]
