"""CSRF: every state-changing route, found from the routing table, refuses a request without a valid token."""

from __future__ import annotations

import re

from litestar.routes import HTTPRoute

from portal.i18n import gettext
from portal.tables import AuthSession, StaffUser
from tests.conftest import html_text
from tests.core.auth.helpers import center_id, db_state, department_id, sessions_of, user_id

SAFE = {"GET", "HEAD", "OPTIONS"}
FORM_EXPIRED = "The form has expired"


def unsafe_routes(app) -> list[tuple[str, str]]:
    """(method, path template) for every handler that accepts a method other than GET/HEAD.

    OPTIONS counts as safe only for the handler Litestar generates itself (it answers with the Allow
    header and nothing else); an OPTIONS handler written by us would be listed here.
    """
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            generated_options = handler.http_methods == {"OPTIONS"} and handler.fn.__module__.startswith("litestar.")
            for method in sorted(handler.http_methods):
                if method in ("GET", "HEAD") or (method == "OPTIONS" and generated_options):
                    continue
                found.append((method, route.path))
    return found


# Path parameters of the one-stop window's forms (records that need not exist: a 404 is fine here).
MATTER_VALUES = {"matter_id": "1", "code": "2222-2222-2222", "step": "center", "kind": "accept", "attachment_id": "1", "notice_id": "1"}
# …and of the appointments engine's.
BOOKING_VALUES = {"service_key": "sample_module.consult", "booking_id": "1", "entry_id": "1", "resource_id": "1",
                  "rule_id": "1", "exception_id": "1", "token": "x" * 32}
# …and of the bundled modules' (checkin, legal_aid, counseling, video_petition).
MODULE_VALUES = {"whistle_id": "1", "case_id": "1", "record_id": "1", "review_id": "1", "lawyer_id": "1",
                 "application_id": "1", "document_id": "1", "handover_id": "1", "snippet_id": "1", "contact_id": "1",
                 "counselor_id": "1", "crisis_id": "1", "rec_id": "1", "seq": "0", "center_code": "GZQ"}


def fill(template: str, values: dict[str, str]) -> str:
    def replace(match):
        name = match.group(1)
        assert name in values, f"no test value for path parameter {name!r} in {template}"
        return values[name]

    return re.sub(r"\{(\w+)(?::\w+)?\}", replace, template)


async def _real_values(client_session_id: int) -> dict[str, str]:
    """Ids of real records, so a request that slipped past the check would really change something."""
    return {
        "center_id": str(await center_id("GZQ-DZZ")),
        "department_id": str(await department_id("DZZ-SFS")),
        "staff_id": str(await user_id("dzz_window")),
        "session_id": str(client_session_id),
        "module": "sample_module",
        "action": "revoke-sessions",
        **MATTER_VALUES,
        **BOOKING_VALUES,
        **MODULE_VALUES,
    }


def _is_csrf_refusal(response) -> bool:
    return response.status_code == 403 and gettext(FORM_EXPIRED) in html_text(response)


async def _signed_in(client) -> bool:
    return (await client.get("/dashboard", follow_redirects=False)).status_code == 200


async def test_the_route_table_has_the_forms_we_know_of(app):
    routes = set(unsafe_routes(app))
    for expected in [
        ("POST", "/login"),
        ("POST", "/logout"),
        ("POST", "/login/totp"),
        ("POST", "/admin/staff/new"),
        ("POST", "/admin/staff/{staff_id:int}/reset-password"),
        ("POST", "/account/sessions/end-others"),
    ]:
        assert expected in routes
    assert len(routes) >= 17


async def test_every_unsafe_route_refuses_a_request_without_token(app, client):
    await client.login("gzq_admin")
    await client.get("/dashboard")
    session = (await sessions_of("gzq_admin"))[0]["id"]
    values = await _real_values(session)
    before = await db_state()
    failures = []
    for method, template in unsafe_routes(app):
        url = fill(template, values)
        for kind, kwargs in [
            ("form without token", {"data": {"username": "gzq_admin", "password": "whistle-demo-2026", "active": "1"}}),
            ("empty body", {}),
            ("json body", {"json": {"_csrf_token": "x"}}),
        ]:
            response = await client.request(method, url, follow_redirects=False, **kwargs)
            if not _is_csrf_refusal(response):
                failures.append((method, url, kind, response.status_code))
    assert failures == []
    assert await db_state() == before
    assert await _signed_in(client)
    assert await AuthSession.count().where(AuthSession.id == session) == 1


async def test_every_unsafe_route_refuses_a_token_from_another_browser(app, client, client_factory):
    await client.login("gzq_admin")
    session = (await sessions_of("gzq_admin"))[0]["id"]
    values = await _real_values(session)
    stranger = await client_factory()
    foreign_token = await stranger.csrf()
    own_token = await client.csrf()
    assert foreign_token and foreign_token != own_token
    before = await db_state()
    failures = []
    for method, template in unsafe_routes(app):
        url = fill(template, values)
        for kind, kwargs in [
            ("form field", {"data": {"_csrf_token": foreign_token}}),
            ("header", {"headers": {"x-csrftoken": foreign_token}}),
            ("malformed", {"data": {"_csrf_token": own_token[:-4] + "abcd"}}),
            ("unsigned", {"data": {"_csrf_token": "0" * 128}}),
        ]:
            response = await client.request(method, url, follow_redirects=False, **kwargs)
            if not _is_csrf_refusal(response):
                failures.append((method, url, kind, response.status_code))
    assert failures == []
    assert await db_state() == before
    assert await _signed_in(client)


async def test_a_page_elsewhere_cannot_post_with_the_users_cookies_alone(client):
    """What a forged cross-site form sends: the victim's cookies, no token, a foreign Origin."""
    await client.login("dzz_admin")
    staff = await user_id("dzz_window")
    response = await client.post(
        f"/admin/staff/{staff}/reset-password",
        headers={"Origin": "https://evil.example", "Referer": "https://evil.example/page"},
        follow_redirects=False,
    )
    assert _is_csrf_refusal(response)
    assert not (await StaffUser.select(StaffUser.must_change_password).where(StaffUser.id == staff).first())["must_change_password"]


async def test_every_unsafe_route_accepts_its_own_token(app, client):
    """The same requests with the page's token get past the check (so the refusals above were the check)."""
    await client.login("gzq_admin")
    token = await client.csrf()
    values = {
        "center_id": str(await center_id("GZQ-DZZ")),
        "department_id": str(await department_id("DZZ-SFS")),
        "staff_id": str(await user_id("dzz_window")),
        "session_id": "999999",
        "module": "sample_module",
        "action": "unlock",
        **MATTER_VALUES,
        **BOOKING_VALUES,
        **MODULE_VALUES,
    }
    routes = sorted(unsafe_routes(app), key=lambda item: item[1] in ("/logout", "/login"))  # sign-out last
    failures = []
    for method, template in routes:
        url = fill(template, values)
        for kind, kwargs in [("form field", {"data": {"_csrf_token": token}}), ("header", {"headers": {"x-csrftoken": token}})]:
            response = await client.request(method, url, follow_redirects=False, **kwargs)
            if _is_csrf_refusal(response) or response.status_code >= 500:
                failures.append((method, url, kind, response.status_code))
    assert failures == []


async def test_sign_in_form_with_a_valid_token_works_and_without_one_does_not(client_factory, settings):
    browser = await client_factory()
    page = await browser.get("/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    response = await browser.post(
        "/login", data={"username": "gzq_admin", "password": "whistle-demo-2026", "next": "/dashboard"}, follow_redirects=False
    )
    assert _is_csrf_refusal(response)
    assert not response.cookies.get(settings.session_cookie)
    response = await browser.post(
        "/login",
        data={"username": "gzq_admin", "password": "whistle-demo-2026", "next": "/dashboard", "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    assert (await browser.get("/dashboard")).status_code == 200


async def test_htmx_requests_send_the_token_in_a_header(client):
    await client.login("gzq_admin")
    page = await client.get("/account")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    response = await client.post("/logout", headers={"HX-Request": "true", "x-csrftoken": token}, follow_redirects=False)
    assert response.status_code == 200 and response.headers.get("HX-Redirect") == "/login"
    assert not await _signed_in(client)


async def test_get_requests_change_nothing(app, client):
    """State changes never happen on GET: visiting every page as an admin leaves the records alone."""
    await client.login("gzq_admin")
    values = {
        "code": "GZQ-DZZ",
        "center_code": "GZQ-DZZ",
        "center_id": str(await center_id("GZQ-DZZ")),
        "department_id": str(await department_id("DZZ-SFS")),
        "staff_id": str(await user_id("dzz_window")),
        "file_path": "css/portal.css",
        "path": "openapi.json",
        "session_id": "1",
        **{k: v for k, v in MATTER_VALUES.items() if k != "code"},
        **BOOKING_VALUES,
        **MODULE_VALUES,
    }
    before = await db_state()
    for route in app.routes:
        if isinstance(route, HTTPRoute) and "GET" in route.methods:
            url = fill(route.path, values)
            response = await client.get(url, params={"parent": values["center_id"]}, follow_redirects=False)
            assert response.status_code < 500, (url, response.status_code)
    assert await db_state() == before
    assert await _signed_in(client)
