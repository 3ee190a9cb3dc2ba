"""Who sees which matter; gap-free notice numbers under concurrency; the numbers page adds up."""

from __future__ import annotations

import asyncio
import datetime as dt

from portal import clock

from portal.db import write_transaction
from portal.matters import notices
from portal.matters.tables import Matter, Notice
from portal.tables import Center, Department
from tests.conftest import html_text
from tests.core.matters.helpers import act, register_at_window


async def test_township_staff_cannot_see_another_townships_matters(client_factory):
    dmz = await client_factory()
    await dmz.login("dmz_window")
    m = await register_at_window(dmz)
    other = await client_factory()
    await other.login("dzz_window")
    assert (await other.get(f"/matters/{m['id']}")).status_code == 404
    assert (await other.submit(f"/matters/{m['id']}/act/accept", {"version": "1"})).status_code == 404
    assert m["code"] not in (await other.get("/matters")).text
    district = await client_factory()
    await district.login("gzq_admin")
    assert (await district.get(f"/matters/{m['id']}")).status_code == 200
    assert f"/matters/{m['id']}" in (await district.get("/matters")).text
    # The district supervises; the handling township may not supervise itself.
    assert (await district.submit(f"/matters/{m['id']}/act/supervise", {"version": "1", "instruction": "请尽快受理", "due_date": "2099-01-31"})).status_code == 303


async def test_department_officer_sees_only_what_was_assigned(client_factory):
    window = await client_factory()
    await window.login("gzq_window")
    assigned = await register_at_window(window, summary="欠薪")
    other = await register_at_window(window, summary="噪音", petitioner_phone="13700137000", category="neighbour")
    rsj = await Department.select(Department.id).where(Department.code == "RSJ").first()
    soon = (clock.local(clock.now()) + dt.timedelta(days=10)).date().isoformat()
    await act(window, assigned["id"], "assign", department=rsj["id"], due_date=soon, instruction="请核查")
    officer = await client_factory()
    await officer.login("rsj_officer")
    assert (await officer.get(f"/matters/{assigned['id']}")).status_code == 200
    assert (await officer.get(f"/matters/{other['id']}")).status_code == 404
    queue = await officer.get("/matters")
    assert f"/matters/{assigned['id']}\"" in queue.text and f"/matters/{other['id']}\"" not in queue.text
    # The department objects within 5 working days: the matter returns to the center's triage.
    await act(officer, assigned["id"], "object", reason="不属于本局职责")
    back = await Matter.select().where(Matter.id == assigned["id"]).first()
    assert back["status"] == "accepted" and back["department"] is None
    assert (await officer.get(f"/matters/{assigned['id']}")).status_code == 404


async def test_concurrent_notices_get_distinct_consecutive_numbers(app):
    center = await Center.select().where(Center.code == "GZQ-DMZ").first()
    matter_id = (await Matter.insert(Matter(
        code="ABCDEFGHJKLM", category="other", channel="visit", summary="s", center=center["id"],
        center_path=center["path"], origin_center=center["id"], received_at=__import__("portal.clock", fromlist=["now"]).now(),
    )).returning(Matter.id))[0]["id"]
    matter = await Matter.select().where(Matter.id == matter_id).first()

    async def one():
        async with write_transaction():
            return await notices.issue(matter=matter, center=center, kind="accept", values={"due": "x"}, issued_by=None)

    issued = await asyncio.gather(*(one() for _ in range(100)))
    seqs = sorted(row["seq"] for row in await Notice.select(Notice.seq).where(Notice.center == center["id"]))
    assert seqs == list(range(1, 101))
    assert len({n["number"] for n in issued}) == 100


async def test_numbers_page_rolls_up_the_subtree(client_factory):
    village = await client_factory()
    await village.login("xxc_window")
    first = await register_at_window(village)
    second = await register_at_window(village, petitioner_phone="13700137000", summary="另一件")
    await act(village, first["id"], "accept")
    await act(village, second["id"], "decline", reason="属于劳动仲裁受理范围", route="arbitration")
    district = await client_factory()
    await district.login("gzq_admin")
    page = await district.get("/numbers")
    assert page.status_code == 200
    rows = {}
    for name in ("甘州区综治中心", "大满镇综治中心", "新新村综治中心", "党寨镇综治中心"):
        cells = page.text.split(f">{name}</th>", 1)[1].split("</tr>", 1)[0]
        rows[name] = html_text(type("R", (), {"text": cells})())
    assert rows["新新村综治中心"].startswith("2 1 1") and rows["大满镇综治中心"].startswith("2 1 1")
    assert rows["甘州区综治中心"].startswith("2 1 1") and rows["党寨镇综治中心"].startswith("0 0 0")
    assert "100.0% (2/2)" in rows["甘州区综治中心"]
    bad = await district.get("/numbers", params={"from": "2026-13-01"})
    assert bad.status_code == 422


async def test_hundred_concurrent_accept_requests_number_their_notices_without_gaps(app, client):
    """100 simultaneous HTTP requests, each accepting a different matter of one center."""
    from portal.audit.chain import SYSTEM, AuditTrail
    from portal.matters.service import Ctx, NewMatter, register

    center = await Center.select().where(Center.code == "GZQ-DZZ").first()
    ctx = Ctx(trail=AuditTrail(app.state.audit_key, SYSTEM))
    ids = []
    for i in range(100):
        created = await register(ctx, center, NewMatter(
            kind="petition", category="other", channel="letter", summary=f"来信{i}", request="r", facts="", place="",
            place_center=None, petitioner_name="某", petitioner_phone="", petitioner_address="", people_count=1,
        ))
        ids.append(created["id"])
    await client.login("dzz_window")
    token = await client.csrf()
    responses = await asyncio.gather(*(
        client.post(f"/matters/{i}/act/accept", data={"_csrf_token": token, "version": "1"}, follow_redirects=False) for i in ids
    ))
    assert [r.status_code for r in responses] == [303] * 100
    numbers = await Notice.select(Notice.seq, Notice.number).where(Notice.center == center["id"]).order_by(Notice.seq)
    assert [n["seq"] for n in numbers] == list(range(1, 101))
    assert len({n["number"] for n in numbers}) == 100
