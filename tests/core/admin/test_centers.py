"""Admin pages for the center tree and departments."""

from __future__ import annotations

from portal.i18n import gettext
from portal.tables import AuditLog, Center, Department
from tests.conftest import html_text


async def by_code(code: str) -> dict:
    return await Center.select().where(Center.code == code).first()


async def test_township_admin_adds_a_village(client):
    await client.login("dmz_admin")
    dmz = await by_code("GZQ-DMZ")
    form = await client.get(f"/admin/centers/new?parent={dmz['id']}")
    key = form.text.split('name="_submission_key" value="')[1].split('"')[0]
    response = await client.submit(
        f"/admin/centers/new?parent={dmz['id']}",
        {"name": "红光村综治中心", "code": "gzq-dmz-hgc", "address": "大满镇红光村", "phone": "0936 856 1103", "hours": "全天", "_submission_key": key},
    )
    assert response.status_code == 303
    row = await by_code("GZQ-DMZ-HGC")
    assert row["level"] == "village" and row["parent"] == dmz["id"]
    assert row["path"] == f"{dmz['path']}{row['id']}/"
    assert response.headers["location"] == f"/admin/centers/{row['id']}"
    tree = await client.get("/admin/centers")
    assert "红光村综治中心" in tree.text
    assert await AuditLog.exists().where((AuditLog.action == "center.created") & (AuditLog.object_id == str(row["id"])))


async def test_invalid_center_keeps_input_and_explains(client):
    await client.login("dmz_admin")
    dmz = await by_code("GZQ-DMZ")
    count = await Center.count()
    response = await client.submit(
        f"/admin/centers/new?parent={dmz['id']}",
        {"name": "", "code": "GZQ-DZZ", "address": "大满镇某地", "phone": "12345", "hours": ""},
    )
    assert response.status_code == 422
    text = html_text(response)
    assert gettext("Enter the center's name.") in text
    assert gettext("Another center already uses this code. Choose a different one.") in text
    assert gettext("Enter a phone number such as 0936-8212345 or an 11-digit mobile number.") in text
    assert 'value="大满镇某地"' in response.text and 'value="12345"' in response.text
    assert await Center.count() == count


async def test_villages_have_no_children(client):
    await client.login("dmz_admin")
    village = await by_code("GZQ-DMZ-XXC")
    assert (await client.get(f"/admin/centers/new?parent={village['id']}")).status_code == 404
    assert (await client.submit(f"/admin/centers/new?parent={village['id']}", {"name": "x", "code": "XX-1"})).status_code == 404


async def test_edit_center_and_never_close_ones_own(client):
    await client.login("dmz_admin")
    dmz = await by_code("GZQ-DMZ")
    response = await client.submit(
        f"/admin/centers/{dmz['id']}",
        {"name": "大满镇综治中心", "code": "GZQ-DMZ", "address": "新地址 1 号", "phone": "13800000000", "hours": "工作日"},
    )
    assert response.status_code == 303
    row = await by_code("GZQ-DMZ")
    assert row["address"] == "新地址 1 号" and row["phone"] == "13800000000" and row["active"] is True
    village = await by_code("GZQ-DMZ-DMC")
    await client.submit(
        f"/admin/centers/{village['id']}",
        {"name": village["name"], "code": village["code"], "address": "", "phone": "", "hours": ""},
    )
    assert (await by_code("GZQ-DMZ-DMC"))["active"] is False


async def test_department_create_edit_and_forged_center(client):
    await client.login("gzq_admin")
    dzz = await by_code("GZQ-DZZ")
    response = await client.submit(
        "/admin/departments/new",
        {"name": "党寨镇农业站", "code": "DZZ-NYZ", "center": str(dzz["id"]), "levels": ["at_township", "at_village"], "phone": ""},
    )
    assert response.status_code == 303
    dept = await Department.select().where(Department.code == "DZZ-NYZ").first()
    assert dept["center"] == dzz["id"] and dept["at_township"] and dept["at_village"] and not dept["at_district"]
    listing = await client.get("/admin/departments")
    assert "党寨镇农业站" in listing.text

    # A township admin may not file a department under another township by forging the id.
    township = client
    await township.submit("/logout")
    await township.login("dmz_admin")
    response = await township.submit(
        "/admin/departments/new",
        {"name": "伪造部门", "code": "FAKE-1", "center": str(dzz["id"]), "levels": ["at_township"]},
    )
    assert response.status_code == 422
    assert gettext("Choose the center the department belongs to.") in html_text(response)
    assert not await Department.exists().where(Department.code == "FAKE-1")
    assert (await township.get(f"/admin/departments/{dept['id']}")).status_code == 404


async def test_department_needs_a_level(client):
    await client.login("gzq_admin")
    gzq = await by_code("GZQ")
    response = await client.submit("/admin/departments/new", {"name": "区应急局", "code": "YJJ", "center": str(gzq["id"])})
    assert response.status_code == 422
    assert gettext("Choose at least one level where the department works.") in html_text(response)
    assert 'value="区应急局"' in response.text
