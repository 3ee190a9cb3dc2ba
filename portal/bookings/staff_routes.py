"""Staff pages: day and week views, a booking's page, check-in by code or QR, walk-ins, no-show fixes.

Scope: a center's staff see the bookings of their subtree; a lawyer or counselor who is not also
window staff or a center admin sees only the bookings of resources linked to their own account.
Anything outside is 404.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal import clock
from portal.auth.guards import staff_guard
from portal.auth.principal import Principal
from portal.bookings import availability as av
from portal.bookings import service as svc
from portal.bookings.catalog import offered_at, service_at, service_by_key
from portal.bookings.ics import calendar
from portal.bookings.views import WEEKDAYS, day_label, describe, parse_slot, slot_days
from portal.centers.scope import centers_below, in_scope, prefix_range
from portal.db import create_once, new_submission_key, raw
from portal.i18n import _
from portal.notify.outbox import deliver_soon
from portal.web.forms import normalize_phone, read_form
from portal.web.render import redirect, render
from portal.web.request import principal, trail

__all__ = ["ROUTES", "booking_in_scope", "provider_only"]

VIEW = {"permission": "bookings.view"}
HANDLE = {"permission": "bookings.handle"}


def provider_only(user: Principal) -> bool:
    return user.has_role("lawyer", "counselor") and not user.has_role("center_admin", "window_staff", "leader")


def _ctx(request: Request) -> svc.Ctx:
    user = principal(request)
    return svc.Ctx(trail=trail(request), registry=request.app.state.registry, user_id=user.user_id)


async def booking_in_scope(user: Principal, booking_id: int) -> dict:
    rows = await raw(
        "SELECT b.*, c.path AS center_path, c.name AS center_name, r.name AS resource_name, r.staff AS resource_staff "
        "FROM booking b JOIN center c ON c.id = b.center JOIN booking_resource r ON r.id = b.resource WHERE b.id = {}",
        booking_id,
    )
    if not rows or not in_scope(user, rows[0]["center_path"]):
        raise NotFoundException()
    if provider_only(user) and rows[0]["resource_staff"] != user.user_id:
        raise NotFoundException()
    return rows[0]


def _day_param(request: Request) -> dt.date:
    try:
        return dt.date.fromisoformat(request.query_params.get("day", ""))
    except ValueError:
        return av.day_of(av.to_minute(clock.now()))


@get("/bookings", guards=[staff_guard], opt=VIEW)
async def schedule(request: Request) -> Response:
    user = principal(request)
    registry = request.app.state.registry
    day = _day_param(request)
    view = "week" if request.query_params.get("view") == "week" else "day"
    first = day - dt.timedelta(days=day.weekday()) if view == "week" else day
    days = 7 if view == "week" else 1
    centers = await centers_below(user.center_path, request.app.state.memo)
    center_param = request.query_params.get("center", "")
    center_ids = [c["id"] for c in centers]
    center_id = int(center_param) if center_param.isdigit() and int(center_param) in center_ids else None
    resources = await raw(
        "SELECT r.id, r.name, r.center, r.staff, c.path FROM booking_resource r JOIN center c ON c.id = r.center "
        "WHERE c.path >= {} AND c.path < {} ORDER BY c.path, r.name", *prefix_range(user.center_path),
    )
    if provider_only(user):
        resources = [r for r in resources if r["staff"] == user.user_id]
    if center_id:
        resources = [r for r in resources if r["center"] == center_id]
    resource_param = request.query_params.get("resource", "")
    if resource_param.isdigit():
        resources = [r for r in resources if r["id"] == int(resource_param)]
    ids = [r["id"] for r in resources]
    rows = []
    if ids:
        marks = ", ".join("{}" for _ in ids)
        rows = await raw(
            f"SELECT b.*, r.name AS resource_name, c.name AS center_name FROM booking b "
            f"JOIN booking_resource r ON r.id = b.resource JOIN center c ON c.id = b.center "
            f"WHERE b.resource IN ({marks}) AND b.starts_at >= {{}} AND b.starts_at < {{}} "
            f"AND b.status NOT IN ('expired') ORDER BY b.starts_at, r.name",
            *ids, av.from_minute(av.local_day_start(first)), av.from_minute(av.local_day_start(first + dt.timedelta(days=days))),
        )
    by_day: dict[str, list] = {}
    for row in rows:
        item = describe(row)
        service = service_by_key(registry, row["service_key"])
        item["service_label"] = service.label if service else row["service_key"]
        by_day.setdefault(item["day_label"], []).append(item)
    columns = [day_label(first + dt.timedelta(days=i)) for i in range(days)]
    return await render(request, "bookings/schedule.html", {
        "title": _("Bookings"), "columns": columns, "by_day": by_day, "view": view, "day": day.isoformat(),
        "prev": (first - dt.timedelta(days=days)).isoformat(), "next": (first + dt.timedelta(days=days)).isoformat(),
        "centers": centers, "center_id": center_id, "resources": resources,
        "resource_id": int(resource_param) if resource_param.isdigit() else None,
        "can_handle": user.can("bookings.handle"), "provider": provider_only(user), "weekdays": WEEKDAYS,
    })


@get("/bookings/{booking_id:int}", guards=[staff_guard], opt=VIEW)
async def booking_page(request: Request, booking_id: FromPath[int]) -> Response:
    return await _page(request, await booking_in_scope(principal(request), booking_id))


async def _page(request: Request, booking: dict, errors: dict | None = None, status: int = 200) -> Response:
    service = service_by_key(request.app.state.registry, booking["service_key"])
    b = describe(booking)
    return await render(request, "bookings/staff_booking.html", {
        "title": _("Booking %(code)s", code=booking["code"]), "b": b, "service": service, "errors": errors or {},
        "can_handle": principal(request).can("bookings.handle"),
    }, status=status)


@get("/bookings/checkin", guards=[staff_guard], opt=HANDLE)
async def checkin_form(request: Request) -> Response:
    code = request.query_params.get("code", "")[:12]
    return await render(request, "bookings/checkin.html", {"title": _("Check in"), "code": code, "errors": {}})


@post("/bookings/checkin", guards=[staff_guard], opt=HANDLE)
async def checkin_by_code(request: Request) -> Response:
    user = principal(request)
    form = await read_form(request)
    code = form.str("code", 12, ascii_fold=True).upper().replace("-", "").replace(" ", "")
    rows = await raw("SELECT id FROM booking WHERE code = {}", code) if code else []
    booking = None
    if rows:
        try:
            booking = await booking_in_scope(user, rows[0]["id"])
        except NotFoundException:
            booking = None
    if booking is None:
        # One answer for unknown codes and other centers' bookings.
        return await render(request, "bookings/checkin.html", {
            "title": _("Check in"), "code": code, "errors": {"code": _("No booking of your center has this code. Check the 6 characters.")},
        }, status=422)
    try:
        await svc.check_in(_ctx(request), booking["id"])
    except svc.BookingError as problem:
        return await render(request, "bookings/checkin.html", {"title": _("Check in"), "code": code, "errors": {"code": problem.message}}, status=422)
    return redirect(request, f"/bookings/{booking['id']}", _("Checked in."))


@post("/bookings/{booking_id:int}/checkin", guards=[staff_guard], opt=HANDLE)
async def checkin(request: Request, booking_id: FromPath[int]) -> Response:
    booking = await booking_in_scope(principal(request), booking_id)
    try:
        await svc.check_in(_ctx(request), booking_id)
    except svc.BookingError as problem:
        return await _page(request, booking, {"code": problem.message}, status=422)
    return redirect(request, f"/bookings/{booking_id}", _("Checked in."))


@post("/bookings/{booking_id:int}/cancel", guards=[staff_guard], opt=HANDLE)
async def staff_cancel(request: Request, booking_id: FromPath[int]) -> Response:
    booking = await booking_in_scope(principal(request), booking_id)
    form = await read_form(request)
    try:
        await svc.cancel(_ctx(request), booking_id, form.str("reason", 200), citizen_id=None, registry=request.app.state.registry)
    except svc.BookingError as problem:
        return await _page(request, booking, {"reason": problem.message}, status=422)
    deliver_soon(request.app)
    return redirect(request, f"/bookings/{booking_id}", _("The booking was cancelled."))


# ------------------------------------------------------------------------------ walk-in

async def _walk_in_context(request: Request, values: dict, errors: dict) -> dict:
    user = principal(request)
    registry = request.app.state.registry
    services = await offered_at(registry, user.center_id)
    chosen = values.get("service") or (services[0].key if services else "")
    days = []
    service = next((s for s in services if s.key == chosen), None)
    if service:
        found = await av.search(user.center_id, service, days=1, min_notice=False)
        days = slot_days(found, service, limit=1)
    return {"title": _("Walk-in"), "services": services, "chosen": chosen, "days": days, "values": values,
            "errors": errors, "submission_key": new_submission_key()}


@get("/bookings/walk-in", guards=[staff_guard], opt=HANDLE)
async def walk_in_form(request: Request) -> Response:
    values = {"service": request.query_params.get("service", "")}
    return await render(request, "bookings/walk_in.html", await _walk_in_context(request, values, {}))


@post("/bookings/walk-in", guards=[staff_guard], opt=HANDLE)
async def walk_in(request: Request) -> Response:
    user = principal(request)
    form = await read_form(request)
    values = {k: form.str(k, 64) for k in ("service", "slot", "name", "phone")}
    registry = request.app.state.registry
    try:
        service = await service_at(registry, user.center_id, values["service"])
    except NotFoundException:
        service = None
    minute = parse_slot(values["slot"])
    phone = normalize_phone(values["phone"]) if values["phone"] else ""
    errors = {}
    if service is None:
        errors["service"] = _("Choose a service.")
    if minute is None:
        errors["slot"] = _("Choose a time from the list.")
    if not values["name"]:
        errors["name"] = _("Enter the visitor's name.")
    if phone is None:
        errors["phone"] = _("Enter an 11-digit mobile number, or leave it empty.")
    if errors:
        return await render(request, "bookings/walk_in.html", await _walk_in_context(request, values, errors), status=422)

    async def validate() -> dict:
        return {}

    async def create():
        booking = await svc.book(_ctx(request), user.center_id, service, minute, citizen_id=None, name=values["name"],
                                 phone=phone or "", channel="walk_in")
        return f"/bookings/{booking['id']}", booking

    try:
        result = await create_once(form.str("_submission_key"), "booking_walk_in", validate, create)
    except svc.BookingError as problem:
        return await render(request, "bookings/walk_in.html",
                            await _walk_in_context(request, values, {"slot": problem.message}),
                            status=409 if isinstance(problem, svc.SlotTaken) else 422)
    return redirect(request, result.url, None if result.duplicate else _("Walk-in registered."))


# ------------------------------------------------------------------------------ calendar feed

@get("/bookings/feed/{token:str}", opt={"skip_auth": True})
async def feed(request: Request, token: FromPath[str]) -> Response:
    """A resource's own calendar (subscribe URL); the secret is the token, revocable on the resource page."""
    token = token.removesuffix(".ics")
    if len(token) < 20:
        raise NotFoundException()
    digest = hashlib.sha256(token.encode()).hexdigest()
    rows = await raw("SELECT r.id, r.name, c.name AS center_name, c.address FROM booking_resource r "
                     "JOIN center c ON c.id = r.center WHERE r.feed_token_hash = {}", digest)
    if not rows:
        raise NotFoundException()
    resource = rows[0]
    since = clock.now() - dt.timedelta(days=30)
    bookings = await raw(
        "SELECT id, service_key, starts_at, ends_at, status, code FROM booking WHERE resource = {} AND starts_at >= {} "
        "AND status IN ('booked', 'checked_in', 'no_show', 'cancelled') ORDER BY starts_at", resource["id"], since,
    )
    registry = request.app.state.registry
    events = []
    for b in bookings:
        service = service_by_key(registry, b["service_key"])
        # No names or phone numbers: a feed URL can leak; staff open the booking in the portal.
        events.append({"uid": f"booking-{b['id']}", "starts_at": svc._dt(b["starts_at"]), "ends_at": svc._dt(b["ends_at"]),
                       "summary": f"{svc.message_label(service, b['service_key'])} {b['code']}",
                       "location": resource["center_name"], "description": "",
                       "cancelled": b["status"] == "cancelled"})
    body = calendar(events, name=f"{resource['name']}（{resource['center_name']}）", host=request.url.hostname or "whistle")
    return Response(content=body, media_type="text/calendar; charset=utf-8", headers={"Cache-Control": "no-store"})


ROUTES = [schedule, booking_page, checkin_form, checkin_by_code, checkin, staff_cancel, walk_in_form, walk_in, feed]
