"""Admin pages for staff accounts."""

from __future__ import annotations

import re

from portal.i18n import gettext
from portal.tables import AuthSession, Center, Department, StaffRole, StaffUser
from tests.conftest import html_text


async def center_id(code: str) -> int:
    return (await Center.select(Center.id).where(Center.code == code).first())["id"]


async def test_create_account_shows_the_temporary_password_once(client_factory):
    admin = await client_factory()
    await admin.login("dmz_admin")
    form = await admin.get("/admin/staff/new")
    key = form.text.split('name="_submission_key" value="')[1].split('"')[0]
    data = {
        "username": "ｗａｎｇｆａｎｇ",  # full-width letters typed on a Chinese keyboard
        "display_name": "王芳",
        "phone": "+86 138-0013-8000",
        "center": str(await center_id("GZQ-DMZ-XXC")),
        "roles": ["window_staff"],
        "_submission_key": key,
        "is_demo": "1",  # mass assignment: ignored
    }
    response = await admin.submit("/admin/staff/new", data)
    assert response.status_code == 200
    password = re.search(r'<p class="secret">([^<]+)</p>', response.text).group(1)
    assert len(password) == 19
    user = await StaffUser.select().where(StaffUser.username == "wangfang").first()
    assert user["phone"] == "13800138000" and user["must_change_password"] and not user["is_demo"]
    assert password not in user["password_hash"]
    # The same form sent again goes to the account page and does not reveal the password again.
    again = await admin.submit("/admin/staff/new", data)
    assert again.status_code == 303 and again.headers["location"] == f"/admin/staff/{user['id']}"
    assert await StaffUser.count().where(StaffUser.username == "wangfang") == 1

    newcomer = await client_factory()
    response = await newcomer.submit("/login", {"username": "wangfang", "password": password, "next": "/dashboard"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login/password")


async def test_invalid_account_form(client):
    await client.login("dmz_admin")
    response = await client.submit(
        "/admin/staff/new",
        {"username": "dmz_window", "display_name": "", "phone": "12345", "center": str(await center_id("GZQ-DZZ")), "roles": []},
    )
    assert response.status_code == 422
    text = html_text(response)
    for message in (
        "This username is already taken. Choose another one.",
        "Enter the person's name.",
        "Enter an 11-digit mobile number, for example 138 0000 0000.",
        "Choose the center where the person works.",
        "Choose at least one role.",
    ):
        assert gettext(message) in text
    assert 'value="12345"' in response.text


async def test_department_officer_needs_a_department(client):
    await client.login("gzq_admin")
    response = await client.submit(
        "/admin/staff/new",
        {"username": "officer2", "display_name": "李明", "center": str(await center_id("GZQ")), "roles": ["department_officer"]},
    )
    assert response.status_code == 422
    assert gettext("A department officer must belong to a department. Choose one.") in html_text(response)
    rsj = await Department.select(Department.id).where(Department.code == "RSJ").first()
    response = await client.submit(
        "/admin/staff/new",
        {"username": "officer2", "display_name": "李明", "center": str(await center_id("GZQ")), "department": str(rsj["id"]), "roles": ["department_officer"]},
    )
    assert response.status_code == 200


async def test_list_masks_phones_and_searches(client):
    await StaffUser.update({StaffUser.phone: "13912345678"}).where(StaffUser.username == "dmz_window")
    await client.login("dmz_admin")
    page = await client.get("/admin/staff")
    assert "139****5678" in page.text and "13912345678" not in page.text
    assert "党寨镇" not in html_text(page)
    search = await client.get("/admin/staff", params={"q": "window"})
    assert "dmz_window" in search.text and "dmz_admin<" not in search.text


async def test_changing_roles_or_disabling_ends_sessions(client_factory):
    admin = await client_factory()
    await admin.login("dmz_admin")
    worker = await client_factory()
    await worker.login("dmz_window")
    user = await StaffUser.select().where(StaffUser.username == "dmz_window").first()
    response = await admin.submit(
        f"/admin/staff/{user['id']}",
        {"display_name": user["display_name"], "center": str(user["center"]), "roles": ["window_staff", "leader"], "active": "1"},
    )
    assert response.status_code == 303
    assert {r["role"] for r in await StaffRole.select().where(StaffRole.user == user["id"])} == {"window_staff", "leader"}
    assert not await AuthSession.exists().where(AuthSession.user == user["id"])
    assert (await worker.get("/dashboard", follow_redirects=False)).status_code == 303


async def test_security_admin_unlocks_and_resets(client_factory):
    from portal.auth import throttle

    victim = await client_factory()
    for _ in range(5):
        await victim.login("dmz_window", password="wrong-password-123", expect_ok=False)
    assert await throttle.locked_until("login-user:dmz_window")
    security = await client_factory()
    await security.login("secadmin")
    user = await StaffUser.select().where(StaffUser.username == "dmz_window").first()
    page = await security.get(f"/admin/staff/{user['id']}")
    assert f'action="/admin/staff/{user["id"]}/unlock"' in page.text
    assert (await security.submit(f"/admin/staff/{user['id']}/unlock")).status_code == 303
    assert await throttle.locked_until("login-user:dmz_window") is None
    await victim.login("dmz_window")
    # A center admin may reset a password but not use the security administrator's actions.
    admin = await client_factory()
    await admin.login("dmz_admin")
    assert (await admin.submit(f"/admin/staff/{user['id']}/unlock")).status_code == 403
    response = await admin.submit(f"/admin/staff/{user['id']}/reset-password")
    assert response.status_code == 200 and '<p class="secret">' in response.text
    assert (await victim.get("/dashboard", follow_redirects=False)).status_code == 303


async def test_administrator_accounts_are_listed_without_a_dead_link(client_factory):
    """A district center admin sees the three administrators of the district but may not open
    them (403), so the list shows their names without a link; the security administrator gets it."""
    sysadmin = await StaffUser.select(StaffUser.id).where(StaffUser.username == "sysadmin").first()
    colleague = await StaffUser.select(StaffUser.id).where(StaffUser.username == "dmz_admin").first()
    admin = await client_factory()
    await admin.login("gzq_admin")
    page = await admin.get("/admin/staff")
    assert "sysadmin" in page.text and "由安全管理员管理" in html_text(page)
    assert f'href="/admin/staff/{sysadmin["id"]}"' not in page.text
    assert f'href="/admin/staff/{colleague["id"]}"' in page.text
    assert (await admin.get(f"/admin/staff/{sysadmin['id']}")).status_code == 403
    security = await client_factory()
    await security.login("secadmin")
    listed = await security.get("/admin/staff", params={"q": "sysadmin"})
    assert f'href="/admin/staff/{sysadmin["id"]}"' in listed.text
