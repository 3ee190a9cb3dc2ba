"""Sessions: new token at sign-in, sign-out, idle and absolute limits, revocation on account changes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from portal import clock
from portal.crypto import token_hash
from portal.i18n import gettext
from portal.tables import AuthSession, StaffRole, StaffUser
from tests.conftest import html_text
from tests.core.auth.helpers import (
    center_id,
    form_fields,
    login_with_totp,
    make_staff,
    sessions_of,
    totp_now,
    user_id,
)

INACTIVE_NOTICE = "You were signed out because you were inactive for a while. Sign in again to continue."


def _to_login(response) -> dict[str, list[str]]:
    """Assert the response sends the browser to the sign-in page; return the query it carries."""
    assert response.status_code in (302, 303), (response.status_code, response.text[:200])
    location = urlsplit(response.headers["location"])
    assert location.path == "/login", response.headers["location"]
    assert not location.netloc
    return parse_qs(location.query)


async def _with_token(client_factory, settings, token: str, path: str = "/dashboard", **headers):
    """A request from a different browser that carries only a copied session cookie."""
    other = await client_factory()
    return await other.get(path, headers={"cookie": f"{settings.session_cookie}={token}", **headers}, follow_redirects=False)


async def _signed_in(client) -> bool:
    response = await client.get("/dashboard", follow_redirects=False)
    if response.status_code == 200:
        return True
    _to_login(response)
    return False


# ----------------------------------------------------------------------------- fixation


async def test_sign_in_replaces_a_planted_session_cookie(client, client_factory, settings):
    planted = "planted-by-someone-else-0123456789abcdefghijk"
    csrf = await client.csrf()
    response = await client.post(
        "/login",
        data={"username": "gzq_admin", "password": "whistle-demo-2026", "next": "/dashboard", "_csrf_token": csrf},
        headers={"cookie": f"{settings.csrf_cookie}={csrf}; {settings.session_cookie}={planted}"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    issued = response.cookies.get(settings.session_cookie)
    assert issued and issued != planted
    # The new token signs in; the planted value does not.
    assert (await _with_token(client_factory, settings, issued)).status_code == 200
    _to_login(await _with_token(client_factory, settings, planted))
    assert await AuthSession.count().where(AuthSession.token_hash == token_hash(planted)) == 0


async def test_signing_in_again_issues_a_new_token_and_the_old_one_stops_working(client, client_factory, settings):
    await client.login("gzq_admin")
    first = client.cookies.get(settings.session_cookie)
    assert (await _with_token(client_factory, settings, first)).status_code == 200
    response = await client.login("gzq_admin")
    second = response.cookies.get(settings.session_cookie)
    assert second and second != first
    _to_login(await _with_token(client_factory, settings, first))
    assert (await _with_token(client_factory, settings, second)).status_code == 200


async def test_token_of_the_password_step_is_replaced_after_the_second_factor(client, client_factory, settings):
    _id, secret = await make_staff(settings, "wang_fang", "GZQ-DZZ", ["window_staff"])
    response = await client.submit("/login", {"username": "wang_fang", "password": "whistle-demo-2026", "next": "/dashboard"})
    assert response.headers["location"].startswith("/login/totp")
    half = response.cookies.get(settings.session_cookie)
    assert half
    # Password alone is not a sign-in.
    _to_login(await _with_token(client_factory, settings, half))
    response = await client.submit("/login/totp", {"code": totp_now(secret), "next": "/dashboard"})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    full = response.cookies.get(settings.session_cookie)
    assert full and full != half
    _to_login(await _with_token(client_factory, settings, half))
    assert (await _with_token(client_factory, settings, full)).status_code == 200


# ----------------------------------------------------------------------------- sign-out


async def test_token_copied_before_sign_out_is_dead_after_it(client, client_factory, settings):
    await client.login("dzz_admin")
    copied = client.cookies.get(settings.session_cookie)
    assert (await _with_token(client_factory, settings, copied, "/admin/staff")).status_code == 200
    assert await AuthSession.count().where(AuthSession.token_hash == token_hash(copied)) == 1

    response = await client.submit("/logout")
    assert _to_login(response) == {}
    assert not response.cookies.get(settings.session_cookie)  # the browser's cookie is cleared

    _to_login(await _with_token(client_factory, settings, copied, "/admin/staff"))
    assert await AuthSession.count().where(AuthSession.token_hash == token_hash(copied)) == 0
    assert await sessions_of("dzz_admin") == []


# ----------------------------------------------------------------------------- time limits


async def test_idle_for_31_minutes_signs_out_with_the_inactivity_notice(client, settings):
    await client.login("gzq_admin")
    clock.travel(minutes=31)
    query = _to_login(await client.get("/admin/centers", follow_redirects=False))
    assert query.get("expired") == ["1"]
    assert query.get("next") == ["/admin/centers"]
    assert await sessions_of("gzq_admin") == []
    page = await client.get("/login", params={"next": "/admin/centers", "expired": "1"})
    assert page.status_code == 200
    assert gettext(INACTIVE_NOTICE) in html_text(page)
    # Still out on the next request (no half-alive session).
    assert not await _signed_in(client)


async def test_idle_for_29_minutes_keeps_the_session_and_activity_extends_it(client):
    await client.login("gzq_admin")
    for _ in range(3):  # 87 minutes in all, but never 30 minutes without a request
        clock.travel(minutes=29)
        assert await _signed_in(client)


async def test_fresh_sign_in_page_has_no_inactivity_notice(client):
    page = await client.get("/login")
    assert gettext(INACTIVE_NOTICE) not in html_text(page)


async def test_absolute_limit_of_12_hours_holds_despite_activity(client, settings):
    assert settings.session_absolute_hours == 12
    await client.login("gzq_admin")
    for step in range(1, 36):  # a request every 20 minutes up to 11 h 40 min
        clock.travel(minutes=20)
        assert await _signed_in(client), f"signed out after {step * 20} minutes"
    clock.travel(minutes=20)  # 12 h after sign-in
    _to_login(await client.get("/dashboard", follow_redirects=False))
    assert await sessions_of("gzq_admin") == []
    # Signing in again gives a new 12 hours.
    await client.login("gzq_admin")
    assert await _signed_in(client)


async def test_htmx_request_after_expiry_gets_hx_redirect_not_a_fragment(client):
    await client.login("gzq_admin")
    fragment = await client.get("/admin/staff", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "dmz_window" in fragment.text  # the fragment carries data
    clock.travel(minutes=31)
    response = await client.get("/admin/staff", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 200
    target = urlsplit(response.headers.get("HX-Redirect", ""))
    assert target.path == "/login"
    assert parse_qs(target.query).get("expired") == ["1"]
    assert "dmz_window" not in response.text and "<table" not in response.text
    assert response.text.strip() == ""


async def test_htmx_request_without_a_session_gets_hx_redirect(client):
    response = await client.get("/admin/staff", headers={"HX-Request": "true"}, follow_redirects=False)
    assert urlsplit(response.headers.get("HX-Redirect", "")).path == "/login"
    assert response.text.strip() == ""


# ------------------------------------------------------------------ changes to the account


async def _admin_saves_staff_form(admin, staff_id: int, change) -> None:
    """Open /admin/staff/<id> as the admin, change the rendered form with ``change``, send it."""
    page = await admin.get(f"/admin/staff/{staff_id}")
    assert page.status_code == 200
    fields = change(form_fields(page.text, f"/admin/staff/{staff_id}"))
    response = await admin.submit(f"/admin/staff/{staff_id}", fields)
    assert response.status_code == 303, html_text(response)[:500]
    assert response.headers["location"] == f"/admin/staff/{staff_id}"


async def test_disabling_an_account_ends_its_sessions(client_factory):
    admin, victim, second_device = await client_factory(), await client_factory(), await client_factory()
    await admin.login("dzz_admin")
    await victim.login("dzz_window")
    await second_device.login("dzz_window")
    staff_id = await user_id("dzz_window")
    fields = form_fields((await admin.get(f"/admin/staff/{staff_id}")).text, f"/admin/staff/{staff_id}")
    assert ("active", "1") in fields  # the box is ticked before the admin unticks it

    await _admin_saves_staff_form(admin, staff_id, lambda fields: [(k, v) for k, v in fields if k != "active"])

    assert not (await StaffUser.select(StaffUser.active).where(StaffUser.id == staff_id).first())["active"]
    assert not await _signed_in(victim)
    assert not await _signed_in(second_device)
    assert await sessions_of("dzz_window") == []
    # A disabled account cannot sign in again, and says no more than a wrong password would.
    response = await victim.login("dzz_window", expect_ok=False)
    assert response.status_code == 422
    assert gettext("The username or password is not correct.") in html_text(response)
    assert await _signed_in(admin)  # the admin's own session is untouched


async def test_changing_roles_ends_sessions_and_new_roles_apply_at_next_sign_in(client_factory):
    admin, victim = await client_factory(), await client_factory()
    await admin.login("gzq_admin")
    await victim.login("dzz_admin")
    assert (await victim.get("/admin/staff")).status_code == 200
    staff_id = await user_id("dzz_admin")

    def demote(fields):
        return [(k, v) for k, v in fields if k != "roles"] + [("roles", "window_staff")]

    await _admin_saves_staff_form(admin, staff_id, demote)

    roles = {r["role"] for r in await StaffRole.select(StaffRole.role).where(StaffRole.user == staff_id)}
    assert roles == {"window_staff"}
    _to_login(await victim.get("/admin/staff", follow_redirects=False))
    assert await sessions_of("dzz_admin") == []
    await victim.login("dzz_admin")
    assert (await victim.get("/admin/staff")).status_code == 403


async def test_moving_to_another_center_ends_sessions(client_factory):
    admin, victim = await client_factory(), await client_factory()
    await admin.login("gzq_admin")
    await victim.login("dzz_window")
    staff_id = await user_id("dzz_window")
    dmz = str(await center_id("GZQ-DMZ"))
    await _admin_saves_staff_form(admin, staff_id, lambda f: [(k, dmz if k == "center" else v) for k, v in f])
    assert (await StaffUser.select(StaffUser.center).where(StaffUser.id == staff_id).first())["center"] == int(dmz)
    assert not await _signed_in(victim)


async def test_saving_the_form_unchanged_keeps_sessions(client_factory):
    admin, person = await client_factory(), await client_factory()
    await admin.login("dzz_admin")
    await person.login("dzz_window")
    await _admin_saves_staff_form(admin, await user_id("dzz_window"), lambda fields: fields)
    assert await _signed_in(person)


async def test_security_admin_ends_all_sessions_of_an_account(client_factory):
    admin, person = await client_factory(), await client_factory()
    await admin.login("secadmin")
    await person.login("dzz_window")
    staff_id = await user_id("dzz_window")
    page = await admin.get(f"/admin/staff/{staff_id}")
    response = await admin.submit(
        f"/admin/staff/{staff_id}/revoke-sessions", form_fields(page.text, f"/admin/staff/{staff_id}/revoke-sessions")
    )
    assert response.status_code == 303
    assert not await _signed_in(person)
    assert await _signed_in(admin)


# -------------------------------------------------------------------- the account page


async def test_ending_my_other_sessions_from_the_account_page(client_factory):
    here, laptop, phone = await client_factory(), await client_factory(), await client_factory()
    for browser in (here, laptop, phone):
        await browser.login("dzz_admin")
    other_person = await client_factory()
    await other_person.login("dzz_window")

    page = await here.get("/account")
    assert page.status_code == 200
    response = await here.submit("/account/sessions/end-others", form_fields(page.text, "/account/sessions/end-others"))
    assert response.status_code == 303 and response.headers["location"] == "/account"

    assert await _signed_in(here)
    assert not await _signed_in(laptop)
    assert not await _signed_in(phone)
    assert len(await sessions_of("dzz_admin")) == 1
    assert await _signed_in(other_person)  # somebody else's sessions are not mine to end


async def test_ending_one_session_from_the_account_page(client_factory):
    here, laptop = await client_factory(), await client_factory()
    await here.login("dzz_admin")
    await laptop.login("dzz_admin")
    mine = {row["id"] for row in await sessions_of("dzz_admin")}
    page = await here.get("/account")
    actions = [f"/account/sessions/{sid}/end" for sid in mine]
    present = [a for a in actions if f'action="{a}"' in page.text]
    assert len(present) == 1  # the current session is marked, the other one can be ended
    response = await here.submit(present[0], form_fields(page.text, present[0]))
    assert response.status_code == 303
    assert await _signed_in(here)
    assert not await _signed_in(laptop)


async def test_cannot_end_somebody_elses_session(client_factory):
    attacker, victim = await client_factory(), await client_factory()
    await attacker.login("dzz_admin")
    await victim.login("dmz_admin")
    victim_session = (await sessions_of("dmz_admin"))[0]["id"]
    response = await attacker.submit(f"/account/sessions/{victim_session}/end")
    assert response.status_code == 404
    assert await _signed_in(victim)


async def test_changing_my_password_ends_my_other_sessions(client_factory, settings):
    here, laptop = await client_factory(), await client_factory()
    _id, secret = await make_staff(settings, "li_ming", "GZQ-DZZ", ["window_staff"])
    await login_with_totp(here, "li_ming", secret)
    clock.travel(seconds=31)
    await login_with_totp(laptop, "li_ming", secret)
    old_token = here.cookies.get(settings.session_cookie)
    response = await here.submit(
        "/account/password",
        {"current_password": "whistle-demo-2026", "new_password": "Qilian-snow-river-2026", "confirm_password": "Qilian-snow-river-2026"},
    )
    assert response.status_code == 303 and response.headers["location"] == "/account"
    assert here.cookies.get(settings.session_cookie) != old_token  # privilege change: new token
    assert await _signed_in(here)
    assert not await _signed_in(laptop)


async def test_password_reset_and_second_factor_reset_by_an_admin_end_sessions(client_factory):
    admin = await client_factory()
    await admin.login("secadmin")
    staff_id = await user_id("dzz_window")
    for action in ("reset-totp", "reset-password"):  # the demo password still works for the second round
        person = await client_factory()
        await person.login("dzz_window")
        assert await _signed_in(person)
        page = await admin.get(f"/admin/staff/{staff_id}")
        response = await admin.submit(f"/admin/staff/{staff_id}/{action}", form_fields(page.text, f"/admin/staff/{staff_id}/{action}"))
        assert response.status_code in (200, 303), action
        assert not await _signed_in(person), action
        assert await sessions_of("dzz_window") == [], action
