"""Sign-in: generic failures, lockout, per-address limit, safe ``next``, first sign-in, TOTP, production."""

from __future__ import annotations

import re
import secrets
import string

import httpx
import pytest

from portal import clock
from portal.app import create_app
from portal.auth.passwords import verify_password
from portal.crypto import FieldCipher
from portal.i18n import gettext
from portal.settings import SettingsError
from portal.tables import AuthSession, StaffUser
from tests.conftest import Client, html_text
from tests.core.auth.helpers import (
    center_id,
    form_fields,
    login_with_totp,
    make_staff,
    set_totp,
    temporary_password,
    throttle_hits,
    totp_now,
    user_id,
)

DEMO_PASSWORD = "whistle-demo-2026"
GENERIC = "The username or password is not correct."
LOCKED = (
    "This account is locked after too many failed attempts. Try again in %(minutes)s minutes, "
    "or ask your security administrator to unlock it."
)


def lock_message(settings) -> str:
    return gettext(LOCKED, minutes=settings.login_lock_minutes)


async def _attempt(client, username: str, password: str, next_url: str = "/dashboard"):
    return await client.submit("/login", {"username": username, "password": password, "next": next_url})


def _kept_username(response) -> str | None:
    return dict(form_fields(response.text, "/login")).get("username")


def _not_signed_in(response, settings) -> None:
    assert response.status_code not in (302, 303), response.headers.get("location")
    assert not response.cookies.get(settings.session_cookie)


def _wrong_code(secret: str) -> str:
    """A 6-digit code that is valid for none of the steps the server accepts now."""
    valid = {totp_now(secret, offset) for offset in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


# --------------------------------------------------------------------------- failures


async def test_wrong_password_is_refused_generically_and_keeps_the_username(client, settings):
    response = await _attempt(client, "dzz_admin", "not-the-password-1")
    assert response.status_code == 422
    assert gettext(GENERIC) in html_text(response)
    assert _kept_username(response) == "dzz_admin"
    assert "not-the-password-1" not in response.text  # the password is never echoed
    _not_signed_in(response, settings)
    assert (await client.get("/dashboard", follow_redirects=False)).status_code == 303


async def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client_factory, settings):
    known, unknown = await client_factory(), await client_factory()
    wrong = await _attempt(known, "dzz_admin", "not-the-password-1")
    missing = await _attempt(unknown, "nobody_at_all", "not-the-password-1")
    assert missing.status_code == wrong.status_code == 422
    assert gettext(GENERIC) in html_text(missing)
    assert _kept_username(missing) == "nobody_at_all"
    # The visible page is the same apart from the name typed in.
    assert html_text(missing).replace("nobody_at_all", "X") == html_text(wrong).replace("dzz_admin", "X")
    assert {c.name for c in missing.cookies.jar} == {c.name for c in wrong.cookies.jar}


async def test_empty_form_is_refused(client, settings):
    response = await _attempt(client, "", "")
    assert response.status_code == 422
    _not_signed_in(response, settings)


async def test_disabled_account_with_the_right_password_is_refused_generically(client, settings):
    await StaffUser.update({StaffUser.active: False}).where(StaffUser.username == "dzz_window")
    response = await _attempt(client, "dzz_window", DEMO_PASSWORD)
    assert response.status_code == 422
    assert gettext(GENERIC) in html_text(response)
    _not_signed_in(response, settings)


# --------------------------------------------------------------------------- lockout


async def test_five_wrong_passwords_lock_the_account_for_thirty_minutes(client, settings):
    assert settings.login_max_failures == 5 and settings.login_lock_minutes == 30
    for attempt in range(1, 5):
        response = await _attempt(client, "dzz_admin", f"wrong-password-{attempt}")
        assert response.status_code == 422, attempt
        assert gettext(GENERIC) in html_text(response)
    response = await _attempt(client, "dzz_admin", "wrong-password-5")
    _not_signed_in(response, settings)
    assert await throttle_hits("login-user:dzz_admin") == 5

    sixth = await _attempt(client, "dzz_admin", "wrong-password-6")
    assert sixth.status_code in (403, 429)
    assert lock_message(settings) in html_text(sixth)
    assert _kept_username(sixth) == "dzz_admin"

    # Even the right password is refused while the lock lasts.
    right = await _attempt(client, "dzz_admin", DEMO_PASSWORD)
    assert right.status_code in (403, 429)
    assert lock_message(settings) in html_text(right)
    _not_signed_in(right, settings)
    assert await AuthSession.count().where(AuthSession.user == await user_id("dzz_admin")) == 0

    clock.travel(minutes=29)
    still = await _attempt(client, "dzz_admin", DEMO_PASSWORD)
    assert lock_message(settings) in html_text(still)

    clock.travel(minutes=2)  # 31 minutes after the lock
    await client.login("dzz_admin")
    assert (await client.get("/dashboard")).status_code == 200


async def test_the_lock_is_per_account(client, settings):
    for attempt in range(settings.login_max_failures):
        await _attempt(client, "dzz_admin", f"wrong-password-{attempt}")
    assert lock_message(settings) in html_text(await _attempt(client, "dzz_admin", DEMO_PASSWORD))
    await client.login("dzz_window")


async def test_a_correct_password_resets_the_failure_count(client, settings):
    for attempt in range(settings.login_max_failures - 1):
        await _attempt(client, "dzz_admin", f"wrong-password-{attempt}")
    await client.login("dzz_admin")
    await client.submit("/logout")
    for attempt in range(settings.login_max_failures - 1):
        response = await _attempt(client, "dzz_admin", f"again-wrong-{attempt}")
        assert response.status_code == 422
    await client.login("dzz_admin")


async def test_username_case_does_not_dodge_the_lock(client, settings):
    for attempt in range(settings.login_max_failures):
        await _attempt(client, "dzz_admin" if attempt % 2 else "DZZ_Admin", f"wrong-password-{attempt}")
    assert await throttle_hits("login-user:dzz_admin") == settings.login_max_failures
    assert lock_message(settings) in html_text(await _attempt(client, "dzz_admin", DEMO_PASSWORD))


async def test_unknown_username_is_locked_the_same_way(client_factory, settings):
    known, unknown = await client_factory(), await client_factory()
    for attempt in range(1, 6):
        a = await _attempt(known, "dzz_admin", f"wrong-password-{attempt}")
        b = await _attempt(unknown, "ghost_user", f"wrong-password-{attempt}")
        assert a.status_code == b.status_code, attempt
    assert await throttle_hits("login-user:ghost_user") == 5
    sixth = await _attempt(unknown, "ghost_user", "wrong-password-6")
    assert sixth.status_code == (await _attempt(known, "dzz_admin", "wrong-password-6")).status_code
    assert lock_message(settings) in html_text(sixth)
    assert _kept_username(sixth) == "ghost_user"


async def test_security_admin_unlocks_a_locked_account(client_factory, settings):
    person, admin = await client_factory(), await client_factory()
    for attempt in range(settings.login_max_failures):
        await _attempt(person, "dzz_window", f"wrong-password-{attempt}")
    await admin.login("secadmin")
    staff_id = await user_id("dzz_window")
    page = await admin.get(f"/admin/staff/{staff_id}")
    response = await admin.submit(f"/admin/staff/{staff_id}/unlock", form_fields(page.text, f"/admin/staff/{staff_id}/unlock"))
    assert response.status_code == 303
    await person.login("dzz_window")


# ------------------------------------------------------------------------ per address


async def _client_at(app, address: str) -> Client:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return Client(transport=transport, base_url="http://testserver.local", headers={"user-agent": "pytest"})


async def test_failed_sign_ins_from_one_address_are_limited(app, client, settings):
    limit = settings.login_ip_limit
    for n in range(limit):  # a different name each time: no account lock gets in the way
        response = await _attempt(client, f"stuffing{n:03d}", "Password123!")
        assert response.status_code == 422, n
    refused = await _attempt(client, f"stuffing{limit:03d}", "Password123!")
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= settings.login_ip_window_minutes * 60
    # From this address even a correct password waits.
    blocked = await _attempt(client, "gzq_admin", DEMO_PASSWORD)
    assert blocked.status_code == 429
    _not_signed_in(blocked, settings)
    # Other addresses are not affected.
    elsewhere = await _client_at(app, "203.0.113.20")
    try:
        await elsewhere.login("gzq_admin")
    finally:
        await elsewhere.aclose()
    # After the window the address may try again.
    clock.travel(seconds=retry_after + 1)
    await client.login("gzq_admin")


async def test_successful_sign_ins_from_one_address_are_never_limited(low_limit_app, low_limit_client):
    limit = low_limit_app.state.settings.login_ip_limit
    for _ in range(limit + 2):
        await low_limit_client.login("gzq_window")
    # Failures still count from zero: the limit is on failures only.
    for n in range(limit):
        assert (await _attempt(low_limit_client, f"stuffing{n:03d}", "Password123!")).status_code == 422
    assert (await _attempt(low_limit_client, "gzq_window", DEMO_PASSWORD)).status_code == 429


async def test_forwarded_for_header_from_an_untrusted_peer_does_not_reset_the_limit(low_limit_app, low_limit_client):
    client = low_limit_client
    for n in range(low_limit_app.state.settings.login_ip_limit):
        await client.submit(
            "/login",
            {"username": f"stuffing{n:03d}", "password": "Password123!", "next": "/dashboard"},
            headers={"X-Forwarded-For": f"192.0.2.{n}"},
        )
    refused = await client.submit(
        "/login",
        {"username": "gzq_admin", "password": DEMO_PASSWORD, "next": "/dashboard"},
        headers={"X-Forwarded-For": "192.0.2.250"},
    )
    assert refused.status_code == 429


# ---------------------------------------------------------------------------- next=


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/dashboard",
        "https://evil.example",
        "http://evil.example/login",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
async def test_next_accepts_only_local_paths(client, target):
    response = await _attempt(client, "gzq_admin", DEMO_PASSWORD, next_url=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    # The sign-in page does not carry the foreign target into its form either.
    await client.submit("/logout")
    page = await client.get("/login", params={"next": target})
    assert dict(form_fields(page.text, "/login"))["next"] == "/dashboard"


async def test_next_local_path_is_followed(client):
    response = await _attempt(client, "gzq_admin", DEMO_PASSWORD, next_url="/admin/staff?q=dzz")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/staff?q=dzz"


async def test_next_survives_the_second_factor_but_stays_local(client, settings):
    _id, secret = await make_staff(settings, "zhao_lei", "GZQ-DZZ", ["center_admin"])
    response = await _attempt(client, "zhao_lei", DEMO_PASSWORD, next_url="/admin/staff")
    assert response.headers["location"].startswith("/login/totp")
    response = await client.submit("/login/totp", {"code": totp_now(secret), "next": "https://evil.example"})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"


# ------------------------------------------------------- first sign-in of a new account


async def _create_account(admin, username: str, center: str, roles: list[str]) -> str:
    page = await admin.get("/admin/staff/new")
    assert page.status_code == 200
    fields = dict(form_fields(page.text, "/admin/staff/new"))
    data = [
        ("_submission_key", fields.get("_submission_key", "")),
        ("username", username),
        ("display_name", "王芳"),
        ("phone", ""),
        ("email", ""),
        ("center", str(await center_id(center))),
        ("department", ""),
        *[("roles", role) for role in roles],
    ]
    response = await admin.submit("/admin/staff/new", data)
    assert response.status_code == 200, html_text(response)[:400]
    return temporary_password(response.text)


@pytest.mark.parametrize("creator", ["secadmin", "gzq_admin"])
async def test_new_account_changes_its_temporary_password_then_enrols_totp(client_factory, settings, creator):
    admin, person = await client_factory(), await client_factory()
    await admin.login(creator)
    temporary = await _create_account(admin, "wangfang", "GZQ-DZZ", ["window_staff"])
    row = await StaffUser.select().where(StaffUser.username == "wangfang").first()
    assert row["must_change_password"] and not row["is_demo"] and not row["totp_confirmed"]
    assert temporary not in row["password_hash"]

    response = await _attempt(person, "wangfang", temporary)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login/password")
    # Not signed in yet: the workbench sends the person back to sign in.
    assert (await person.get("/dashboard", follow_redirects=False)).headers["location"].startswith("/login")
    assert (await person.get("/login/totp/setup")).status_code == 404  # no skipping ahead

    refused = {
        "short1!": gettext("The password must be at least %(n)s characters long.", n=settings.password_min_length),
        "password1234567": gettext(
            "This password is too common or too easy to guess. Choose a longer phrase that is hard to guess."
        ),
        "my-wangfang-password-77": gettext(
            "The password must not contain your username, your center's name or the system's name."
        ),
    }
    for candidate, message in refused.items():
        response = await person.submit("/login/password", {"new_password": candidate, "confirm_password": candidate, "next": "/dashboard"})
        assert response.status_code == 422, candidate
        assert message in html_text(response), candidate
    response = await person.submit(
        "/login/password",
        {"new_password": "Qilian-snow-river-2026", "confirm_password": "Qilian-snow-river-2031", "next": "/dashboard"},
    )
    assert response.status_code == 422
    assert gettext("The two passwords do not match. Type the new password again.") in html_text(response)
    row = await StaffUser.select().where(StaffUser.username == "wangfang").first()
    assert row["must_change_password"] and verify_password(row["password_hash"], temporary)

    response = await person.submit(
        "/login/password",
        {"new_password": "Qilian-snow-river-2026", "confirm_password": "Qilian-snow-river-2026", "next": "/dashboard"},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login/totp/setup")
    row = await StaffUser.select().where(StaffUser.username == "wangfang").first()
    assert not row["must_change_password"] and verify_password(row["password_hash"], "Qilian-snow-river-2026")
    assert (await person.get("/dashboard", follow_redirects=False)).status_code == 303  # still no second factor

    page = await person.get(response.headers["location"])
    assert page.status_code == 200
    match = re.search(r'<span class="secret">([A-Z2-7 ]+)</span>', page.text)
    assert match, "the key for typing in is shown"
    secret = match.group(1).replace(" ", "")

    response = await person.submit("/login/totp/setup", {"code": _wrong_code(secret), "next": "/dashboard"})
    assert response.status_code == 422
    assert not (await StaffUser.select(StaffUser.totp_confirmed).where(StaffUser.username == "wangfang").first())["totp_confirmed"]
    assert (await person.get("/dashboard", follow_redirects=False)).status_code == 303

    response = await person.submit("/login/totp/setup", {"code": totp_now(secret), "next": "/dashboard"})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    assert (await person.get("/dashboard")).status_code == 200
    assert (await StaffUser.select(StaffUser.totp_confirmed).where(StaffUser.username == "wangfang").first())["totp_confirmed"]

    # The temporary password is spent.
    await person.submit("/logout")
    assert (await _attempt(person, "wangfang", temporary)).status_code == 422


async def test_password_reset_by_an_admin_does_not_skip_the_second_factor(client_factory, settings):
    admin, person = await client_factory(), await client_factory()
    staff_id, secret = await make_staff(settings, "sun_li", "GZQ-DZZ", ["window_staff"])
    await admin.login("secadmin")
    response = await admin.submit(f"/admin/staff/{staff_id}/reset-password")
    assert response.status_code == 200
    temporary = temporary_password(response.text)
    response = await _attempt(person, "sun_li", temporary)
    assert response.headers["location"].startswith("/login/password")
    response = await person.submit(
        "/login/password", {"new_password": "Heihe-river-bank-2026", "confirm_password": "Heihe-river-bank-2026", "next": "/dashboard"}
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login/totp?")
    assert (await person.get("/dashboard", follow_redirects=False)).status_code == 303
    response = await person.submit("/login/totp", {"code": totp_now(secret), "next": "/dashboard"})
    assert response.headers["location"] == "/dashboard"


# ------------------------------------------------------------------- TOTP at sign-in


async def test_totp_code_works_once_and_a_replay_is_refused(client_factory, settings):
    first, second = await client_factory(), await client_factory()
    _id, secret = await make_staff(settings, "zhou_min", "GZQ-DZZ", ["window_staff"])
    code = totp_now(secret)
    response = await _attempt(first, "zhou_min", DEMO_PASSWORD)
    assert response.headers["location"].startswith("/login/totp")
    response = await first.submit("/login/totp", {"code": code, "next": "/dashboard"})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    assert (await first.get("/dashboard")).status_code == 200

    # Someone who saw the code (and knows the password) tries it in a new sign-in.
    response = await _attempt(second, "zhou_min", DEMO_PASSWORD)
    assert response.headers["location"].startswith("/login/totp")
    replay = await second.submit("/login/totp", {"code": code, "next": "/dashboard"})
    assert replay.status_code == 422
    assert (await second.get("/dashboard", follow_redirects=False)).status_code == 303

    # The next code from the app is accepted.
    clock.travel(seconds=30)
    response = await second.submit("/login/totp", {"code": totp_now(secret), "next": "/dashboard"})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"


async def test_password_alone_does_not_open_pages(client, settings):
    _id, _secret = await make_staff(settings, "qian_yu", "GZQ-DZZ", ["center_admin"])
    response = await _attempt(client, "qian_yu", DEMO_PASSWORD)
    assert response.headers["location"].startswith("/login/totp")
    for path in ("/dashboard", "/admin/staff", "/account"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path


async def test_five_wrong_codes_lock_the_account(client, settings):
    _id, secret = await make_staff(settings, "hu_jun", "GZQ-DZZ", ["window_staff"])
    await _attempt(client, "hu_jun", DEMO_PASSWORD)
    wrong = _wrong_code(secret)
    for attempt in range(1, settings.login_max_failures):
        response = await client.submit("/login/totp", {"code": wrong, "next": "/dashboard"})
        assert response.status_code == 422, attempt
    response = await client.submit("/login/totp", {"code": wrong, "next": "/dashboard"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert await AuthSession.count().where(AuthSession.user == _id) == 0
    # Neither the old half-session nor a fresh sign-in gets through now, not even with the right code.
    assert (await client.get("/login/totp")).status_code == 404
    locked = await _attempt(client, "hu_jun", DEMO_PASSWORD)
    assert lock_message(settings) in html_text(locked)
    _not_signed_in(locked, settings)
    clock.travel(minutes=31)
    await login_with_totp(client, "hu_jun", secret)


# ------------------------------------------------------------------------ production


def _production(settings):
    key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    return settings.replace(env="production", secret_key=key, data_key="k" * 32, sms_gateway_url="http://127.0.0.1:9/sms", sms_gateway_token="t" * 24,
                            counseling_key="c" * 40)


async def test_production_refuses_to_start_with_demo_accounts(settings):
    application = create_app(_production(settings))
    with pytest.raises((SettingsError, BaseExceptionGroup)) as info:
        async with application.lifespan():
            pass
    error = info.value
    while isinstance(error, BaseExceptionGroup):  # Litestar's lifespan may wrap it in a task group's error
        error = error.exceptions[0]
    assert isinstance(error, SettingsError)
    assert "demo" in str(error)


async def test_production_demo_flag_does_not_skip_two_step_verification(settings):
    prod = _production(settings)
    application = create_app(prod)  # binds the engine, so the queries below reach this test's database
    await StaffUser.update({StaffUser.is_demo: False}).where(StaffUser.is_demo == True)  # noqa: E712
    async with application.lifespan():
        # A demo-flagged account appearing while the server runs (e.g. loaded by hand) gets no exemption.
        await StaffUser.update({StaffUser.is_demo: True}).where(StaffUser.username == "dzz_admin")
        transport = httpx.ASGITransport(app=application, client=("198.51.100.9", 40000))
        async with Client(transport=transport, base_url="http://testserver.local") as browser:
            for username in ("dzz_admin", "gzq_admin"):  # flagged, and formerly flagged
                response = await _attempt(browser, username, DEMO_PASSWORD)
                assert response.status_code == 303
                assert response.headers["location"].startswith("/login/totp/setup"), (username, response.headers["location"])
                assert (await browser.get("/dashboard", follow_redirects=False)).status_code == 303
                await browser.submit("/logout")
            # With a confirmed second factor (encrypted with the production data key) the sign-in completes.
            secret = await set_totp(prod, "gzq_admin")
            assert FieldCipher(prod).decrypt(
                (await StaffUser.select(StaffUser.totp_secret).where(StaffUser.username == "gzq_admin").first())["totp_secret"]
            ) == secret
            await login_with_totp(browser, "gzq_admin", secret)
            assert (await browser.get("/dashboard")).status_code == 200


async def test_development_demo_accounts_skip_two_step_verification_but_real_ones_do_not(client, settings):
    response = await _attempt(client, "dzz_admin", DEMO_PASSWORD)
    assert response.headers["location"] == "/dashboard"
    await client.submit("/logout")
    await StaffUser.update({StaffUser.is_demo: False}).where(StaffUser.username == "dzz_admin")
    response = await _attempt(client, "dzz_admin", DEMO_PASSWORD)
    assert response.headers["location"].startswith("/login/totp/setup")
