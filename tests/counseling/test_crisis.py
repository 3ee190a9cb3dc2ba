"""The crisis path: a counselor's flag alerts the crisis contacts (neutral SMS + in-app link) in
the flag's transaction; the checklist records each step with who and when; only a closing note
resolves it; the flag is 404 to everyone but the contacts, its counselor and the supervisors."""

from __future__ import annotations

from portal.db import raw
from tests.conftest import html_text
from tests.counseling.helpers import (
    CONTACT_PHONE,
    booking_with,
    screening_form,
    sms_to,
    staff_client,
    staff_id,
    submission_key,
)


async def _raise(client_factory, booking, reason: str = "来访者说今晚想结束生命，目前在咨询室") -> tuple:
    counselor = await staff_client(client_factory, "counselor")
    form = await counselor.get(f"/m/counseling/crisis/new?booking_id={booking['id']}")
    assert form.status_code == 200
    response = await counselor.submit(f"/m/counseling/crisis/new?booking_id={booking['id']}",
                                      {"reason": reason, "_submission_key": submission_key(form.text)})
    return counselor, response, submission_key(form.text)


async def test_a_counselor_raises_a_flag_and_the_contacts_are_alerted(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    counselor, response, key = await _raise(client_factory, booking)
    assert response.status_code == 303
    flag = (await raw("SELECT * FROM counseling_crisis"))[0]
    assert response.headers["location"] == f"/m/counseling/crisis/{flag['id']}"
    assert (flag["source"], flag["status"], flag["booking"], flag["counselor"], flag["raised_by"]) == (
        "counselor", "open", booking["id"], await staff_id("counselor"), await staff_id("counselor"))
    sms = await sms_to(CONTACT_PHONE)
    assert len(sms) == 1
    for word in ("心理", "咨询", "生命", "小林", booking["phone"]):
        assert word not in sms[0]["body"]
    inapp = await raw("SELECT * FROM outbox WHERE channel = 'inapp' AND kind = 'counseling_crisis' ORDER BY id")
    # The contact only: the counselor raised it and needs no message about it.
    assert [(m["staff"], m["link"]) for m in inapp] == [(await staff_id("crisis_duty"), f"/m/counseling/crisis/{flag['id']}")]
    assert "生命" not in inapp[0]["body"]
    # The reason is stored encrypted, bound to the flag, and shown decrypted on the flag's page.
    assert flag["reason"].startswith("k1:") and "生命" not in flag["reason"] and "咨询室" not in flag["reason"]
    contact = await staff_client(client_factory, "crisis_duty")
    assert "来访者说今晚想结束生命，目前在咨询室" in html_text(await contact.get(f"/m/counseling/crisis/{flag['id']}"))
    # A double submit raises no second flag and sends nothing more.
    again = await counselor.submit(f"/m/counseling/crisis/new?booking_id={booking['id']}", {"reason": "重复", "_submission_key": key})
    assert again.status_code == 303
    assert len(await raw("SELECT id FROM counseling_crisis")) == 1 and len(await sms_to(CONTACT_PHONE)) == 1


async def test_a_reason_is_required_and_kept(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    counselor, response, _key = await _raise(client_factory, booking, reason="危险")
    assert response.status_code == 422
    assert "至少 5 个字" in html_text(response) and "危险" in response.text
    assert await raw("SELECT id FROM counseling_crisis") == []


async def test_only_the_own_counselor_may_raise_a_flag_on_a_booking(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    for username in ("counselor2", "gzq_admin", "crisis_duty"):
        other = await staff_client(client_factory, username)
        assert (await other.get(f"/m/counseling/crisis/new?booking_id={booking['id']}")).status_code == 404
        assert (await other.submit(f"/m/counseling/crisis/new?booking_id={booking['id']}", {"reason": "伪造的危机预警"})).status_code == 404
    counselor = await staff_client(client_factory, "counselor")
    assert (await counselor.get("/m/counseling/crisis/new")).status_code == 404
    assert (await counselor.get("/m/counseling/crisis/new?case_id=999999")).status_code == 404
    assert await raw("SELECT id FROM counseling_crisis") == []


async def test_the_flag_is_visible_to_contacts_counselor_and_supervisors_only(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    _c, response, _k = await _raise(client_factory, booking)
    url = response.headers["location"]
    for username in ("crisis_duty", "counselor", "counselor_sup"):
        staff = await staff_client(client_factory, username)
        page = await staff.get(url)
        assert page.status_code == 200, username
        text = html_text(page)
        assert "来访者说今晚想结束生命" in text and "小林" in text and "陪伴当事人（不离开）" in text
    for username in ("counselor2", "gzq_admin", "gzq_window", "leader", "dmz_admin", "auditor", "sysadmin"):
        staff = await staff_client(client_factory, username)
        assert (await staff.get(url)).status_code == 404, username
        assert (await staff.submit(f"{url}/steps", {"step": "family"})).status_code == 404, username
        assert (await staff.submit(f"{url}/resolve", {"closing_note": "伪造的解除说明"})).status_code == 404, username
    contact = await staff_client(client_factory, "crisis_duty")
    assert (await contact.get("/m/counseling/crisis/999999")).status_code == 404
    assert (await contact.get("/m/counseling/crisis/abc")).status_code == 404
    listed = await contact.get("/m/counseling/crisis")
    assert url in listed.text
    other = await staff_client(client_factory, "counselor2")
    assert url not in (await other.get("/m/counseling/crisis")).text
    assert (await (await staff_client(client_factory, "gzq_window")).get("/m/counseling/crisis")).status_code == 404
    # Every opening of the flag is audited.
    assert len(await raw("SELECT seq FROM audit_log WHERE action = 'counseling.crisis_viewed'")) == 3


async def test_the_checklist_records_who_and_when_and_only_a_closing_note_resolves(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    _c, response, _k = await _raise(client_factory, booking)
    url = response.headers["location"]
    contact = await staff_client(client_factory, "crisis_duty")
    page = await contact.get(url)
    for step in ("accompany", "police"):
        page = await contact.get(url)
        done = await contact.submit(f"{url}/steps", {"step": step, "note": "", "_submission_key": submission_key(page.text)})
        assert done.status_code == 303
    counselor = await staff_client(client_factory, "counselor")
    page = await counselor.get(url)
    missing = await counselor.submit(f"{url}/steps", {"step": "other", "note": "", "_submission_key": submission_key(page.text)})
    assert missing.status_code == 422 and "请说明采取了什么措施" in html_text(missing)
    forged = await counselor.submit(f"{url}/steps", {"step": "hack", "_submission_key": submission_key(page.text)})
    assert forged.status_code == 422
    other = await counselor.submit(f"{url}/steps", {"step": "other", "note": "已通知其姐姐到场", "_submission_key": submission_key(page.text)})
    assert other.status_code == 303
    steps = await raw("SELECT step, note, actor, at FROM counseling_crisis_step ORDER BY id")
    assert [(s["step"], s["actor"]) for s in steps] == [("accompany", await staff_id("crisis_duty")),
                                                        ("police", await staff_id("crisis_duty")),
                                                        ("other", await staff_id("counselor"))]
    assert all(s["at"] is not None for s in steps)
    assert steps[0]["note"] == "" and steps[2]["note"].startswith("k1:") and "姐姐" not in steps[2]["note"]
    text = html_text(await counselor.get(url))
    assert "报警 110" in text and "已通知其姐姐到场" in text and "危机干预联系人（演示）" in text
    empty = await contact.submit(f"{url}/resolve", {"closing_note": "  "})
    assert empty.status_code == 422 and "请填写解除说明" in html_text(empty)
    assert (await raw("SELECT status FROM counseling_crisis"))[0]["status"] == "open"
    resolved = await contact.submit(f"{url}/resolve", {"closing_note": "家属已接回，约定明天复谈"})
    assert resolved.status_code == 303
    flag = (await raw("SELECT * FROM counseling_crisis"))[0]
    assert (flag["status"], flag["resolved_by"]) == ("resolved", await staff_id("crisis_duty"))
    assert flag["closing_note"].startswith("k1:") and "家属" not in flag["closing_note"]
    assert "家属已接回，约定明天复谈" in html_text(await contact.get(url))
    page = await contact.get(url)
    late = await contact.submit(f"{url}/steps", {"step": "family", "_submission_key": submission_key(page.text) if "_submission_key" in page.text else ""})
    assert late.status_code == 422 and "该危机预警已解除" in html_text(late)
    twice = await contact.submit(f"{url}/resolve", {"closing_note": "再次解除试试看"})
    assert twice.status_code == 422
    actions = [r["action"] for r in await raw("SELECT action FROM audit_log WHERE action LIKE 'counseling.crisis_%' ORDER BY seq")]
    assert actions.count("counseling.crisis_step") == 3 and actions.count("counseling.crisis_resolved") == 1


async def test_without_crisis_contacts_the_supervisors_are_alerted(app, client_factory):
    await raw("DELETE FROM counseling_crisis_contact")
    booking = await booking_with("counselor2", client_factory=client_factory)
    citizen = booking["client"]
    url = f"/m/counseling/c/GZQ/screening/{booking['id']}"
    page = await citizen.get(url)
    await citizen.submit(url, screening_form(phq9=(0,) * 8 + (3,), key=submission_key(page.text)))
    inapp = await raw("SELECT staff FROM outbox WHERE channel = 'inapp' AND kind = 'counseling_crisis'")
    assert {m["staff"] for m in inapp} == {await staff_id("counselor2"), await staff_id("counselor_sup")}
    assert await sms_to(CONTACT_PHONE) == []


async def test_the_counselors_dashboard_shows_open_flags_and_todays_bookings(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    await _raise(client_factory, booking)
    contact = await staff_client(client_factory, "crisis_duty")
    board = await contact.get("/dashboard")
    assert "/m/counseling/crisis/" in board.text
    counselor = await staff_client(client_factory, "counselor")
    board = html_text(await counselor.get("/dashboard"))
    assert "今日心理咨询" in board and "处置中的危机预警：1 条" in board


async def test_a_counselor_raises_a_flag_on_a_case_of_their_own_only(app, client_factory):
    from portal import clock
    from portal.db import insert
    from tests.counseling.helpers import center_id

    async def case_of(username):
        return await insert("counseling_case", {
            "center": await center_id("GZQ"), "counselor": await staff_id(username), "citizen": None, "booking": None,
            "client_label": "", "opened_at": clock.now(), "last_session_at": None, "sessions": 0, "erased_at": None, "version": 1})

    mine, theirs = await case_of("counselor"), await case_of("counselor2")
    counselor = await staff_client(client_factory, "counselor")
    assert (await counselor.get(f"/m/counseling/crisis/new?case_id={theirs}")).status_code == 404
    form = await counselor.get(f"/m/counseling/crisis/new?case_id={mine}")
    assert form.status_code == 200 and f'href="/m/counseling/cases/{mine}"' in form.text
    response = await counselor.submit(f"/m/counseling/crisis/new?case_id={mine}",
                                      {"reason": "会谈中表达强烈的伤人意图", "_submission_key": submission_key(form.text)})
    assert response.status_code == 303
    flag = (await raw("SELECT * FROM counseling_crisis"))[0]
    assert (flag["case_ref"], flag["booking"], flag["counselor"]) == (mine, None, await staff_id("counselor"))
    assert len(await sms_to(CONTACT_PHONE)) == 1


async def test_a_reason_moved_to_another_flag_fails_loudly_instead_of_showing(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    _c, first, _k = await _raise(client_factory, booking)
    _c, second, _k = await _raise(client_factory, booking, reason="另一条危机预警的理由")
    ids = [int(r.headers["location"].rsplit("/", 1)[1]) for r in (first, second)]
    stolen = (await raw("SELECT reason FROM counseling_crisis WHERE id = {}", ids[0]))[0]["reason"]
    await raw("UPDATE counseling_crisis SET reason = {} WHERE id = {}", stolen, ids[1])
    contact = await staff_client(client_factory, "crisis_duty")
    page = await contact.get(f"/m/counseling/crisis/{ids[1]}")
    assert page.status_code == 503 and "生命" not in page.text
    assert (await contact.get(f"/m/counseling/crisis/{ids[0]}")).status_code == 200
