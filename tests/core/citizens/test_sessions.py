"""Citizen sessions: new token at sign-in, sign-out revokes, idle and absolute limits, no crossing with staff."""

from __future__ import annotations

import httpx
from litestar import Litestar, get, post
from litestar.middleware import ASGIMiddleware

from portal import clock
from portal.citizens.guards import EXCEPTION_HANDLERS, citizen_guard
from portal.citizens.tables import CitizenSession
from portal.crypto import token_hash
from portal.i18n import _
from portal.notify.tables import Outbox
from tests.conftest import html_text
from tests.core.citizens.helpers import PHONE, ask_code, latest_code, session_count, sign_in, submit_code

COOKIE = "whistle_citizen"


async def _with_cookie(client_factory, token: str):
    browser = await client_factory()
    browser.cookies.set(COOKIE, token)
    return browser


async def test_token_changes_at_every_sign_in(app, client, client_factory):
    client.cookies.set(COOKIE, "planted-by-someone-else", domain="testserver.local")
    await sign_in(client)
    first = client.cookies.get(COOKIE)
    assert first and first != "planted-by-someone-else"
    assert await CitizenSession.count().where(CitizenSession.token_hash == token_hash(first)) == 1

    clock.travel(seconds=61)
    await sign_in(client)
    second = client.cookies.get(COOKIE)
    assert second != first
    # The old token is gone from the database and opens nothing.
    assert await session_count() == 1
    stale = await _with_cookie(client_factory, first)
    response = await stale.get("/my/messages")
    assert response.status_code == 303
    assert response.headers["location"] == "/citizen/login?next=/my/messages"


async def test_sign_out_revokes_the_session(app, client, client_factory):
    await sign_in(client)
    token = client.cookies.get(COOKIE)
    response = await client.submit("/citizen/logout")
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert not client.cookies.get(COOKIE)
    assert await session_count() == 0
    copied = await _with_cookie(client_factory, token)
    assert (await copied.get("/my/messages")).status_code == 303


async def test_idle_limit_is_two_hours(app, client):
    await sign_in(client)
    clock.travel(minutes=119)
    assert (await client.get("/my/messages")).status_code == 200  # activity moves the idle limit
    clock.travel(minutes=119)
    assert (await client.get("/my/messages")).status_code == 200
    clock.travel(minutes=121)
    response = await client.get("/my/messages")
    assert response.status_code == 303
    assert response.headers["location"] == "/citizen/login?next=/my/messages&expired=1"
    page = await client.get(response.headers["location"])
    assert _("You were signed out because you were inactive for a while. Sign in again to continue.") in html_text(page)
    assert await session_count() == 0


async def test_absolute_limit_is_seven_days(app, client):
    await sign_in(client)
    row = await CitizenSession.select().first()
    assert (row["expires_at"] - row["created_at"]).days == 7
    await CitizenSession.update({CitizenSession.expires_at: clock.now()}).where(CitizenSession.id == row["id"])
    assert (await client.get("/my/messages")).status_code == 303
    assert await session_count() == 0


async def test_citizen_cookie_never_opens_staff_pages(app, client):
    await sign_in(client)
    for path in ("/dashboard", "/account", "/admin/outbox", "/audit"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path
    # A citizen cookie presented as the staff cookie is no staff session either.
    client.cookies.set("portal_session", client.cookies.get(COOKIE), domain="testserver.local")
    assert (await client.get("/dashboard")).headers["location"].startswith("/login?")


async def test_staff_session_is_not_a_citizen(app, client):
    await client.login("gzq_window")
    assert (await client.get("/dashboard")).status_code == 200
    response = await client.get("/my/messages")
    assert response.status_code == 303
    assert response.headers["location"] == "/citizen/login?next=/my/messages"
    # Nor is the staff token accepted under the citizen cookie's name.
    client.cookies.set(COOKIE, client.cookies.get("portal_session"), domain="testserver.local")
    assert (await client.get("/my/messages")).status_code == 303


async def test_both_sessions_side_by_side_stay_separate(app, client):
    await client.login("gzq_window")
    await sign_in(client)
    assert (await client.get("/dashboard")).status_code == 200
    assert (await client.get("/my/messages")).status_code == 200
    await client.submit("/citizen/logout")
    assert (await client.get("/dashboard")).status_code == 200  # signing the citizen out leaves staff alone
    assert (await client.get("/my/messages")).status_code == 303


async def test_signed_in_citizen_skips_the_login_page(app, client):
    await sign_in(client)
    response = await client.get("/citizen/login?next=/my/messages")
    assert response.status_code == 303 and response.headers["location"] == "/my/messages"


async def test_guard_redirects_for_get_post_and_htmx():
    """The guard on its own little app: GET returns to the page, POST to the page the form was on."""

    class NoSession(ASGIMiddleware):
        async def handle(self, scope, receive, send, next_app):
            scope["citizen"] = None
            await next_app(scope, receive, send)

    @get("/private", guards=[citizen_guard])
    async def private() -> str:
        return "secret"

    @post("/private/act", guards=[citizen_guard])
    async def act() -> str:
        return "done"

    application = Litestar([private, act], middleware=[NoSession()], exception_handlers=EXCEPTION_HANDLERS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t.local") as browser:
        response = await browser.get("/private?page=2&x=1")
        assert response.status_code == 303
        assert response.headers["location"] == "/citizen/login?next=/private%3Fpage%3D2%26x%3D1"
        response = await browser.post("/private/act", headers={"referer": "http://t.local/private?page=2"})
        assert response.status_code == 303
        assert response.headers["location"] == "/citizen/login?next=/private%3Fpage%3D2"
        response = await browser.post("/private/act", headers={"referer": "https://evil.example/x"})
        assert response.headers["location"] == "/citizen/login?next=/my/messages"
        response = await browser.get("/private", headers={"hx-request": "true"})
        assert response.status_code == 200 and response.headers["hx-redirect"] == "/citizen/login?next=/private"


async def test_code_request_is_a_post_with_csrf(app, client):
    response = await client.post("/citizen/login", data={"phone": PHONE}, follow_redirects=False)
    assert response.status_code == 403
    assert await Outbox.count() == 0


async def test_pending_number_does_not_outlive_fifteen_minutes(app, client):
    await ask_code(client)
    clock.travel(minutes=16)
    response = await submit_code(client, await latest_code())
    assert response.status_code == 303
    assert response.headers["location"].startswith("/citizen/login?")
