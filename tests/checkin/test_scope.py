"""Who sees what: officers see only whistles summoning their department, centers their subtree; the
module where it is off answers 404 (and an officer's page follows the whistle's center)."""

from __future__ import annotations

from portal.db import raw
from tests.checkin.helpers import blow, center_id, check_in_by_code, department_id, switch, whistle
from tests.conftest import html_text
from tests.core.matters.helpers import register_at_window


async def test_an_officer_of_another_department_gets_404_everywhere(app, client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["GAFJ"], mode="online", place="")
    stranger = await client_factory()
    await stranger.login("zjj_officer")
    url = f"/m/checkin/w/{w['id']}"
    assert (await stranger.get(url)).status_code == 404
    assert (await stranger.get(f"/m/checkin/c/{w['code']}")).status_code == 404
    for action, data in (("checkin", {"attendees": "某人"}), ("result", {"text": "冒名反馈"})):
        assert (await stranger.submit(f"{url}/{action}", data)).status_code == 404, action
    listing = html_text(await stranger.get("/m/checkin/"))
    assert "没有符合条件的吹哨" in listing
    owner = await client_factory()
    await owner.login("gafj_officer")
    assert (await owner.get(url)).status_code == 200
    assert "需联合执法" in html_text(await owner.get("/m/checkin/"))
    # Forged ids.
    for forged in ("/m/checkin/w/999999", "/m/checkin/w/0", "/m/checkin/c/ZZZZZZ", "/m/checkin/c/<script>"):
        assert (await owner.get(forged)).status_code == 404, forged
    assert (await owner.submit("/m/checkin/w/999999/result", {"text": "x"})).status_code == 404


async def test_centers_see_their_subtree_only(app, client_factory):
    dmz = await client_factory()
    await dmz.login("dmz_window")
    w = await blow(dmz, ["GAFJ"])
    url = f"/m/checkin/w/{w['id']}"
    dzz = await client_factory()
    await dzz.login("dzz_window")
    assert (await dzz.get(url)).status_code == 404
    for action, data in (("minutes", {"text": "x"}), ("close", {"note": "x"}), ("cancel", {"reason": "x"}),
                         ("result", {"department": str(await department_id("GAFJ")), "text": "x"})):
        assert (await dzz.submit(f"{url}/{action}", data)).status_code == 404, action
    assert "需联合执法" not in html_text(await dzz.get("/m/checkin/"))
    district = await client_factory()
    await district.login("gzq_window")
    assert (await district.get(url)).status_code == 200  # the district supervises its townships
    village = await client_factory()
    await village.login("xxc_window")
    assert (await village.get(url)).status_code == 404  # a village does not see its township's whistles
    assert (await whistle(w["id"]))["status"] == "open"


async def test_disabling_the_module_at_one_center(app, client_factory):
    dmz = await client_factory()
    await dmz.login("dmz_window")
    matter = await register_at_window(dmz)
    w = await blow(dmz, ["GAFJ"], url=f"/m/checkin/new?matter_id={matter['id']}", source="")
    dzz = await client_factory()
    await dzz.login("dzz_window")
    other = await blow(dzz, ["GAFJ"])
    officer = await client_factory()
    await officer.login("gafj_officer")
    events_before = (await raw("SELECT count(*) AS n FROM matter_event WHERE matter = {}", matter["id"]))[0]["n"]
    before = await dmz.get("/dashboard")
    assert 'href="/m/checkin/"' in before.text and "个哨正在报到处置" in html_text(before)
    assert f'href="/m/checkin/w/{w["id"]}"' in (await dmz.get(f"/matters/{matter['id']}")).text

    await switch(app, "GZQ-DMZ", False)

    matter_page = await dmz.get(f"/matters/{matter['id']}")
    assert matter_page.status_code == 200  # the matter and its history stay
    assert "/m/checkin/new" not in matter_page.text and f"/m/checkin/w/{w['id']}" not in matter_page.text
    assert "已吹哨召集" in html_text(matter_page)
    assert (await raw("SELECT count(*) AS n FROM matter_event WHERE matter = {}", matter["id"]))[0]["n"] == events_before
    dashboard = await dmz.get("/dashboard")
    assert 'href="/m/checkin/"' not in dashboard.text  # the nav item
    assert "个哨正在报到处置" not in html_text(dashboard)  # the card
    for url in ("/m/checkin/", "/m/checkin/new", f"/m/checkin/w/{w['id']}", "/m/checkin/settings"):
        assert (await dmz.get(url)).status_code == 404, url
    assert (await officer.get(f"/m/checkin/w/{w['id']}")).status_code == 404
    assert (await officer.get(f"/m/checkin/c/{w['code']}")).status_code == 404
    officer_dashboard = (await officer.get("/dashboard")).text
    assert f'href="/m/checkin/w/{w["id"]}"' not in officer_dashboard
    assert f'href="/m/checkin/w/{other["id"]}"' in officer_dashboard
    assert (await raw("SELECT count(*) AS n FROM checkin_whistle WHERE id = {}", w["id"]))[0]["n"] == 1  # data kept

    # 党寨镇 keeps it all.
    assert (await dzz.get("/m/checkin/")).status_code == 200
    assert (await dzz.get(f"/m/checkin/w/{other['id']}")).status_code == 200
    assert (await officer.get(f"/m/checkin/w/{other['id']}")).status_code == 200
    dzz_matter = await register_at_window(dzz)
    assert f'/m/checkin/new?matter_id={dzz_matter["id"]}' in (await dzz.get(f"/matters/{dzz_matter['id']}")).text

    await switch(app, "GZQ-DMZ", True)
    assert (await dmz.get(f"/m/checkin/w/{w['id']}")).status_code == 200


async def test_officer_pages_follow_the_whistles_center_not_the_officers(app, client_factory):
    """module_guard's ``module_at: record``: the district (the officer's own center) switched the
    module off, the township still uses it — the officer answers the township's whistle."""
    dmz = await client_factory()
    await dmz.login("dmz_window")
    w = await blow(dmz, ["GAFJ"], mode="online", place="")
    await switch(app, "GZQ", False)
    officer = await client_factory()
    await officer.login("gafj_officer")
    assert (await officer.get("/m/checkin/")).status_code == 404  # a page of the officer's own center
    assert (await officer.get(f"/m/checkin/w/{w['id']}")).status_code == 200
    assert (await officer.submit(f"/m/checkin/w/{w['id']}/checkin", {"attendees": "赵警官"})).status_code == 303
    assert (await officer.submit(f"/m/checkin/w/{w['id']}/result", {"text": "已处置"})).status_code == 303
    # The district's own staff do not get the township's whistle through that door.
    district = await client_factory()
    await district.login("gzq_window")
    assert (await district.get(f"/m/checkin/w/{w['id']}")).status_code == 404
    # Code check-in works the same way.
    onsite = await blow(dmz, ["GAFJ"])
    assert (await check_in_by_code(officer, onsite)).status_code == 303


async def test_switching_the_module_on_creates_the_centers_policy(app):
    village = await center_id("GZQ-DMZ-DMC")
    assert not await raw("SELECT id FROM checkin_policy WHERE center = {}", village)
    await switch(app, "GZQ-DMZ-DMC", False)
    await switch(app, "GZQ-DMZ-DMC", True)
    rows = await raw("SELECT * FROM checkin_policy WHERE center = {}", village)
    assert len(rows) == 1 and rows[0]["ack_minutes_emergency"] == 30 and not rows[0]["require_approval"]
