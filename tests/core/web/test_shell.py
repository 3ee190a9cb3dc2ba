"""The web shell: layout, 长辈版, error pages, fragments for htmx, public center pages."""

from __future__ import annotations

import re

from portal.i18n import gettext
from portal.tables import Center
from tests.conftest import html_text


async def test_layout_landmarks_and_title(client):
    page = await client.get("/login")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert page.text.count("<main") == 1 and page.text.count("<h1") == 1
    first_link = re.search(r"<body>\s*<a [^>]*>([^<]+)</a>", page.text)
    assert first_link.group(1) == gettext("Skip to main content")
    title = re.search(r"<title>([^<]+)</title>", page.text).group(1)
    assert title.startswith(gettext("Staff sign-in") + " - ")
    assert 'href="/privacy"' in page.text and 'href="/accessibility"' in page.text


async def test_error_title_after_a_failed_submit(client):
    page = await client.submit("/login", {"username": "", "password": ""})
    assert page.status_code == 422
    title = re.search(r"<title>([^<]+)</title>", page.text).group(1)
    assert title.startswith(gettext("Error: "))
    assert gettext("There is a problem") in page.text
    assert 'href="#username"' in page.text and 'href="#password"' in page.text


async def test_elder_mode_is_a_link_remembered_in_a_cookie(client):
    page = await client.get("/c/GZQ")
    assert 'class="elder"' not in page.text
    link = re.search(r'href="(/elder\?on=1[^"]*)"', page.text).group(1).replace("&amp;", "&")
    response = await client.get(link, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/c/GZQ"
    assert '<html lang="zh-CN" class="elder">' in (await client.get("/c/GZQ")).text
    assert '<html lang="zh-CN" class="elder">' in (await client.get("/")).text
    response = await client.get("/elder?on=0&next=/", follow_redirects=False)
    assert 'class="elder"' not in (await client.get("/")).text
    # An outside address is never a redirect target.
    response = await client.get("/elder?on=1&next=//evil.example/x", follow_redirects=False)
    assert response.headers["location"] == "/"


async def test_not_found_is_an_html_page_without_internals(client):
    response = await client.get("/c/NO-SUCH-CENTER")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert gettext("Page not found") in response.text
    response = await client.get("/definitely/not/here")
    assert response.status_code == 404 and "<main" in response.text


async def test_method_not_allowed_is_a_page(client):
    response = await client.submit("/healthz")
    assert response.status_code == 405
    assert "<main" in response.text


async def test_htmx_request_gets_the_fragment(client):
    await client.login("auditor")
    full = await client.get("/audit")
    fragment = await client.get("/audit", headers={"HX-Request": "true"})
    assert "<html" in full.text and "<html" not in fragment.text
    assert "<table>" in fragment.text
    assert "HX-Request" in fragment.headers["vary"] and "HX-Request" in full.headers["vary"]
    boosted = await client.get("/audit", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.text


async def test_public_center_page_and_tree(client):
    page = await client.get("/c/GZQ-DMZ")
    text = html_text(page)
    assert "大满镇综治中心" in text and "0936-8561000" in text
    assert 'href="/c/GZQ"' in page.text  # back to the district
    tree = await client.get("/centers")
    assert tree.text.index("甘州区综治中心") < tree.text.index("大满镇综治中心") < tree.text.index("新新村综治中心")


async def test_closed_center_disappears_from_public_pages(client):
    await Center.update({Center.active: False}).where(Center.code == "GZQ-LJD")
    assert (await client.get("/c/GZQ-LJD")).status_code == 404
    assert "梁家墩镇" not in (await client.get("/centers")).text


async def test_dashboard_requires_sign_in_and_shows_role_nav(client_factory):
    anonymous = await client_factory()
    response = await anonymous.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/dashboard"
    admin = await client_factory()
    await admin.login("gzq_admin")
    page = await admin.get("/dashboard")
    for url in ("/admin/centers", "/admin/departments", "/admin/staff", "/admin/modules"):
        assert f'href="{url}"' in page.text
    assert 'href="/audit"' not in page.text
    assert 'aria-current="page"' in page.text
    window = await client_factory()
    await window.login("dmz_window")
    page = await window.get("/dashboard")
    assert 'href="/admin/staff"' not in page.text and "大满镇综治中心" in page.text


async def test_flash_message_appears_once(client):
    await client.login("gzq_admin")
    await client.submit("/account/sessions/end-others")
    first = await client.get("/account")
    assert gettext("All your other sessions have been ended.") in first.text
    second = await client.get("/account")
    assert gettext("All your other sessions have been ended.") not in second.text


async def test_forged_flash_cookie_is_ignored(client):
    client.cookies.set("portal_flash", "W1sic3VjY2VzcyIsIjxiPmhpPC9iPiJdXQ==.0000")
    page = await client.get("/")
    assert "<b>hi</b>" not in page.text and "&lt;b&gt;hi" not in page.text
