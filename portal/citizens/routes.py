"""Citizen sign-in pages (phone + SMS code) and the citizen's messages.

``/citizen/login`` asks for the number, ``/citizen/login/code`` for the code (one question per
page). Between the two the number travels in a short-lived signed cookie, never in the URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromQuery

from portal import clock
from portal.citizens import codes, sessions
from portal.citizens.guards import CITIZEN_HOME, citizen_guard, citizen_of
from portal.db import write_transaction
from portal.i18n import _
from portal.notify.outbox import deliver_soon, open_inbox
from portal.notify.senders import DevelopmentSender, mask_phone
from portal.web.forms import normalize_phone, read_form
from portal.web.render import redirect, render
from portal.web.request import citizen_trail, client_ip, safe_next
from portal.web.cookies import session_cookie

__all__ = ["ROUTES"]

PENDING_SECONDS = 15 * 60
PAGE_SIZE = 30


# ----------------------------------------------------------------------- cookies


def _pending_name(settings) -> str:
    return f"{settings.citizen_cookie}_pending"


def _sign(settings, payload: bytes) -> str:
    return hmac.new(settings.secret_key.encode(), b"citizen-pending:" + payload, hashlib.sha256).hexdigest()[:32]


def _pending_cookie(settings, phone: str | None) -> Cookie:
    value = ""
    if phone:
        payload = base64.urlsafe_b64encode(json.dumps({"p": phone, "e": int(clock.now().timestamp()) + PENDING_SECONDS}).encode())
        value = f"{payload.decode()}.{_sign(settings, payload)}"
    return Cookie(
        key=_pending_name(settings),
        value=value,
        path="/",
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        max_age=PENDING_SECONDS if phone else 0,
    )


def _pending_phone(request: Request) -> str | None:
    settings = request.app.state.settings
    value = request.cookies.get(_pending_name(settings)) or ""
    if "." not in value:
        return None
    payload, signature = value.rsplit(".", 1)
    if not hmac.compare_digest(signature, _sign(settings, payload.encode())):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload))
        phone, expires = str(data["p"]), int(data["e"])
    except (ValueError, TypeError, KeyError):
        return None
    if expires < clock.now().timestamp():
        return None
    return normalize_phone(phone)


def _session_cookie(settings, token: str | None) -> Cookie:
    return session_cookie(settings.citizen_cookie, token, secure=settings.cookie_secure)


def _next(value: str | None) -> str:
    return safe_next(value, CITIZEN_HOME)


def _code_url(next_url: str) -> str:
    return f"/citizen/login/code?next={quote(next_url, safe='/')}"


def _development_sender(request: Request) -> bool:
    senders = request.app.state.sms_senders
    return not request.app.state.settings.production and all(s.name == DevelopmentSender.name for s in senders)


def _cap_message(status: str) -> str:
    if status == "phone_cap":
        return _("This number has asked for too many codes today. Try again tomorrow.")
    return _("Too many codes have been asked for from this network today. Try again tomorrow.")


# ------------------------------------------------------------------------ phone


async def _login_page(request: Request, values: dict, errors: dict, status: int = 200, notice: str | None = None, headers=None) -> Response:
    return await render(
        request,
        "citizens/login.html",
        {"title": _("Sign in with your mobile number"), "values": values, "errors": errors, "notice": notice, "hide_sign_in": True},
        status=status,
        headers=headers,
    )


@get("/citizen/login", name="citizen_login")
async def login_form(request: Request, next: FromQuery[str | None] = None, expired: FromQuery[str | None] = None) -> Response:
    next_url = _next(next)
    if citizen_of(request) is not None:
        return redirect(request, next_url)
    notice = _("You were signed out because you were inactive for a while. Sign in again to continue.") if expired else None
    return await _login_page(request, {"phone": "", "next": next_url}, {}, notice=notice)


async def _send_code(request: Request, phone: str, next_url: str, on_cap) -> Response:
    """Ask for a code; on success or cooldown go to the code page, on a daily cap let ``on_cap`` answer."""
    settings = request.app.state.settings
    outcome = await codes.request_code(phone, client_ip(request), settings)
    if outcome.status in ("phone_cap", "ip_cap"):
        return await on_cap(_cap_message(outcome.status), outcome.retry_after)
    if outcome.status == "cooldown":
        response = redirect(
            request,
            _code_url(next_url),
            _(
                "A code was sent to this number less than a minute ago. Use that code, or ask for a new one in %(seconds)s seconds.",
                seconds=outcome.retry_after,
            ),
            "warning",
        )
    else:
        deliver_soon(request.app)
        response = redirect(request, _code_url(next_url), _("We have sent a code to %(phone)s.", phone=mask_phone(phone)))
    response.cookies.append(_pending_cookie(settings, phone))
    return response


@post("/citizen/login")
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    typed = form.str("phone", max_length=40)
    next_url = _next(form.str("next"))
    values = {"phone": typed, "next": next_url}
    if not typed:
        return await _login_page(request, values, {"phone": _("Enter your mobile number.")}, status=422)
    phone = normalize_phone(typed)
    if phone is None:
        error = _("Enter an 11-digit mainland mobile number that starts with 1, like 138 0013 8000.")
        return await _login_page(request, values, {"phone": error}, status=422)

    async def on_cap(message: str, retry_after: int) -> Response:
        return await _login_page(request, values, {"phone": message}, status=429, headers={"Retry-After": str(retry_after)})

    return await _send_code(request, phone, next_url, on_cap)


# ------------------------------------------------------------------------- code


async def _code_page(request: Request, phone: str, next_url: str, errors: dict, status: int = 200, headers=None) -> Response:
    settings = request.app.state.settings
    context: dict[str, Any] = {
        "title": _("Enter the code we sent you"),
        "phone": mask_phone(phone),
        "minutes": settings.sms_code_minutes,
        "values": {"next": next_url},
        "errors": errors,
        "development_sender": _development_sender(request),
        "hide_sign_in": True,
    }
    return await render(request, "citizens/code.html", context, status=status, headers=headers)


def _start_again(request: Request, next_url: str) -> Response:
    return redirect(
        request, f"/citizen/login?next={quote(next_url, safe='/')}", _("Enter your mobile number again to get a code."), "warning"
    )


@get("/citizen/login/code")
async def code_form(request: Request, next: FromQuery[str | None] = None) -> Response:
    next_url = _next(next)
    phone = _pending_phone(request)
    if phone is None:
        return _start_again(request, next_url)
    return await _code_page(request, phone, next_url, {})


@post("/citizen/login/code")
async def code_submit(request: Request) -> Response:
    settings = request.app.state.settings
    form = await read_form(request)
    next_url = _next(form.str("next"))
    phone = _pending_phone(request)
    if phone is None:
        return _start_again(request, next_url)
    code = "".join(form.str("code", max_length=40, ascii_fold=True).split()).replace("-", "")
    if not (len(code) == 6 and code.isdigit()):
        error = _("Enter the 6-digit code from the SMS.") if not code else _("The code is 6 digits, like 123456.")
        return await _code_page(request, phone, next_url, {"code": error}, status=422)
    current = citizen_of(request)
    old_token = request.cookies.get(settings.citizen_cookie)
    async with write_transaction():
        result = await codes.check_code(phone, code, settings)
        if result.ok:
            citizen_id = await codes.citizen_for(phone)
            # The browser's earlier session (whoever it belonged to) ends: a new token at every sign-in.
            if current is not None:
                await sessions.revoke(current.session_id)
            elif old_token:
                await sessions.revoke_token(old_token)
            token = await sessions.create(citizen_id, settings)
            await citizen_trail(request, citizen_id)("citizen.login", object_type="citizen", object_id=citizen_id)
        elif result.reason == "locked":
            await citizen_trail(request, None)("citizen.code_locked", result="denied", object_type="phone", object_id=mask_phone(phone))
    if not result.ok:
        if result.reason == "wrong":
            error = _("The code is not correct. Check the SMS and try again (%(count)s tries left).", count=result.tries_left)
        elif result.reason == "locked":
            error = _("A wrong code was entered too many times, so this code no longer works. Ask for a new code below.")
        else:
            error = _("The code has expired or was already used. Ask for a new code below.")
        return await _code_page(request, phone, next_url, {"code": error}, status=422)
    response = redirect(request, next_url, _("You are signed in."))
    response.cookies.append(_session_cookie(settings, token))
    response.cookies.append(_pending_cookie(settings, None))
    return response


@post("/citizen/login/resend")
async def resend(request: Request) -> Response:
    form = await read_form(request)
    next_url = _next(form.str("next"))
    phone = _pending_phone(request)
    if phone is None:
        return _start_again(request, next_url)

    async def on_cap(message: str, retry_after: int) -> Response:
        return await _code_page(request, phone, next_url, {"code": message}, status=429, headers={"Retry-After": str(retry_after)})

    return await _send_code(request, phone, next_url, on_cap)


# --------------------------------------------------------------------- sign out


@post("/citizen/logout")
async def logout(request: Request) -> Response:
    settings = request.app.state.settings
    current = citizen_of(request)
    if current is not None:
        async with write_transaction():
            await sessions.revoke(current.session_id)
            await citizen_trail(request, current.citizen_id)("citizen.logout", object_type="citizen", object_id=current.citizen_id)
    response = redirect(request, "/", _("You have signed out."))
    response.cookies.append(_session_cookie(settings, None))
    return response


# --------------------------------------------------------------------- messages


@get("/my/messages", guards=[citizen_guard])
async def my_messages(request: Request, before: FromQuery[int | None] = None) -> Response:
    me = citizen_of(request)
    rows, older = await open_inbox(citizen=me.citizen_id, before=before, page_size=PAGE_SIZE)
    return await render(
        request,
        "citizens/messages.html",
        {
            "title": _("My messages"),
            "messages": rows,
            "older": older,
            "citizen": me,
            "hide_sign_in": True,
        },
    )


ROUTES: list = [login_form, login_submit, code_form, code_submit, resend, logout, my_messages]
