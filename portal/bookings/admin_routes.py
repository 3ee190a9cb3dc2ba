"""Center admins: resources (people, rooms), the services they provide, opening rules, exceptions,
and each resource's calendar feed token. A staff member linked to a resource may manage its feed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal import clock
from portal.auth.guards import staff_guard
from portal.bookings.catalog import offered_at
from portal.bookings.views import WEEKDAYS
from portal.centers.scope import centers_below, in_scope
from portal.db import raw, write_transaction
from portal.i18n import _
from portal.web.forms import read_form
from portal.web.render import redirect, render
from portal.web.request import audit, principal

__all__ = ["ROUTES"]

MANAGE = {"permission": "bookings.manage"}
PROVIDER_ROLES = {"lawyer": "值班律师", "counselor": "心理咨询师", "leader": "领导", "window_staff": "受理员"}
_TIME = re.compile(r"^([01]?\d|2[0-3])[:：]([0-5]\d)$")


def parse_time(value: str) -> int | None:
    match = _TIME.match((value or "").strip())
    return int(match.group(1)) * 60 + int(match.group(2)) if match else None


def fmt_time(minute: int) -> str:
    return f"{minute // 60}:{minute % 60:02d}"


async def _resource(request: Request, resource_id: int, *, manage: bool = True) -> dict:
    user = principal(request)
    rows = await raw("SELECT r.*, c.path AS center_path, c.name AS center_name FROM booking_resource r "
                     "JOIN center c ON c.id = r.center WHERE r.id = {}", resource_id)
    if not rows or not in_scope(user, rows[0]["center_path"]):
        if not (rows and rows[0]["staff"] == user.user_id):
            raise NotFoundException()
    resource = rows[0]
    if manage and not user.can("bookings.manage") and resource["staff"] != user.user_id:
        raise NotFoundException()
    return resource


async def _list_context(request: Request, values: dict, errors: dict) -> dict:
    user = principal(request)
    centers = await centers_below(user.center_path, request.app.state.memo)
    ids = [c["id"] for c in centers]
    marks = ", ".join("{}" for _ in ids)
    resources = await raw(
        f"SELECT r.*, c.name AS center_name, s.display_name AS staff_name FROM booking_resource r "
        f"JOIN center c ON c.id = r.center LEFT JOIN staff_user s ON s.id = r.staff "
        f"WHERE r.center IN ({marks}) ORDER BY c.path, r.name", *ids,
    ) if ids else []
    staff = await raw(
        f"SELECT s.id, s.display_name, c.name AS center_name FROM staff_user s JOIN center c ON c.id = s.center "
        f"WHERE s.center IN ({marks}) AND s.active ORDER BY c.path, s.display_name", *ids,
    ) if ids else []
    return {"title": _("Booking resources"), "resources": resources, "centers": centers, "staff": staff,
            "roles": PROVIDER_ROLES, "values": values, "errors": errors}


@get("/admin/booking-resources", guards=[staff_guard], opt=MANAGE)
async def resources(request: Request) -> Response:
    return await render(request, "bookings/admin_resources.html",
                        await _list_context(request, {"center": str(principal(request).center_id), "kind": "person"}, {}))


@post("/admin/booking-resources", guards=[staff_guard], opt=MANAGE)
async def create_resource(request: Request) -> Response:
    form = await read_form(request)
    values = {k: form.str(k, 64) for k in ("center", "kind", "name", "staff", "role")}
    context = await _list_context(request, values, {})
    errors = {}
    center_ids = {c["id"] for c in context["centers"]}
    if not values["center"].isdigit() or int(values["center"]) not in center_ids:
        errors["center"] = _("Choose a center.")
    if values["kind"] not in ("person", "room"):
        errors["kind"] = _("Choose person or room.")
    if not values["name"]:
        errors["name"] = _("Enter a name.")
    staff_id = None
    if values["kind"] == "person" and values["staff"]:
        staff_ids = {s["id"] for s in context["staff"]}
        if not values["staff"].isdigit() or int(values["staff"]) not in staff_ids:
            errors["staff"] = _("Choose a staff account of your centers.")
        else:
            staff_id = int(values["staff"])
    if values["role"] and values["role"] not in PROVIDER_ROLES:
        errors["role"] = _("Choose a role from the list.")
    if errors:
        context["errors"] = errors
        return await render(request, "bookings/admin_resources.html", context, status=422)
    async with write_transaction():
        rows = await raw(
            "INSERT INTO booking_resource (center, kind, name, staff, role, active, feed_token_hash, created_at) "
            "VALUES ({}, {}, {}, {}, {}, TRUE, '', {}) RETURNING id",
            int(values["center"]), values["kind"], values["name"], staff_id, values["role"] if values["kind"] == "person" else "", clock.now(),
        )
        await audit(request, "booking_resource.created", object_type="booking_resource", object_id=rows[0]["id"],
                    center_id=int(values["center"]))
    return redirect(request, f"/admin/booking-resources/{rows[0]['id']}", _("Resource added. Now set its services and opening hours."))


async def _page(request: Request, resource: dict, errors: dict | None = None, values: dict | None = None,
                status: int = 200, feed_url: str = "") -> Response:
    services = await offered_at(request.app.state.registry, resource["center"])
    chosen = {r["service_key"] for r in await raw("SELECT service_key FROM booking_resource_service WHERE resource = {}", resource["id"])}
    rules = await raw("SELECT * FROM booking_rule WHERE resource = {} ORDER BY weekday, start_minute", resource["id"])
    exceptions = await raw("SELECT * FROM booking_exception WHERE resource = {} AND day >= {} ORDER BY day, start_minute",
                           resource["id"], clock.local(clock.now()).date())
    return await render(request, "bookings/admin_resource.html", {
        "title": resource["name"], "r": resource, "services": services, "chosen": chosen,
        "rules": [{**r, "label": f"{WEEKDAYS[r['weekday']]} {fmt_time(r['start_minute'])}–{fmt_time(r['end_minute'])}"} for r in rules],
        "exceptions": [{**e, "label": (_("Closed all day") if e["closed"] and e["start_minute"] == e["end_minute"] else
                                       f"{_('Closed') if e['closed'] else _('Extra hours')} {fmt_time(e['start_minute'])}–{fmt_time(e['end_minute'])}")}
                       for e in exceptions],
        "weekdays": list(enumerate(WEEKDAYS)), "errors": errors or {}, "values": values or {},
        "can_manage": principal(request).can("bookings.manage"), "feed_url": feed_url,
    }, status=status, headers={"Cache-Control": "no-store"})


@get("/admin/booking-resources/{resource_id:int}", guards=[staff_guard])
async def resource_page(request: Request, resource_id: FromPath[int]) -> Response:
    return await _page(request, await _resource(request, resource_id))


@post("/admin/booking-resources/{resource_id:int}/services", guards=[staff_guard], opt=MANAGE)
async def set_services(request: Request, resource_id: FromPath[int]) -> Response:
    resource = await _resource(request, resource_id)
    form = await read_form(request)
    offered = {s.key for s in await offered_at(request.app.state.registry, resource["center"])}
    keys = [k for k in form.list("services") if k in offered]
    async with write_transaction():
        await raw("DELETE FROM booking_resource_service WHERE resource = {}", resource_id)
        for key in keys:
            await raw("INSERT INTO booking_resource_service (resource, service_key) VALUES ({}, {})", resource_id, key)
        await audit(request, "booking_resource.services", object_type="booking_resource", object_id=resource_id,
                    center_id=resource["center"])
    return redirect(request, f"/admin/booking-resources/{resource_id}", _("Services saved."))


def _time_range(values: dict, start_key: str, end_key: str, errors: dict) -> tuple[int | None, int | None]:
    """Opening hours from two "9:00" fields as minutes of the day; problems go into ``errors``."""
    start, end = parse_time(values[start_key]), parse_time(values[end_key])
    if start is None:
        errors[start_key] = _("Enter the time as 9:00.")
    if end is None:
        errors[end_key] = _("Enter the time as 9:00.")
    elif start is not None and end <= start:
        errors[end_key] = _("The end must be after the start.")
    return start, end


@post("/admin/booking-resources/{resource_id:int}/rules", guards=[staff_guard], opt=MANAGE)
async def add_rule(request: Request, resource_id: FromPath[int]) -> Response:
    resource = await _resource(request, resource_id)
    form = await read_form(request)
    values = {k: form.str(k, 8) for k in ("weekday", "start", "end")}
    weekday = int(values["weekday"]) if values["weekday"].isdigit() and int(values["weekday"]) < 7 else None
    errors = {}
    if weekday is None:
        errors["weekday"] = _("Choose a day of the week.")
    start, end = _time_range(values, "start", "end", errors)
    if errors:
        return await _page(request, resource, errors, values, status=422)
    async with write_transaction():
        await raw("INSERT INTO booking_rule (resource, weekday, start_minute, end_minute) VALUES ({}, {}, {}, {})",
                  resource_id, weekday, start, end)
        await audit(request, "booking_resource.rule_added", object_type="booking_resource", object_id=resource_id,
                    center_id=resource["center"])
    return redirect(request, f"/admin/booking-resources/{resource_id}", _("Opening hours added."))


@post("/admin/booking-resources/{resource_id:int}/rules/{rule_id:int}/delete", guards=[staff_guard], opt=MANAGE)
async def delete_rule(request: Request, resource_id: FromPath[int], rule_id: FromPath[int]) -> Response:
    resource = await _resource(request, resource_id)
    async with write_transaction():
        await raw("DELETE FROM booking_rule WHERE id = {} AND resource = {}", rule_id, resource_id)
        await audit(request, "booking_resource.rule_removed", object_type="booking_resource", object_id=resource_id,
                    center_id=resource["center"])
    return redirect(request, f"/admin/booking-resources/{resource_id}", _("Opening hours removed."))


@post("/admin/booking-resources/{resource_id:int}/exceptions", guards=[staff_guard], opt=MANAGE)
async def add_exception(request: Request, resource_id: FromPath[int]) -> Response:
    resource = await _resource(request, resource_id)
    form = await read_form(request)
    values = {k: form.str(k, 100 if k == "note" else 20) for k in ("day", "kind", "ex_start", "ex_end", "note")}
    errors = {}
    try:
        day = dt.date.fromisoformat(values["day"])
    except ValueError:
        day = None
        errors["day"] = _("Enter the date as 2026-12-01.")
    if day is not None and day < clock.local(clock.now()).date():
        errors["day"] = _("The date has passed.")
    kind = values["kind"]
    start = end = 0
    if kind not in ("closed_day", "closed", "open"):
        errors["kind"] = _("Choose what happens on that day.")
    elif kind != "closed_day":
        start, end = _time_range(values, "ex_start", "ex_end", errors)
    if errors:
        return await _page(request, resource, errors, values, status=422)
    async with write_transaction():
        await raw("INSERT INTO booking_exception (resource, day, closed, start_minute, end_minute, note) VALUES ({}, {}, {}, {}, {}, {})",
                  resource_id, day, kind != "open", start, end, values["note"])
        await audit(request, "booking_resource.exception_added", object_type="booking_resource", object_id=resource_id,
                    center_id=resource["center"])
    return redirect(request, f"/admin/booking-resources/{resource_id}", _("Exception added."))


@post("/admin/booking-resources/{resource_id:int}/exceptions/{exception_id:int}/delete", guards=[staff_guard], opt=MANAGE)
async def delete_exception(request: Request, resource_id: FromPath[int], exception_id: FromPath[int]) -> Response:
    resource = await _resource(request, resource_id)
    async with write_transaction():
        await raw("DELETE FROM booking_exception WHERE id = {} AND resource = {}", exception_id, resource_id)
        await audit(request, "booking_resource.exception_removed", object_type="booking_resource", object_id=resource_id,
                    center_id=resource["center"])
    return redirect(request, f"/admin/booking-resources/{resource_id}", _("Exception removed."))


@post("/admin/booking-resources/{resource_id:int}/feed", guards=[staff_guard])
async def feed_token(request: Request, resource_id: FromPath[int]) -> Response:
    """Regenerate (the old URL stops working) or revoke the calendar feed; the URL is shown once."""
    resource = await _resource(request, resource_id)
    form = await read_form(request)
    token = secrets.token_urlsafe(24) if form.str("action") != "revoke" else ""
    async with write_transaction():
        await raw("UPDATE booking_resource SET feed_token_hash = {} WHERE id = {}",
                  hashlib.sha256(token.encode()).hexdigest() if token else "", resource_id)
        await audit(request, "booking_resource.feed_" + ("renewed" if token else "revoked"), object_type="booking_resource",
                    object_id=resource_id, center_id=resource["center"])
    if not token:
        return redirect(request, f"/admin/booking-resources/{resource_id}", _("The calendar feed was switched off."))
    resource = await _resource(request, resource_id)
    url = str(request.base_url).rstrip("/") + f"/bookings/feed/{token}.ics"
    return await _page(request, resource, feed_url=url)


ROUTES = [resources, create_resource, resource_page, set_services, add_rule, delete_rule, add_exception, delete_exception, feed_token]
