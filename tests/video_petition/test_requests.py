"""The request: a citizen names an existing matter (tracking code + phone digits) or describes a
new one; staff check the ID (who, when, how) before approval; approval or refusal with a reason,
told by SMS and in-app; booking a reception slot opens a session."""

from __future__ import annotations

import re

from portal.db import raw
from portal.matters.codes import format_code

from tests.video_petition.helpers import (
    CITIZEN_PHONE, center, citizen_client, make_session, new_matter, staff_id,
)


def key(text: str) -> str:
    return re.search(r'name="_submission_key" value="([^"]+)"', text).group(1)


async def _request(citizen, **values):
    form = await citizen.get("/m/video_petition/c/GZQ/request")
    assert form.status_code == 200
    data = {"service": "leader", "mode": "new", "name": "王大山", "description": "村里修路占了我家承包地，没有补偿。",
            "preferred": "下周二上午", "_submission_key": key(form.text)}
    data.update(values)
    return await citizen.submit("/m/video_petition/c/GZQ/request", data)


async def test_a_new_matter_request_is_checked_approved_and_registers_the_matter(app, client_factory):
    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    response = await _request(citizen)
    assert response.status_code == 303
    sid = int(response.headers["location"].rsplit("/", 1)[1])
    session = (await raw("SELECT * FROM video_petition_session WHERE id = {}", sid))[0]
    assert session["status"] == "requested" and session["matter"] is None and session["phone"] == CITIZEN_PHONE
    assert await raw("SELECT 1 FROM outbox WHERE channel = 'inapp' AND staff = {} AND kind = 'video_petition_requested'",
                     await staff_id("gzq_window"))
    window = await client_factory()
    await window.login("gzq_window")
    page = await window.get(f"/m/video_petition/sessions/{sid}")
    assert page.status_code == 200 and "尚未核验" in page.text
    leader_id = await staff_id("leader")
    approve = {"decision": "approve", "host": str(leader_id), "department": "", "scheduled_at": "2030-12-02 09:30",
               "version": str(session["version"])}
    # No approval before the ID check.
    refused = await window.submit(f"/m/video_petition/sessions/{sid}/decide", approve)
    assert refused.status_code == 422 and "请先核验申请人身份" in refused.text
    assert "2030-12-02 09:30" in refused.text  # input kept
    bad = await window.submit(f"/m/video_petition/sessions/{sid}/id-check", {"method": "guess"})
    assert bad.status_code == 422 and "请选择核验身份的方式" in bad.text
    assert (await window.submit(f"/m/video_petition/sessions/{sid}/id-check", {"method": "id_card"})).status_code == 303
    checked = (await raw("SELECT * FROM video_petition_session WHERE id = {}", sid))[0]
    assert checked["id_checked_by"] == await staff_id("gzq_window") and checked["id_check_method"] == "id_card"
    assert checked["id_checked_at"] is not None
    bad_date = await window.submit(f"/m/video_petition/sessions/{sid}/decide",
                                   {**approve, "scheduled_at": "2030-13-45 25:00", "version": str(checked["version"])})
    assert bad_date.status_code == 422 and "2026-12-01 09:30" in bad_date.text and "2030-13-45 25:00" in bad_date.text
    stale = await window.submit(f"/m/video_petition/sessions/{sid}/decide", approve)  # the version before the check
    assert stale.status_code == 303
    assert (await raw("SELECT status FROM video_petition_session WHERE id = {}", sid))[0]["status"] == "requested"
    ok = await window.submit(f"/m/video_petition/sessions/{sid}/decide", {**approve, "version": str(checked["version"])})
    assert ok.status_code == 303
    done = (await raw("SELECT * FROM video_petition_session WHERE id = {}", sid))[0]
    assert done["status"] == "approved" and done["host"] == leader_id and done["matter"] is not None
    matter = (await raw("SELECT * FROM matter WHERE id = {}", done["matter"]))[0]
    assert matter["channel"] == "video" and matter["petitioner_phone"] == CITIZEN_PHONE
    sms = await raw("SELECT body FROM outbox WHERE channel = 'sms' AND phone = {} AND kind = 'video_petition_approved'", CITIZEN_PHONE)
    assert sms and "2030-12-02 09:30" in sms[0]["body"]
    assert await raw("SELECT 1 FROM outbox WHERE channel = 'inapp' AND citizen = {} AND kind = 'video_petition_approved' "
                     "AND link = {}", citizen.citizen_id, f"/m/video_petition/c/GZQ/sessions/{sid}")
    # Deciding twice does nothing more.
    again = await window.submit(f"/m/video_petition/sessions/{sid}/decide", {**approve, "version": str(done["version"])})
    assert again.status_code == 303
    assert len(await raw("SELECT id FROM matter WHERE petitioner_phone = {}", CITIZEN_PHONE)) == 1
    # The citizen sees the room's link.
    mine = await citizen.get(f"/m/video_petition/c/GZQ/sessions/{sid}")
    assert f"/m/video_petition/c/GZQ/room/{sid}" in mine.text


async def test_an_existing_matter_is_named_by_code_and_phone_digits(app, client_factory):
    matter = await new_matter(app)
    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    wrong = await _request(citizen, mode="existing", code=format_code(matter["code"]), last4="0000", description="")
    assert wrong.status_code == 422 and "不匹配" in wrong.text and format_code(matter["code"]) in wrong.text
    bad = await _request(citizen, mode="existing", code="NOT-A-CODE", last4="8111", description="")
    assert bad.status_code == 422 and "查询码" in bad.text
    ok = await _request(citizen, mode="existing", code=format_code(matter["code"]), last4=CITIZEN_PHONE[-4:], description="")
    assert ok.status_code == 303
    sid = int(ok.headers["location"].rsplit("/", 1)[1])
    assert (await raw("SELECT matter FROM video_petition_session WHERE id = {}", sid))[0]["matter"] == matter["id"]


async def test_a_double_submit_makes_one_request_and_bad_input_is_kept(app, client_factory):
    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    short = await _request(citizen, description="太短", name="")
    assert short.status_code == 422 and "至少 10 个字" in short.text and "请填写您的姓名" in short.text
    assert "太短" in short.text
    form = await citizen.get("/m/video_petition/c/GZQ/request")
    data = {"service": "leader", "mode": "new", "name": "王大山", "description": "村里修路占了我家承包地，没有补偿。",
            "preferred": "下周二上午", "_submission_key": key(form.text)}
    first = await citizen.submit("/m/video_petition/c/GZQ/request", data)
    second = await citizen.submit("/m/video_petition/c/GZQ/request", data)
    assert first.headers["location"] == second.headers["location"]
    assert len(await raw("SELECT id FROM video_petition_session WHERE citizen = {}", citizen.citizen_id)) == 1


async def test_refusal_needs_a_reason_and_tells_the_citizen(app, client_factory):
    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    session = await make_session(app, citizen.citizen_id, status="requested", host=None, matter=False)
    window = await client_factory()
    await window.login("gzq_window")
    url = f"/m/video_petition/sessions/{session['id']}/decide"
    empty = await window.submit(url, {"decision": "refuse", "reason": "", "version": str(session["version"])})
    assert empty.status_code == 422 and "请写明不予安排的理由" in empty.text
    ok = await window.submit(url, {"decision": "refuse", "reason": "该事项已进入诉讼程序", "version": str(session["version"])})
    assert ok.status_code == 303
    assert (await raw("SELECT status FROM video_petition_session WHERE id = {}", session["id"]))[0]["status"] == "refused"
    sms = await raw("SELECT body FROM outbox WHERE phone = {} AND kind = 'video_petition_refused'", CITIZEN_PHONE)
    assert "该事项已进入诉讼程序" in sms[0]["body"]
    page = await citizen.get(f"/m/video_petition/c/GZQ/sessions/{session['id']}")
    assert "该事项已进入诉讼程序" in page.text


async def test_scope_and_roles(app, client_factory):
    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    session = await make_session(app, citizen.citizen_id, status="requested", host=None)
    url = f"/m/video_petition/sessions/{session['id']}"
    other_center = await client_factory()
    await other_center.login("dmz_window")
    assert (await other_center.get(url)).status_code == 404
    assert (await other_center.submit(f"{url}/id-check", {"method": "id_card"})).status_code == 404
    leader = await client_factory()
    await leader.login("leader")  # sees, but does not check IDs or decide
    assert (await leader.get(url)).status_code == 200
    assert (await leader.submit(f"{url}/id-check", {"method": "id_card"})).status_code == 403
    officer = await client_factory()
    await officer.login("rsj_officer")
    assert (await officer.get(url)).status_code == 403
    other = await citizen_client(client_factory, "13800138999")
    assert (await other.get(f"/m/video_petition/c/GZQ/sessions/{session['id']}")).status_code == 404
    assert (await citizen.get(f"/m/video_petition/c/GZQ-DMZ/sessions/{session['id']}")).status_code == 404
    assert (await other_center.get("/m/video_petition/sessions/999999")).status_code == 404


async def test_booking_a_reception_slot_opens_a_session(app, client_factory):
    from tests.core.bookings.helpers import add_resource, at, confirm, next_workday

    gzq = await center("GZQ")
    leader_id = await staff_id("leader")
    await add_resource(gzq["id"], "区领导接访", services=("video_petition.leader",), staff=leader_id)
    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    slot = at(next_workday(3), 9)
    booked = await confirm(citizen, gzq["id"], slot, "video_petition.leader")
    assert booked.status_code == 303, booked.text[-1500:]
    rows = await raw("SELECT * FROM video_petition_session WHERE citizen = {}", citizen.citizen_id)
    assert len(rows) == 1 and rows[0]["status"] == "requested" and rows[0]["host"] == leader_id
    assert rows[0]["booking"] is not None and rows[0]["service"] == "leader"
    # The next step: naming the matter completes that same session.
    step = await citizen.get(f"/m/video_petition/c/GZQ/request?booking={rows[0]['booking']}")
    assert step.status_code == 200 and "您已预约" in step.text
    done = await citizen.submit("/m/video_petition/c/GZQ/request", {
        "mode": "new", "name": "王大山", "description": "村里修路占了我家承包地，没有补偿。", "booking": str(rows[0]["booking"]),
        "_submission_key": key(step.text)})
    assert done.status_code == 303
    rows = await raw("SELECT * FROM video_petition_session WHERE citizen = {}", citizen.citizen_id)
    assert len(rows) == 1 and rows[0]["description"].startswith("村里修路")
    # Cancelling the booking cancels the session.
    from portal.db import write_transaction
    from plugins.video_petition.schedule import on_booking

    async with write_transaction():
        await on_booking("cancelled", {"id": rows[0]["booking"], "service_key": "video_petition.leader"})
    assert (await raw("SELECT status FROM video_petition_session WHERE id = {}", rows[0]["id"]))[0]["status"] == "cancelled"


async def test_staff_seat_up_to_five_representatives_who_then_wait_in_the_room(app, client_factory):
    from tests.video_petition.helpers import me_of, participant

    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    session = await make_session(app, citizen.citizen_id)
    window = await client_factory()
    await window.login("gzq_window")
    url = f"/m/video_petition/sessions/{session['id']}/representatives"
    bad = await window.submit(url, {"rep_name": "李四", "rep_phone": "12345"})
    assert bad.status_code == 422 and "11 位手机号码" in bad.text and "李四" in bad.text
    own = await window.submit(url, {"rep_name": "王大山", "rep_phone": CITIZEN_PHONE})
    assert own.status_code == 422 and "申请人本人" in own.text
    phones = [f"1390000000{i}" for i in range(6)]
    for i, phone in enumerate(phones[:5]):
        assert (await window.submit(url, {"rep_name": f"代表{i}", "rep_phone": phone})).status_code == 303
    twice = await window.submit(url, {"rep_name": "代表0", "rep_phone": phones[0]})
    assert twice.status_code == 422
    sixth = await window.submit(url, {"rep_name": "代表5", "rep_phone": phones[5]})
    assert sixth.status_code == 422 and "最多 5 人" in sixth.text
    sms = await raw("SELECT body FROM outbox WHERE phone = {} AND kind = 'video_petition_representative'", phones[0])
    assert f"/m/video_petition/c/GZQ/room/{session['id']}" in sms[0]["body"]
    rep = await citizen_client(client_factory, phones[0])
    seat = me_of(await rep.get(f"/m/video_petition/c/GZQ/room/{session['id']}"))
    assert (await participant(seat))["state"] == "waiting"
    # Someone who is not a representative still gets 404.
    stranger = await citizen_client(client_factory, phones[5])
    assert (await stranger.get(f"/m/video_petition/c/GZQ/room/{session['id']}")).status_code == 404
    leader = await client_factory()
    await leader.login("leader")
    assert (await leader.submit(url, {"rep_name": "x", "rep_phone": phones[5]})).status_code == 403


async def test_approval_tells_the_host_and_the_summoned_department(app, client_factory):
    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    session = await make_session(app, citizen.citizen_id, status="requested", host=None)
    window = await client_factory()
    await window.login("gzq_window")
    await window.submit(f"/m/video_petition/sessions/{session['id']}/id-check", {"method": "video"})
    version = (await raw("SELECT version FROM video_petition_session WHERE id = {}", session["id"]))[0]["version"]
    zjj = (await raw("SELECT id FROM department WHERE code = 'ZJJ'"))[0]["id"]
    ok = await window.submit(f"/m/video_petition/sessions/{session['id']}/decide", {
        "decision": "approve", "host": str(await staff_id("leader")), "department": str(zjj),
        "scheduled_at": "2030-12-02 09:30", "version": str(version)})
    assert ok.status_code == 303
    link = f"/m/video_petition/room/{session['id']}"
    assert await raw("SELECT 1 FROM outbox WHERE staff = {} AND link = {}", await staff_id("leader"), link)
    assert await raw("SELECT 1 FROM outbox WHERE staff = {} AND link = {} AND kind = 'video_petition_summoned'",
                     await staff_id("zjj_officer"), link)
    assert await raw("SELECT 1 FROM outbox WHERE phone = '13909361001' AND kind = 'video_petition_summoned'")
    # The matter page shows the session in its panel.
    matter = (await raw("SELECT matter FROM video_petition_session WHERE id = {}", session["id"]))[0]["matter"]
    page = await window.get(f"/matters/{matter}")
    assert f"/m/video_petition/sessions/{session['id']}" in page.text
