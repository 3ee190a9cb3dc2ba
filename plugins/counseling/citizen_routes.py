"""Citizen pages of the counseling module, under /m/counseling/c/{center_code}/ (``module_guard``
answers 404 where the module is not enabled at that center).

* the counseling room's page: what counseling is and is not, confidentiality and its limits in a
  sentence, how to book (the engine's flow; a pseudonym and a mobile number are enough), help
  lines, and — signed in — the person's own counseling bookings with their next steps;
* informed consent for a booking (its own page, the box unticked);
* the optional self-screening (PHQ-9, GAD-7) before a first session. Afterwards the person sees
  that the answers arrived and where to find help — never a score or a verdict.

A booking is the person's when it was made with their account or their verified phone number
(``booking.citizen_booking``); any other id is 404.
"""

from __future__ import annotations

import logging

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal.bookings.views import describe
from portal.citizens.guards import citizen_guard, citizen_of
from portal.db import create_once, new_submission_key, raw
from portal.i18n import _
from portal.notify.outbox import deliver_soon
from portal.web.forms import read_form
from portal.web.render import redirect, render
from portal.web.request import citizen_trail

from plugins.counseling import booking as bk
from plugins.counseling import consent as cs
from plugins.counseling import screening as sc
from plugins.counseling.notes_crypto import CounselingKeyError, open_cipher

log = logging.getLogger("portal.counseling")

__all__ = ["ROUTES"]

NO_STORE = {"Cache-Control": "no-store"}
OPEN = ("booked", "checked_in")


async def _center(code: str) -> dict:
    rows = await raw("SELECT id, code, name, path, phone, address, hours FROM center WHERE code = {} AND active", code)
    if not rows:
        raise NotFoundException()
    return rows[0]


def _base(center: dict) -> str:
    return f"/m/counseling/c/{center['code']}"


@get("/c/{center_code:str}")
async def room(request: Request, center_code: FromPath[str]) -> Response:
    center = await _center(center_code)
    citizen = citizen_of(request)
    mine = []
    if citizen is not None:
        for row in await bk.citizen_bookings(citizen.citizen_id, center["id"]):
            mine.append({**describe(row), "service_label": bk.SERVICE_LABELS.get(row["service_key"], ""),
                         "first": row["service_key"] == bk.FIRST, "open": row["status"] in OPEN})
    return await render(request, "counseling/book_room.html", {
        "title": _("Psychological counseling"), "center": center, "services": bk.SERVICES, "mine": mine,
        "settings": await bk.load_settings(center["id"]), "signed_in": citizen is not None, "base": _base(center),
        "book_url": f"/book/{center['id']}/{bk.FIRST}",
    }, headers=NO_STORE)


async def _mine(request: Request, center_code: str, booking_id: int) -> tuple[dict, dict]:
    center = await _center(center_code)
    booking = await bk.citizen_booking(citizen_of(request).citizen_id, center, booking_id)
    return center, booking


# ----------------------------------------------------------------------------- consent


async def _consent_page(request: Request, center: dict, booking: dict, errors: dict | None = None, status: int = 200) -> Response:
    settings = await bk.load_settings(center["id"])
    consent = await cs.consent_for(booking["id"])
    return await render(request, "counseling/consent.html", {
        "title": _("Informed consent"), "center": center, "b": describe(booking), "consent": consent,
        "text": cs.text_for(consent["version"] if consent else settings["consent_version"], settings),
        "errors": errors or {}, "base": _base(center), "open": booking["status"] in OPEN,
        "offer_screening": booking["service_key"] == bk.FIRST and booking["status"] in OPEN
        and await sc.screening_for(booking["id"]) is None,
    }, status=status, headers=NO_STORE)


@get("/c/{center_code:str}/consent/{booking_id:int}", guards=[citizen_guard])
async def consent_form(request: Request, center_code: FromPath[str], booking_id: FromPath[int]) -> Response:
    center, booking = await _mine(request, center_code, booking_id)
    return await _consent_page(request, center, booking)


@post("/c/{center_code:str}/consent/{booking_id:int}", guards=[citizen_guard])
async def give_consent(request: Request, center_code: FromPath[str], booking_id: FromPath[int]) -> Response:
    center, booking = await _mine(request, center_code, booking_id)
    form = await read_form(request)
    if booking["status"] not in OPEN:
        return await _consent_page(request, center, booking, {"agree": _("This booking is no longer open.")}, status=422)
    if not form.flag("agree"):
        return await _consent_page(request, center, booking, {
            "agree": _("Tick the box if you agree. If you do not, you can still talk to the counselor about it first, or cancel the booking."),
        }, status=422)
    settings = await bk.load_settings(center["id"])
    version = form.str("version", 16)
    if version not in cs.TEXTS:
        version = settings["consent_version"]
    citizen_id = citizen_of(request).citizen_id
    await cs.record(citizen_trail(request, citizen_id), booking, version=version, channel="online", citizen_id=citizen_id)
    return redirect(request, f"{_base(center)}/consent/{booking_id}", _("Thank you. Your consent is recorded."))


# ----------------------------------------------------------------------------- self-screening


async def _screening_page(request: Request, center: dict, booking: dict, values: dict | None = None,
                          errors: dict | None = None, status: int = 200) -> Response:
    done = await sc.screening_for(booking["id"])
    settings = await bk.load_settings(center["id"])
    return await render(request, "counseling/screening.html", {
        "title": _("Self-screening before your first session"), "center": center, "b": describe(booking),
        "done": done is not None, "open": booking["status"] in OPEN, "values": values or {}, "errors": errors or {},
        "stem": sc.STEM, "answers": sc.ANSWERS, "phq9": list(enumerate(sc.PHQ9_ITEMS, 1)), "gad7": list(enumerate(sc.GAD7_ITEMS, 1)),
        "difficulty_question": sc.DIFFICULTY_QUESTION, "difficulty": sc.DIFFICULTY, "settings": settings,
        "base": _base(center), "submission_key": new_submission_key(),
    }, status=status, headers=NO_STORE)


def _screenable(booking: dict) -> None:
    if booking["service_key"] != bk.FIRST:
        raise NotFoundException()  # offered before a first session only


@get("/c/{center_code:str}/screening/{booking_id:int}", guards=[citizen_guard])
async def screening_form(request: Request, center_code: FromPath[str], booking_id: FromPath[int]) -> Response:
    center, booking = await _mine(request, center_code, booking_id)
    _screenable(booking)
    return await _screening_page(request, center, booking)


@post("/c/{center_code:str}/screening/{booking_id:int}", guards=[citizen_guard])
async def submit_screening(request: Request, center_code: FromPath[str], booking_id: FromPath[int]) -> Response:
    center, booking = await _mine(request, center_code, booking_id)
    _screenable(booking)
    form = await read_form(request)
    result, values, errors = sc.parse(form.str)
    if not errors and booking["status"] not in OPEN:
        errors = {"phq9_1": _("This booking is no longer open.")}
    if errors:
        return await _screening_page(request, center, booking, values, errors, status=422)
    citizen_id = citizen_of(request).citizen_id

    async def validate() -> dict:
        return {}

    async def create():
        await sc.submit(citizen_trail(request, citizen_id), booking, result, cipher)
        return f"{_base(center)}/screening/{booking_id}", None

    try:
        # The answers are health information: stored only encrypted with the notes key.
        cipher = await open_cipher(request.app.state.settings)
        await create_once(form.str("_submission_key"), "counseling_screening", validate, create)
    except CounselingKeyError:
        log.error("counseling screening cannot be encrypted: PORTAL_COUNSELING_KEY does not match the stored records")
        return await _screening_page(request, center, booking, values, {
            "phq9_1": _("Your answers cannot be saved right now. Please try again later or tell the center's staff."),
        }, status=503)
    # The crisis alert (if any) was queued with the answers; send it now, not at the next retry.
    deliver_soon(request.app)
    return redirect(request, f"{_base(center)}/screening/{booking_id}", _("Thank you. Your answers were sent to your counselor."))


ROUTES = [room, consent_form, give_consent, screening_form, submit_screening]
