"""Response headers on every page, cookie attributes, the 500 page, and no API schema in production."""

from __future__ import annotations

import logging
import re

from litestar.routes import HTTPRoute

from portal.audit.chain import SYSTEM, AuditTrail
from portal.centers.modules import set_allowed, set_enabled
from portal.crypto import audit_key
from tests.conftest import html_text
from tests.core.auth.helpers import center_id, department_id, login_with_totp, make_staff, user_id
from tests.core.security.boom_plugin.hooks import SECRET
from tests.core.security.conftest import browser_for, start_production

REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


def _directives(csp: str) -> dict[str, str]:
    parts = [part.strip() for part in csp.split(";") if part.strip()]
    return {part.split()[0].lower(): " ".join(part.split()[1:]) for part in parts}


def header_problems(response) -> list[str]:
    problems = []
    headers = response.headers
    csp = _directives(headers.get("content-security-policy", ""))
    for name in ("object-src", "base-uri", "frame-ancestors"):
        if csp.get(name) != "'none'":
            problems.append(f"CSP {name} is {csp.get(name)!r}")
    if headers.get("x-content-type-options", "").lower() != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    if headers.get("referrer-policy", "").lower() not in REFERRER_POLICIES:
        problems.append(f"Referrer-Policy {headers.get('referrer-policy')!r}")
    content_type = headers.get("content-type", "")
    if content_type.startswith("text/") and "charset=" not in content_type.lower():
        problems.append(f"no charset in {content_type!r}")
    if content_type.startswith("text/html"):
        if "no-store" not in headers.get("cache-control", "").lower():
            problems.append(f"HTML with Cache-Control {headers.get('cache-control')!r}")
        vary = [v.strip().lower() for v in headers.get("vary", "").split(",")]
        if "hx-request" not in vary:
            problems.append(f"HTML with Vary {headers.get('vary')!r}")
    for leaky in ("server", "x-powered-by"):
        if re.search(r"\d", headers.get(leaky, "")):
            problems.append(f"{leaky} reveals a version: {headers.get(leaky)!r}")
    return problems


async def _get_urls(app) -> list[str]:
    values = {
        "code": "GZQ-DZZ",
        "center_code": "GZQ-DZZ",
        "center_id": str(await center_id("GZQ-DZZ")),
        "department_id": str(await department_id("DZZ-SFS")),
        "staff_id": str(await user_id("dzz_window")),
        "path": "openapi.json",
        # One-stop window pages (records that need not exist: their 404 pages are checked too).
        "matter_id": "1", "notice_id": "1", "step": "center", "kind": "accept", "attachment_id": "1",
        # Appointment pages.
        "service_key": "sample_module.consult", "booking_id": "1", "resource_id": "1", "token": "x" * 32,
        # Module pages (checkin, legal_aid, counseling, video_petition).
        "whistle_id": "1", "case_id": "1", "record_id": "1", "review_id": "1", "lawyer_id": "1", "application_id": "1",
        "document_id": "1", "handover_id": "1", "snippet_id": "1", "contact_id": "1", "counselor_id": "1",
        "crisis_id": "1", "rec_id": "1", "seq": "0", "session_id": "1", "entry_id": "1", "rule_id": "1",
        "exception_id": "1", "module": "sample_module", "action": "unlock",
    }
    urls = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "GET" not in route.methods:
            continue
        path = route.path
        if "{file_path:path}" in path:
            path = path.replace("{file_path:path}", "css/portal.css" if path == "/static/{file_path:path}" else "sample.css")
        url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], path)
        if url == "/admin/centers/new":
            url += f"?parent={values['center_id']}"
        urls.append(url)
    return urls + ["/no-such-page", "/admin/centers/999999", "/login?expired=1", "/static/css/none.css"]


async def _sweep(client, urls, **headers) -> dict[str, list[str]]:
    found = {}
    for url in urls:
        response = await client.get(url, headers=headers, follow_redirects=False)
        problems = header_problems(response)
        if problems:
            found[f"{url} ({response.status_code})"] = problems
    return found


async def test_every_get_page_carries_the_security_headers_for_visitors(app, client):
    urls = await _get_urls(app)
    assert len(urls) > 30
    assert await _sweep(client, urls) == {}


async def test_every_get_page_carries_the_security_headers_for_staff(app, client_factory):
    urls = await _get_urls(app)
    for username in ("gzq_admin", "dzz_window", "auditor"):
        browser = await client_factory()
        await browser.login(username)
        assert await _sweep(browser, urls) == {}, username
        assert await _sweep(browser, urls, **{"HX-Request": "true"}) == {}, username


async def test_html_pages_say_what_they_vary_on_and_are_not_stored(client):
    await client.login("gzq_admin")
    for url in ("/dashboard", "/admin/staff", "/account", "/"):
        for headers in ({}, {"HX-Request": "true"}):
            response = await client.get(url, headers=headers)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/html")
            assert "no-store" in response.headers["cache-control"]
            assert "hx-request" in response.headers["vary"].lower()


async def test_fragment_and_full_page_differ_for_htmx(client):
    await client.login("gzq_admin")
    full = await client.get("/admin/staff")
    fragment = await client.get("/admin/staff", headers={"HX-Request": "true"})
    assert "<html" in full.text.lower() and "<html" not in fragment.text.lower()


# ----------------------------------------------------------------------------- cookies


def _set_cookie(response, name: str) -> dict[str, str] | None:
    for raw in response.headers.get_list("set-cookie"):
        first, *attributes = [part.strip() for part in raw.split(";")]
        if first.split("=", 1)[0] == name:
            parsed = {"value": first.split("=", 1)[1]}
            for attribute in attributes:
                key, _, value = attribute.partition("=")
                parsed[key.lower()] = value
            return parsed
    return None


async def test_session_cookie_is_httponly_samesite_lax_and_ends_with_the_browser(client, settings):
    response = await client.login("gzq_admin")
    cookie = _set_cookie(response, settings.session_cookie)
    assert cookie is not None and cookie["value"]
    assert "httponly" in cookie
    assert cookie.get("samesite", "").lower() == "lax"
    assert cookie.get("path") == "/"
    assert "domain" not in cookie
    assert "max-age" not in cookie and "expires" not in cookie  # no long-lived session cookie
    logout = await client.submit("/logout")
    cleared = _set_cookie(logout, settings.session_cookie)
    assert cleared is not None and cleared["value"].strip('"') == "" and cleared.get("max-age") == "0"


async def test_csrf_cookie_is_httponly_and_samesite_lax(client_factory, settings):
    browser = await client_factory()
    response = await browser.get("/login")
    cookie = _set_cookie(response, settings.csrf_cookie)
    assert cookie is not None
    assert "httponly" in cookie and cookie.get("samesite", "").lower() == "lax"


async def test_production_cookies_are_host_prefixed_and_secure(settings):
    application = await start_production(settings, cookie_secure=True)
    async with application.lifespan():
        prod = application.state.settings
        assert prod.session_cookie == "__Host-portal_session"
        _id, secret = await make_staff(prod, "ma_lin", "GZQ", ["center_admin"])
        async with browser_for(application, base_url="https://testserver.local") as browser:
            first = await browser.get("/login")
            csrf = _set_cookie(first, prod.csrf_cookie)
            assert csrf is not None and "secure" in csrf
            assert "max-age=31536000" in first.headers.get("strict-transport-security", "")
            response = await login_with_totp(browser, "ma_lin", secret)
            cookie = _set_cookie(response, prod.session_cookie)
            assert cookie is not None
            assert {"secure", "httponly"} <= set(cookie)
            assert cookie.get("samesite", "").lower() == "lax"
            assert cookie.get("path") == "/" and "domain" not in cookie
            assert (await browser.get("/dashboard")).status_code == 200


# ------------------------------------------------------------------------------ errors


async def _enable_boom(app, code: str) -> None:
    trail = AuditTrail(audit_key(app.state.settings), SYSTEM)
    registry = app.state.registry
    center = await center_id(code)
    await set_allowed(trail, registry, center, "boom_plugin", True)
    await set_enabled(trail, registry, center, "boom_plugin", True)


def _assert_no_leak(response) -> None:
    body = response.text
    for leak in (SECRET, "Traceback", "secret-sql", "SELECT", "staff_user", "RuntimeError", 'File "', "/work/", ".py"):
        assert leak not in body, leak


async def test_500_page_shows_a_reference_and_no_internals(boom_app, caplog):
    await _enable_boom(boom_app, "GZQ")
    async with browser_for(boom_app) as browser:
        await browser.login("gzq_admin")
        with caplog.at_level(logging.ERROR):
            response = await browser.get("/m/boom_plugin", follow_redirects=False)
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("text/html")
        _assert_no_leak(response)
        request_id = response.headers.get("x-request-id", "")
        assert re.fullmatch(r"[0-9a-zA-Z-]{8,64}", request_id)
        assert request_id in html_text(response)
        assert header_problems(response) == []
        # The error is logged for the operators, with the same reference.
        logged = [r for r in caplog.records if request_id in r.getMessage()]
        assert logged and any(r.exc_info for r in logged)

        fragment = await browser.get("/m/boom_plugin", headers={"HX-Request": "true"})
        assert fragment.status_code == 500
        _assert_no_leak(fragment)
        assert fragment.headers["x-request-id"] in html_text(fragment)
        assert fragment.headers["x-request-id"] != request_id  # each request its own reference


async def test_500_page_for_a_visitor_shows_no_internals(boom_app):
    await _enable_boom(boom_app, "GZQ-DZZ")
    async with browser_for(boom_app) as browser:
        response = await browser.get("/m/boom_plugin/c/GZQ-DZZ")
        assert response.status_code == 500
        _assert_no_leak(response)
        assert response.headers["x-request-id"] in html_text(response)


async def test_failing_module_is_404_where_it_is_not_enabled(boom_app):
    async with browser_for(boom_app) as browser:
        await browser.login("gzq_admin")
        assert (await browser.get("/m/boom_plugin")).status_code == 404


# ------------------------------------------------------------------------------ schema


async def test_api_schema_is_not_served_in_production(app, client, settings):
    assert (await client.get("/schema/openapi.json")).status_code == 200  # development serves it
    application = await start_production(settings)
    async with application.lifespan():
        async with browser_for(application) as browser:
            for url in ("/schema", "/schema/openapi.json", "/schema/openapi.yaml", "/schema/swagger", "/schema/redoc"):
                response = await browser.get(url, follow_redirects=False)
                assert response.status_code == 404, url
