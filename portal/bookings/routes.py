"""Citizen pages: choose center → service → day and time → check → confirm; my bookings.

Choosing is open to everyone (availability before sign-in); checking and confirming need the
citizen's phone sign-in. Every form posts and redirects; htmx only enhances.
"""

from __future__ import annotations

import datetime as dt

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal.bookings import availability as av
from portal.bookings import service as svc
from portal.bookings.catalog import offered_at, service_at, service_by_key
from portal.bookings.ics import calendar, qr_svg
from portal.bookings.views import describe, parse_slot, slot_days
from portal.citizens.guards import citizen_guard, citizen_of
from portal.db import create_once, new_submission_key, raw
from portal.i18n import _
from portal.notify.outbox import deliver_soon
from portal.web.forms import read_form
from portal.web.render import redirect, render
from portal.web.request import citizen_trail

__all__ = ["ROUTES", "ctx_for_citizen"]


def ctx_for_citizen(request: Request) -> svc.Ctx:
    citizen = citizen_of(request)
    return svc.Ctx(trail=citizen_trail(request, citizen.citizen_id if citizen else None), registry=request.app.state.registry)


async def _center(center_id: int) -> dict:
    rows = await raw("SELECT id, code, name, path, phone, address, hours FROM center WHERE id = {} AND active", center_id)
    if not rows:
        raise NotFoundException()
    return rows[0]


def _first_day(request: Request) -> dt.date | None:
    try:
        return dt.date.fromisoformat(request.query_params.get("from", ""))
    except ValueError:
        return None


async def _slots_page(request: Request, center: dict, service, *, errors: dict | None = None, status: int = 200,
                      action: str | None = None, booking: dict | None = None, taken: bool = False) -> Response:
    found = await av.search(center["id"], service, first=_first_day(request))
    days = slot_days(found, service)
    ever = days or (await av.search(center["id"], service)).next_free_day
    context = {
        "title": service.label, "center": center, "service": service, "days": days, "errors": errors or {},
        "taken": taken, "booking": booking, "action": action or f"/book/{center['id']}/{service.key}/check",
        "method": "post" if booking else "get",
        "next_free": days[0]["label"] if days else "",
        "more_from": (dt.date.fromisoformat(days[-1]["day"]) + dt.timedelta(days=1)).isoformat() if days else "",
        "signed_in": citizen_of(request) is not None,
    }
    if not ever and not booking:
        return await render(request, "bookings/no_slots.html", context, status=status)
    return await render(request, "bookings/slots.html", context, status=status)


# ----------------------------------------------------------------------------- choose

@get("/book")
async def choose_center(request: Request) -> Response:
    chosen = request.query_params.get("center", "")
    if chosen.isdigit():
        return redirect(request, f"/book/{int(chosen)}")
    registry = request.app.state.registry
    centers = await raw("SELECT id, name, path FROM center WHERE active ORDER BY path")
    offering = []
    for center in centers:
        services = await offered_at(registry, center["id"])
        if services:
            offering.append({**center, "services": services, "indent": "　" * (center["path"].count("/") - 2)})
    return await render(request, "bookings/centers.html", {"title": _("Book an appointment"), "centers": offering})


@get("/book/{center_id:int}")
async def choose_service(request: Request, center_id: FromPath[int]) -> Response:
    center = await _center(center_id)
    services = await offered_at(request.app.state.registry, center_id)
    return await render(request, "bookings/services.html", {"title": _("Book an appointment"), "center": center, "services": services})


@get("/book/{center_id:int}/{service_key:str}")
async def choose_slot(request: Request, center_id: FromPath[int], service_key: FromPath[str]) -> Response:
    center = await _center(center_id)
    service = await service_at(request.app.state.registry, center_id, service_key)
    return await _slots_page(request, center, service)


async def _checked_slot(center: dict, service, value: str) -> tuple[int | None, dict, bool]:
    """(slot, errors, taken): the slot must be one the opening hours offer, and still free."""
    minute = parse_slot(value)
    if minute is None:
        return None, {"slot": _("Choose a day and time from the list.")}, False
    try:
        await svc.check_slot(center["id"], service, minute)
    except svc.BookingError as problem:
        return None, {"slot": problem.message}, isinstance(problem, svc.SlotTaken)
    return minute, {}, False


@get("/book/{center_id:int}/{service_key:str}/check", guards=[citizen_guard])
async def check_answers(request: Request, center_id: FromPath[int], service_key: FromPath[str]) -> Response:
    center = await _center(center_id)
    service = await service_at(request.app.state.registry, center_id, service_key)
    minute, errors, taken = await _checked_slot(center, service, request.query_params.get("slot", ""))
    if errors:
        return await _slots_page(request, center, service, errors=errors, status=409 if taken else 422, taken=taken)
    return await render(request, "bookings/check.html", {
        "title": _("Check your booking"), "center": center, "service": service, "slot": minute,
        "day_label": describe({"starts_at": av.from_minute(minute), "ends_at": av.from_minute(minute + service.duration_minutes), "status": "booked"})["day_label"],
        "time_label": av.slot_label(minute, service.duration_minutes),
        "phone": citizen_of(request).masked_phone, "submission_key": new_submission_key(),
    })


@post("/book/{center_id:int}/{service_key:str}/confirm", guards=[citizen_guard])
async def confirm(request: Request, center_id: FromPath[int], service_key: FromPath[str]) -> Response:
    center = await _center(center_id)
    registry = request.app.state.registry
    service = await service_at(registry, center_id, service_key)
    form = await read_form(request)
    citizen = citizen_of(request)
    minute = parse_slot(form.str("slot"))
    if minute is None:
        return await _slots_page(request, center, service, errors={"slot": _("Choose a day and time from the list.")}, status=422)
    phone = (await raw("SELECT phone FROM citizen WHERE id = {}", citizen.citizen_id))[0]["phone"]

    async def validate() -> dict:
        return {}

    async def create():
        # A service that allows it may be booked under a chosen name (a pseudonym); else no name.
        name = form.str("name", 64) if service.anonymous_allowed else ""
        booking = await svc.book(ctx_for_citizen(request), center_id, service, minute, citizen_id=citizen.citizen_id,
                                 name=name, phone=phone, note=form.str("note", 200))
        return f"/my/bookings/{booking['id']}", booking

    try:
        result = await create_once(form.str("_submission_key"), "booking", validate, create)
    except svc.SlotTaken as taken:
        return await _slots_page(request, center, service, errors={"slot": taken.message}, status=409, taken=True)
    except svc.BookingError as problem:
        return await _slots_page(request, center, service, errors={"slot": problem.message}, status=422)
    deliver_soon(request.app)
    return redirect(request, result.url, None if result.duplicate else _("Booked. We sent you an SMS."))


@post("/book/{center_id:int}/{service_key:str}/waitlist", guards=[citizen_guard])
async def join_waitlist(request: Request, center_id: FromPath[int], service_key: FromPath[str]) -> Response:
    await _center(center_id)
    service = await service_at(request.app.state.registry, center_id, service_key)
    joined = await svc.join_waitlist(ctx_for_citizen(request), center_id, service, citizen_of(request).citizen_id)
    return redirect(request, "/my/bookings", _("You are on the waiting list. We will send an SMS when a place frees up.")
                    if joined else _("You are already on the waiting list."))


# ----------------------------------------------------------------------------- my bookings

async def _mine(request: Request, booking_id: int) -> dict:
    rows = await raw("SELECT * FROM booking WHERE id = {} AND citizen = {}", booking_id, citizen_of(request).citizen_id)
    if not rows:
        raise NotFoundException()
    return rows[0]


@get("/my/bookings", guards=[citizen_guard])
async def my_bookings(request: Request) -> Response:
    citizen_id = citizen_of(request).citizen_id
    registry = request.app.state.registry
    rows = await raw(
        "SELECT b.*, c.name AS center_name FROM booking b JOIN center c ON c.id = b.center "
        "WHERE b.citizen = {} AND b.status <> 'expired' ORDER BY b.starts_at DESC LIMIT 100", citizen_id,
    )
    bookings = []
    for row in rows:
        service = service_by_key(registry, row["service_key"])
        bookings.append({**describe(row), "service_label": service.label if service else row["service_key"]})
    waiting = await raw(
        "SELECT w.id, w.service_key, c.name AS center_name FROM booking_waitlist w JOIN center c ON c.id = w.center "
        "WHERE w.citizen = {} AND w.status = 'waiting' ORDER BY w.id", citizen_id,
    )
    for entry in waiting:
        service = service_by_key(registry, entry["service_key"])
        entry["service_label"] = service.label if service else entry["service_key"]
    return await render(request, "bookings/my_bookings.html", {
        "title": _("My bookings"),
        "offers": [b for b in bookings if b["status"] == "held"],
        "upcoming": [b for b in bookings if b["status"] == "booked" and b["future"]],
        "past": [b for b in bookings if b["status"] not in ("held",) and not (b["status"] == "booked" and b["future"])],
        "waiting": waiting,
    }, headers={"Cache-Control": "no-store"})


@get("/my/bookings/{booking_id:int}", guards=[citizen_guard])
async def my_booking(request: Request, booking_id: FromPath[int]) -> Response:
    return await _booking_page(request, await _mine(request, booking_id))


async def _booking_page(request: Request, booking: dict, errors: dict | None = None, status: int = 200) -> Response:
    registry = request.app.state.registry
    service = service_by_key(registry, booking["service_key"])
    center = await _center(booking["center"])
    checkin_url = f"{request.base_url}".rstrip("/") + f"/bookings/checkin?code={booking['code']}"
    next_step = ""
    if service and service.next_step_url and booking["status"] == "booked":
        next_step = service.next_step_url.format(booking_id=booking["id"], center_code=center["code"])
    return await render(request, "bookings/booking.html", {
        "title": _("Booking %(code)s", code=booking["code"]), "b": describe(booking), "service": service, "center": center,
        "next_step": next_step,
        "qr": qr_svg(checkin_url, _("QR code of booking %(code)s", code=booking["code"])), "errors": errors or {},
    }, status=status, headers={"Cache-Control": "no-store"})


@get("/my/bookings/{booking_id:int}/booking.ics", guards=[citizen_guard])
async def my_booking_ics(request: Request, booking_id: FromPath[int]) -> Response:
    booking = await _mine(request, booking_id)
    service = service_by_key(request.app.state.registry, booking["service_key"])
    center = await _center(booking["center"])
    body = calendar([{
        "uid": f"booking-{booking['id']}", "starts_at": svc._dt(booking["starts_at"]), "ends_at": svc._dt(booking["ends_at"]),
        "summary": f"{svc.message_label(service, booking['service_key'])}（{center['name']}）",
        "location": " ".join(filter(None, [center["name"], center["address"]])),
        "description": _("Show code %(code)s on arrival.", code=booking["code"]) + (f" {service.bring}" if service and service.bring else ""),
        "cancelled": booking["status"] == "cancelled",
    }], name=center["name"], host=request.url.hostname or "whistle")
    return Response(content=body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="booking-{booking["code"]}.ics"', "Cache-Control": "no-store"})


@get("/my/bookings/{booking_id:int}/change", guards=[citizen_guard])
async def change_form(request: Request, booking_id: FromPath[int]) -> Response:
    booking = await _mine(request, booking_id)
    service = await service_at(request.app.state.registry, booking["center"], booking["service_key"])
    return await _slots_page(request, await _center(booking["center"]), service, action=f"/my/bookings/{booking_id}/change",
                             booking=describe(booking))


@post("/my/bookings/{booking_id:int}/change", guards=[citizen_guard])
async def change(request: Request, booking_id: FromPath[int]) -> Response:
    booking = await _mine(request, booking_id)
    registry = request.app.state.registry
    service = await service_at(registry, booking["center"], booking["service_key"])
    form = await read_form(request)
    minute = parse_slot(form.str("slot"))
    center = await _center(booking["center"])
    action = f"/my/bookings/{booking_id}/change"
    if minute is None:
        return await _slots_page(request, center, service, errors={"slot": _("Choose a day and time from the list.")},
                                 status=422, action=action, booking=describe(booking))
    try:
        await svc.change(ctx_for_citizen(request), booking_id, minute, citizen_id=citizen_of(request).citizen_id, registry=registry)
    except svc.BookingError as problem:
        return await _slots_page(request, center, service, errors={"slot": problem.message}, status=409 if isinstance(problem, svc.SlotTaken) else 422,
                                 action=action, booking=describe(booking), taken=isinstance(problem, svc.SlotTaken))
    deliver_soon(request.app)
    return redirect(request, f"/my/bookings/{booking_id}", _("Your booking was changed. We sent you an SMS."))


@post("/my/bookings/{booking_id:int}/cancel", guards=[citizen_guard])
async def cancel(request: Request, booking_id: FromPath[int]) -> Response:
    booking = await _mine(request, booking_id)
    form = await read_form(request)
    try:
        await svc.cancel(ctx_for_citizen(request), booking_id, form.str("reason", 200), citizen_id=citizen_of(request).citizen_id,
                         registry=request.app.state.registry)
    except svc.BookingError as problem:
        return await _booking_page(request, booking, {"reason": problem.message}, status=422)
    deliver_soon(request.app)
    return redirect(request, f"/my/bookings/{booking_id}", _("Your booking was cancelled."))


@post("/my/bookings/{booking_id:int}/accept", guards=[citizen_guard])
async def accept(request: Request, booking_id: FromPath[int]) -> Response:
    booking = await _mine(request, booking_id)
    try:
        await svc.accept_offer(ctx_for_citizen(request), booking_id, citizen_of(request).citizen_id, request.app.state.registry)
    except svc.BookingError as problem:
        return await _booking_page(request, booking, {"offer": problem.message}, status=422)
    deliver_soon(request.app)
    return redirect(request, f"/my/bookings/{booking_id}", _("Booked. We sent you an SMS."))


@post("/my/bookings/{booking_id:int}/decline", guards=[citizen_guard])
async def decline(request: Request, booking_id: FromPath[int]) -> Response:
    await _mine(request, booking_id)
    await svc.decline_offer(ctx_for_citizen(request), booking_id, citizen_of(request).citizen_id, request.app.state.registry)
    deliver_soon(request.app)
    return redirect(request, "/my/bookings", _("You declined the offer."))


@post("/my/waitlist/{entry_id:int}/leave", guards=[citizen_guard])
async def leave(request: Request, entry_id: FromPath[int]) -> Response:
    await svc.leave_waitlist(ctx_for_citizen(request), entry_id, citizen_of(request).citizen_id)
    return redirect(request, "/my/bookings", _("You left the waiting list."))


ROUTES = [choose_center, choose_service, choose_slot, check_answers, confirm, join_waitlist, my_bookings, my_booking,
          my_booking_ics, change_form, change, cancel, accept, decline, leave]
