"""Staff sign-in, second factor, temporary-password change, sign-out and the account page."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from litestar.params import FromPath, FromQuery
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException, TooManyRequestsException
from markupsafe import Markup

from portal import clock
from portal.auth import sessions, throttle, totp
from portal.auth.guards import staff_guard
from portal.auth.middleware import session_token
from portal.auth.passwords import DUMMY_HASH, check_policy, hash_password, needs_rehash, verify_password
from portal.crypto import FieldCipher, token_hash
from portal.db import write_transaction
from portal.i18n import _
from portal.tables import AuthSession, Center, StaffUser
from portal.web.render import redirect, render
from portal.web.request import audit, client_ip, principal, safe_next
from portal.web.cookies import session_cookie

__all__ = ["ROUTES"]

STAGE_URLS = {
    "password": "/login/totp",
    "enroll": "/login/totp/setup",
    "change_password": "/login/password",
}


def _session_cookie(request: Request, token: str | None) -> Cookie:
    settings = request.app.state.settings
    return session_cookie(settings.session_cookie, token, secure=settings.cookie_secure)


def _next_stage(user: dict, settings) -> str:
    if user["must_change_password"]:
        return "change_password"
    if user["totp_confirmed"]:
        return "password"
    exempt = user["is_demo"] and not settings.production
    if settings.require_totp and not exempt:
        return "enroll"
    return "full"


def _stage_url(stage: str, next_url: str) -> str:
    if stage == "full":
        return next_url
    return f"{STAGE_URLS[stage]}?next={quote(next_url, safe='/')}"


async def _start_stage(request: Request, user: dict, stage: str, next_url: str, message: str | None = None) -> Response:
    """Issue a fresh token for ``stage`` (deleting the current one): no token survives a privilege change."""
    settings = request.app.state.settings
    current = principal(request)
    old_token = session_token(request.scope, settings.session_cookie)
    async with write_transaction():
        if current is not None:
            await sessions.revoke(current.session_id)
        elif old_token:
            await AuthSession.delete().where(AuthSession.token_hash == token_hash(old_token))
        token = await sessions.create(
            user["id"], stage, settings, ip=client_ip(request), user_agent=request.headers.get("user-agent", "")
        )
        if stage == "full":
            await StaffUser.update({StaffUser.last_login_at: clock.now()}).where(StaffUser.id == user["id"])
            await audit(request, "login.success", object_type="staff_user", object_id=user["id"], center_id=user["center"])
    response = redirect(request, _stage_url(stage, next_url), message)
    response.cookies.append(_session_cookie(request, token))
    return response


def _lock_message(settings) -> str:
    return _(
        "This account is locked after too many failed attempts. Try again in %(minutes)s minutes, or ask your security administrator to unlock it.",
        minutes=settings.login_lock_minutes,
    )


async def _login_page(request: Request, values: dict, errors: dict, status: int = 200, notice: str | None = None) -> Response:
    return await render(
        request,
        "auth/login.html",
        {"title": _("Staff sign-in"), "values": values, "errors": errors, "notice": notice, "hide_sign_in": True},
        status=status,
    )


@get("/login", name="login")
async def login_form(request: Request, next: FromQuery[str | None] = None, expired: FromQuery[str | None] = None) -> Response:
    user = principal(request)
    next_url = safe_next(next)
    if user is not None:
        if user.signed_in:
            return redirect(request, next_url)
        return redirect(request, _stage_url(user.stage, next_url))
    notice = _("You were signed out because you were inactive for a while. Sign in again to continue.") if expired else None
    return await _login_page(request, {"next": next_url}, {}, notice=notice)


@post("/login")
async def login_submit(request: Request) -> Response:
    settings = request.app.state.settings
    form = await request.form()
    username = (form.get("username") or "").strip()
    password = form.get("password") or ""
    next_url = safe_next(form.get("next"))
    values = {"username": username, "next": next_url}
    errors: dict[str, str] = {}
    if not username:
        errors["username"] = _("Enter your username.")
    if not password:
        errors["password"] = _("Enter your password.")
    if errors:
        return await _login_page(request, values, errors, status=422)

    # Per-address limit on failed sign-ins (credential stuffing); a busy office behind one NAT
    # address signing in correctly is never throttled.
    ip_key, ip_window = f"login-ip:{client_ip(request)}", dt.timedelta(minutes=settings.login_ip_window_minutes)
    verdict = await throttle.count(ip_key, ip_window)
    if verdict.hits >= settings.login_ip_limit:
        async with write_transaction():
            await audit(request, "login.rate_limited", result="denied")
        raise TooManyRequestsException(headers={"Retry-After": str(verdict.retry_after)})

    lock_key = f"login-user:{username.lower()}"
    if await throttle.locked_until(lock_key):
        async with write_transaction():
            await audit(request, "login.locked", result="denied", object_type="username", object_id=username[:64])
        return await _login_page(request, values, {"username": _lock_message(settings)}, status=403)

    user = await StaffUser.select().where(StaffUser.username == username).first()
    # Always verify against some hash so unknown names take as long as wrong passwords.
    password_ok = verify_password(user["password_hash"] if user else DUMMY_HASH, password)
    if not (password_ok and user and user["active"]):
        lock_window = dt.timedelta(minutes=settings.login_lock_minutes)
        await throttle.hit(ip_key, settings.login_ip_limit, ip_window)
        failures = await throttle.hit(lock_key, settings.login_max_failures, lock_window)
        locked = failures.hits >= settings.login_max_failures
        async with write_transaction():
            if locked:
                await throttle.lock(lock_key, clock.now() + lock_window)
            await audit(
                request,
                "login.failed",
                result="denied",
                object_type="staff_user" if user else "username",
                object_id=user["id"] if user else username[:64],
            )
            if locked:
                await audit(request, "login.lockout", result="denied", object_type="username", object_id=username[:64])
        message = _lock_message(settings) if locked else _("The username or password is not correct.")
        return await _login_page(request, values, {"username": message}, status=403 if locked else 422)

    await throttle.clear(lock_key)
    if needs_rehash(user["password_hash"]):
        await StaffUser.update({StaffUser.password_hash: hash_password(password)}).where(StaffUser.id == user["id"])
    stage = _next_stage(user, settings)
    if stage != "full":
        async with write_transaction():
            await audit(request, "login.password_ok", object_type="staff_user", object_id=user["id"], center_id=user["center"])
    return await _start_stage(request, user, stage, next_url)


async def _pending_user(request: Request, stage: str) -> dict:
    current = principal(request)
    if current is None or current.stage != stage:
        raise NotFoundException()
    return await StaffUser.select().where(StaffUser.id == current.user_id).first()


# ---------------------------------------------------------------------- second factor


@get("/login/totp")
async def totp_form(request: Request, next: FromQuery[str | None] = None) -> Response:
    await _pending_user(request, "password")
    return await render(request, "auth/totp.html", {"title": _("Enter your verification code"), "values": {"next": safe_next(next)}, "errors": {}, "hide_sign_in": True})


@post("/login/totp")
async def totp_submit(request: Request) -> Response:
    settings = request.app.state.settings
    user = await _pending_user(request, "password")
    form = await request.form()
    code = (form.get("code") or "").strip()
    next_url = safe_next(form.get("next"))
    secret = FieldCipher(settings).decrypt(user["totp_secret"]) or ""
    step = totp.verify_code(secret, code, user["totp_last_step"]) if secret else None
    if step is None:
        window = dt.timedelta(minutes=settings.login_lock_minutes)
        failures = await throttle.hit(f"totp-fail:{user['id']}", settings.login_max_failures, window)
        async with write_transaction():
            await audit(request, "login.totp_failed", result="denied", object_type="staff_user", object_id=user["id"])
            if failures.hits >= settings.login_max_failures:
                await throttle.hit(f"login-user:{user['username'].lower()}", settings.login_max_failures, window)
                await throttle.lock(f"login-user:{user['username'].lower()}", clock.now() + window)
                await sessions.revoke(principal(request).session_id)
                await audit(request, "login.lockout", result="denied", object_type="staff_user", object_id=user["id"])
        if failures.hits >= settings.login_max_failures:
            response = redirect(request, "/login", _lock_message(settings), "error")
            response.cookies.append(_session_cookie(request, None))
            return response
        error = _("The code is not correct or has expired. Enter the 6-digit code your authenticator app shows now.") if code else _("Enter the 6-digit code from your authenticator app.")
        return await render(
            request,
            "auth/totp.html",
            {"title": _("Enter your verification code"), "values": {"next": next_url}, "errors": {"code": error}, "hide_sign_in": True},
            status=422,
        )
    await throttle.clear(f"totp-fail:{user['id']}")
    await StaffUser.update({StaffUser.totp_last_step: step}).where(StaffUser.id == user["id"])
    return await _start_stage(request, user, "full", next_url)


async def _enroll_context(request: Request, user: dict, next_url: str, errors: dict) -> dict[str, Any]:
    secret = FieldCipher(request.app.state.settings).decrypt(user["totp_secret"]) or ""
    uri = totp.provisioning_uri(secret, user["username"])
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return {
        "title": _("Set up two-step verification"),
        "qr": Markup(totp.qr_svg(uri)),  # generated by us from the secret, not user input
        "secret": grouped,
        "values": {"next": next_url},
        "errors": errors,
        "hide_sign_in": True,
    }


@get("/login/totp/setup")
async def totp_setup_form(request: Request, next: FromQuery[str | None] = None) -> Response:
    user = await _pending_user(request, "enroll")
    cipher = FieldCipher(request.app.state.settings)
    if not cipher.decrypt(user["totp_secret"] or ""):
        secret = totp.new_secret()
        await StaffUser.update({StaffUser.totp_secret: cipher.encrypt(secret), StaffUser.totp_confirmed: False}).where(
            StaffUser.id == user["id"]
        )
        user["totp_secret"] = cipher.encrypt(secret)
    return await render(request, "auth/totp_setup.html", await _enroll_context(request, user, safe_next(next), {}))


@post("/login/totp/setup")
async def totp_setup_submit(request: Request) -> Response:
    user = await _pending_user(request, "enroll")
    form = await request.form()
    next_url = safe_next(form.get("next"))
    secret = FieldCipher(request.app.state.settings).decrypt(user["totp_secret"] or "") or ""
    step = totp.verify_code(secret, form.get("code") or "", 0) if secret else None
    if step is None:
        context = await _enroll_context(request, user, next_url, {"code": _("The code is not correct. Enter the 6-digit code your app shows for this account.")})
        return await render(request, "auth/totp_setup.html", context, status=422)
    async with write_transaction():
        await StaffUser.update({StaffUser.totp_confirmed: True, StaffUser.totp_last_step: step}).where(StaffUser.id == user["id"])
        await audit(request, "totp.enrolled", object_type="staff_user", object_id=user["id"], fields=("totp_secret",))
    user["totp_confirmed"] = True
    return await _start_stage(request, user, "full", next_url, _("Two-step verification is set up."))


# ------------------------------------------------------------------ temporary password


def _password_context(user: dict, next_url: str, errors: dict, title: str, current: bool) -> dict[str, Any]:
    return {"title": title, "values": {"next": next_url}, "errors": errors, "ask_current": current, "hide_sign_in": True}


async def _check_new_password(request: Request, user: dict, form) -> dict[str, str]:
    settings = request.app.state.settings
    new, confirm = form.get("new_password") or "", form.get("confirm_password") or ""
    errors: dict[str, str] = {}
    center = await Center.select(Center.name, Center.code).where(Center.id == user["center"]).first()
    problem = check_policy(
        new,
        settings.password_min_length,
        context=(user["username"], user["display_name"], center["name"] if center else "", center["code"] if center else ""),
    )
    if not new:
        errors["new_password"] = _("Enter a new password.")
    elif problem:
        errors["new_password"] = problem
    elif verify_password(user["password_hash"], new):
        errors["new_password"] = _("The new password must be different from the old one.")
    elif new != confirm:
        errors["confirm_password"] = _("The two passwords do not match. Type the new password again.")
    return errors


@get("/login/password")
async def temp_password_form(request: Request, next: FromQuery[str | None] = None) -> Response:
    user = await _pending_user(request, "change_password")
    return await render(request, "auth/password.html", _password_context(user, safe_next(next), {}, _("Choose a new password"), False))


@post("/login/password")
async def temp_password_submit(request: Request) -> Response:
    user = await _pending_user(request, "change_password")
    form = await request.form()
    next_url = safe_next(form.get("next"))
    errors = await _check_new_password(request, user, form)
    if errors:
        return await render(request, "auth/password.html", _password_context(user, next_url, errors, _("Choose a new password"), False), status=422)
    async with write_transaction():
        await StaffUser.update(
            {
                StaffUser.password_hash: hash_password(form.get("new_password")),
                StaffUser.must_change_password: False,
                StaffUser.password_changed_at: clock.now(),
            }
        ).where(StaffUser.id == user["id"])
        await audit(request, "password.changed", object_type="staff_user", object_id=user["id"], fields=("password_hash",))
    user["must_change_password"] = False
    return await _start_stage(request, user, _next_stage(user, request.app.state.settings), next_url)


# ------------------------------------------------------------------------- sign out


@post("/logout")
async def logout(request: Request) -> Response:
    current = principal(request)
    if current is not None:
        async with write_transaction():
            await sessions.revoke(current.session_id)
            await audit(request, "logout", object_type="staff_user", object_id=current.user_id)
    response = redirect(request, "/login", _("You have signed out."))
    response.cookies.append(_session_cookie(request, None))
    return response


# ------------------------------------------------------------------------- account


async def _account_context(request: Request, errors: dict | None = None) -> dict[str, Any]:
    current = principal(request)
    user = await StaffUser.select(
        StaffUser.username, StaffUser.display_name, StaffUser.totp_confirmed, StaffUser.last_login_at, StaffUser.password_changed_at
    ).where(StaffUser.id == current.user_id).first()
    rows = await AuthSession.select().where(AuthSession.user == current.user_id).order_by(AuthSession.created_at, ascending=False)
    return {
        "title": _("My account"),
        "account": user,
        "sessions": rows,
        "current_session": current.session_id,
        "errors": errors or {},
        "values": {},
    }


@get("/account", guards=[staff_guard])
async def account(request: Request) -> Response:
    return await render(request, "auth/account.html", await _account_context(request))


@get("/account/password", guards=[staff_guard])
async def account_password_form(request: Request) -> Response:
    user = await StaffUser.select().where(StaffUser.id == principal(request).user_id).first()
    return await render(request, "auth/password.html", _password_context(user, "/account", {}, _("Change my password"), True))


@post("/account/password", guards=[staff_guard])
async def account_password_submit(request: Request) -> Response:
    current = principal(request)
    user = await StaffUser.select().where(StaffUser.id == current.user_id).first()
    form = await request.form()
    errors: dict[str, str] = {}
    if not verify_password(user["password_hash"], form.get("current_password") or ""):
        errors["current_password"] = _("Your current password is not correct.")
    errors.update(await _check_new_password(request, user, form) if not errors else {})
    if errors:
        return await render(request, "auth/password.html", _password_context(user, "/account", errors, _("Change my password"), True), status=422)
    async with write_transaction():
        await StaffUser.update(
            {StaffUser.password_hash: hash_password(form.get("new_password")), StaffUser.password_changed_at: clock.now()}
        ).where(StaffUser.id == user["id"])
        # Other devices signed in with the old password are signed out.
        await sessions.revoke_user(user["id"], keep_session_id=current.session_id)
        await audit(request, "password.changed", object_type="staff_user", object_id=user["id"], fields=("password_hash",))
    return await _start_stage(request, user, "full", "/account", _("Your password has been changed. Your other sessions were ended."))


@post("/account/sessions/{session_id:int}/end", guards=[staff_guard])
async def end_session(request: Request, session_id: FromPath[int]) -> Response:
    current = principal(request)
    async with write_transaction():
        row = await AuthSession.select(AuthSession.id).where((AuthSession.id == session_id) & (AuthSession.user == current.user_id)).first()
        if row is None:
            raise NotFoundException()
        await sessions.revoke(session_id)
        await audit(request, "session.ended", object_type="auth_session", object_id=session_id)
    if session_id == current.session_id:
        response = redirect(request, "/login", _("You have signed out."))
        response.cookies.append(_session_cookie(request, None))
        return response
    return redirect(request, "/account", _("The session has been ended."))


@post("/account/sessions/end-others", guards=[staff_guard])
async def end_other_sessions(request: Request) -> Response:
    current = principal(request)
    async with write_transaction():
        await sessions.revoke_user(current.user_id, keep_session_id=current.session_id)
        await audit(request, "session.ended_others", object_type="staff_user", object_id=current.user_id)
    return redirect(request, "/account", _("All your other sessions have been ended."))


ROUTES = [
    login_form,
    login_submit,
    totp_form,
    totp_submit,
    totp_setup_form,
    totp_setup_submit,
    temp_password_form,
    temp_password_submit,
    logout,
    account,
    account_password_form,
    account_password_submit,
    end_session,
    end_other_sessions,
]
