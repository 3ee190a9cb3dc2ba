"""Citizens follow their matters: by tracking code + last 4 phone digits, or signed in ("my matters").

A successful code look-up gives a signed, short-lived cookie for that one matter (so the code
never sits in a URL that a shared computer's history keeps); signing in with the matter's phone
number gives the same view plus rating and review requests.
"""

from __future__ import annotations

import datetime as dt
import json

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from portal import clock
from portal.auth import throttle
from portal.citizens.guards import citizen_guard, citizen_of
from portal.crypto import hmac_hex
from portal.i18n import _
from portal.matters.clock import RULES, clock_state
from portal.matters.codes import format_code, parse_code
from portal.matters.service import Ctx, MatterError, act
from portal.matters.tables import Matter, MatterEvent, Notice
from portal.matters.vocab import CATEGORIES, EVENT_LABELS, OUTCOMES, RATINGS, STATUS_LABELS
from portal.notify.outbox import deliver_soon
from portal.tables import Center, Department
from portal.web.forms import read_form
from portal.web.render import redirect, render
from portal.web.request import citizen_trail, client_ip

__all__ = ["ROUTES"]

GRANT_COOKIE = "whistle_track"
GRANT_MINUTES = 30
IP_LIMIT = (20, dt.timedelta(minutes=15))  # look-ups per address
CODE_FAILURES = (5, dt.timedelta(hours=1))  # wrong phone digits per code before it is locked

# What the citizen is told comes next, by state.
NEXT_STEPS = {
    "registered": "中心将审查是否受理，并书面告知您。",
    "accepted": "事项正在办理，办结后将出具书面处理意见。",
    "assigned": "事项已交承办单位办理，办结后将出具书面处理意见。",
    "review": "上一级机关正在复查。",
    "rereview": "上一级机关正在复核。",
    "replied": "请查看意见书并评价。如不服，可在期限内申请复查或复核。",
    "declined": "请按不予受理告知书所列途径反映。",
    "forwarded": "事项已转送其他机关，请等待其答复。",
    "merged": "事项已与您此前提出的事项合并办理。",
    "closed": "事项已办结。",
}


def _grant_value(secret: str, matter_id: int, expires: int) -> str:
    return f"{matter_id}.{expires}.{hmac_hex(secret.encode(), f'track:{matter_id}:{expires}')[:32]}"


def _granted(request: Request, matter_id: int) -> bool:
    value = request.cookies.get(GRANT_COOKIE, "")
    try:
        granted_id, expires, _sig = value.split(".")
        if int(granted_id) != matter_id or int(expires) < clock.now().timestamp():
            return False
    except ValueError:
        return False
    return value == _grant_value(request.app.state.settings.secret_key, matter_id, int(expires))


def _is_owner(request: Request, m: dict) -> bool:
    citizen = citizen_of(request)
    return citizen is not None and (m["citizen"] == citizen.citizen_id or m["petitioner_phone"] == citizen.phone)


# ----------------------------------------------------------------------------- look-up by code

@get("/track")
async def track_form(request: Request) -> Response:
    return await render(request, "matters/track_form.html", {"title": _("Follow a matter"), "values": {}, "errors": {}, "hide_sign_in": True})


@post("/track")
async def track_lookup(request: Request) -> Response:
    form = await read_form(request)
    values = {"code": form.str("code", 40), "last4": form.str("last4", 8, ascii_fold=True)}

    async def again(message: str, field: str = "code") -> Response:
        return await render(request, "matters/track_form.html",
                            {"title": _("Follow a matter"), "values": values, "errors": {field: message}, "hide_sign_in": True}, status=422)

    if not values["code"]:
        return await again(_("Enter the tracking code from your SMS or receipt."))
    code = parse_code(values["code"])
    if code is None:
        return await again(_("This is not a valid tracking code. It has 12 letters and digits, for example 7KQ2-M9XD-4HTP."))
    if not (values["last4"].isdigit() and len(values["last4"]) == 4):
        return await again(_("Enter the last 4 digits of the mobile number you gave."), "last4")
    verdict = await throttle.hit(f"track-ip:{client_ip(request)}", *IP_LIMIT)
    if not verdict.allowed or await throttle.locked_until(f"track-code:{code}"):
        return await again(_("Too many attempts. Try again in 15 minutes, or call the center."))
    m = await Matter.select(Matter.id, Matter.phone_last4).where(Matter.code == code).first()
    if m is None or m["phone_last4"] != values["last4"]:
        failures = await throttle.hit(f"track-code:{code}", CODE_FAILURES[0], CODE_FAILURES[1])
        if not failures.allowed:
            await throttle.lock(f"track-code:{code}", clock.now() + CODE_FAILURES[1])
        # One answer for both mistakes: nobody learns which codes exist.
        return await again(_("The tracking code and the phone digits do not match a matter. Check both and try again."))
    expires = int((clock.now() + dt.timedelta(minutes=GRANT_MINUTES)).timestamp())
    response = Redirect(path=f"/track/{code}", status_code=303)
    response.set_cookie(GRANT_COOKIE, _grant_value(request.app.state.settings.secret_key, m["id"], expires),
                        max_age=GRANT_MINUTES * 60, path="/track", httponly=True, samesite="lax",
                        secure=request.app.state.settings.cookie_secure)
    return response


async def _matter_by_code(request: Request, code: str) -> dict:
    parsed = parse_code(code)
    m = await Matter.select().where(Matter.code == parsed).first() if parsed else None
    if m is None or not (_granted(request, m["id"]) or _is_owner(request, m)):
        raise NotFoundException()
    return m


async def _track_context(request: Request, m: dict, errors: dict | None = None, values: dict | None = None) -> dict:
    events = await MatterEvent.select(MatterEvent.at, MatterEvent.kind, MatterEvent.note, MatterEvent.data, MatterEvent.center.name.as_alias("center_name")).where(
        (MatterEvent.matter == m["id"]) & (MatterEvent.public == True)  # noqa: E712
    ).order_by(MatterEvent.id)
    for event in events:
        event["data"] = json.loads(event["data"] or "{}")
        event["label"] = EVENT_LABELS.get(event["kind"], event["kind"])
        # Staff notes shown to the citizen keep their text; decisions show only the wording of the notice.
        if event["kind"] not in ("note", "paused", "declined", "forwarded", "escalated", "handed_down", "review_requested", "rereview_requested"):
            event["note"] = ""
    notice_rows = await Notice.select(Notice.id, Notice.title, Notice.number, Notice.issued_at).where(Notice.matter == m["id"]).order_by(Notice.id)
    center = await Center.select(Center.name, Center.phone, Center.parent).where(Center.id == m["center"]).first()
    department = await Department.select(Department.name).where(Department.id == m["department"]).first() if m["department"] else None
    now = clock.now()
    owner = _is_owner(request, m)
    can_rate = owner and not m["rating"] and m["replied_at"] is not None and m["status"] in ("replied", "closed")
    can_review = owner and m["status"] == "replied" and not m["final"] and m["review_level"] < 2 and (m["due_at"] is None or now <= m["due_at"]) and bool(center["parent"])
    return {
        "title": _("Your matter"), "m": m, "code": format_code(m["code"]), "events": events, "notices": notice_rows,
        "center": center, "department": department, "status_label": STATUS_LABELS.get(m["status"], m["status"]),
        "category_label": CATEGORIES.get(m["category"], m["category"]), "next_step": NEXT_STEPS.get(m["status"], ""),
        "rule_label": RULES[m["clock"]].label if m["clock"] in RULES else "",
        "state": "paused" if m["paused_at"] else clock_state(m["due_at"], now),
        "owner": owner, "can_rate": can_rate, "can_review": can_review, "ratings": list(RATINGS.items()),
        "outcome_label": OUTCOMES.get(m["outcome"], ""), "rating_label": RATINGS.get(m["rating"], ""),
        "errors": errors or {}, "values": values or {}, "hide_sign_in": True,
    }


@get("/track/{code:str}")
async def track_page(request: Request, code: FromPath[str]) -> Response:
    m = await _matter_by_code(request, code)
    return await render(request, "matters/track.html", await _track_context(request, m))


@get("/track/{code:str}/notices/{notice_id:int}")
async def track_notice(request: Request, code: FromPath[str], notice_id: FromPath[int]) -> Response:
    m = await _matter_by_code(request, code)
    notice = await Notice.select().where((Notice.id == notice_id) & (Notice.matter == m["id"])).first()
    if notice is None:
        raise NotFoundException()
    issuer = await Center.select(Center.name).where(Center.id == notice["center"]).first()
    return await render(request, "matters/notice.html", {"title": notice["title"], "notice": notice, "m": m,
                                                         "issuer": issuer["name"], "back": f"/track/{m['code']}", "hide_sign_in": True})


def _citizen_ctx(request: Request) -> Ctx:
    citizen = citizen_of(request)
    citizen_id = citizen.citizen_id if citizen else None
    return Ctx(trail=citizen_trail(request, citizen_id), registry=request.app.state.registry, user_label=_("the citizen"),
               citizen_id=citizen_id)


async def _citizen_action(request: Request, code: str, action: str, fields: tuple[str, ...]) -> Response:
    m = await _matter_by_code(request, code)
    if not _is_owner(request, m):
        raise NotFoundException()
    form = await read_form(request)
    values = {name: form.str(name, 1000) for name in fields}
    try:
        await act(_citizen_ctx(request), m["id"], action, values)
    except MatterError as error:
        fresh = await Matter.select().where(Matter.id == m["id"]).first()
        context = await _track_context(request, fresh, errors={action: str(error)}, values=values)
        return await render(request, "matters/track.html", context, status=422)
    deliver_soon(request.app)
    message = _("Thank you for your rating.") if action == "rate" else _("Your request has been sent to the upper center.")
    return redirect(request, f"/track/{m['code']}", message)


@post("/track/{code:str}/rate", guards=[citizen_guard])
async def track_rate(request: Request, code: FromPath[str]) -> Response:
    return await _citizen_action(request, code, "rate", ("rating", "reason"))


@post("/track/{code:str}/review", guards=[citizen_guard])
async def track_review(request: Request, code: FromPath[str]) -> Response:
    return await _citizen_action(request, code, "request_review", ("reason",))


# ----------------------------------------------------------------------------- my matters

@get("/my/matters", guards=[citizen_guard])
async def my_matters(request: Request) -> Response:
    citizen = citizen_of(request)
    rows = await Matter.select(Matter.code, Matter.summary, Matter.status, Matter.received_at, Matter.due_at).where(
        (Matter.citizen == citizen.citizen_id) | (Matter.petitioner_phone == citizen.phone)
    ).order_by(Matter.id, ascending=False).limit(100)
    for row in rows:
        row["status_label"] = STATUS_LABELS.get(row["status"], row["status"])
    return await render(request, "matters/my_matters.html", {"title": _("My matters"), "rows": rows, "hide_sign_in": True})


ROUTES = [track_form, track_lookup, track_page, track_notice, track_rate, track_review, my_matters]
