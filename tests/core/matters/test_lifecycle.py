"""Clock events on a real matter (pause, extension), the review ladder to finality, repeats."""

from __future__ import annotations

import datetime as dt

from portal import clock
from portal.matters.tables import Matter, Notice
from tests.core.matters.helpers import act, register_at_window


async def _matter(matter_id: int) -> dict:
    return await Matter.select().where(Matter.id == matter_id).first()


async def test_pause_stops_the_clock_and_extension_needs_the_leader(client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    m = await register_at_window(staff)
    await act(staff, m["id"], "accept")
    due = (await _matter(m["id"]))["due_at"]
    await act(staff, m["id"], "pause", reason="请补充劳动合同复印件")
    clock.travel(days=10)
    try:
        await staff.login("gzq_window")  # ten days later: a new working session
        refused = await act(staff, m["id"], "reply", expect=422, outcome="support", opinion="x", basis="y")
        assert "材料" in refused.text or "clock" in refused.text.lower()
        await act(staff, m["id"], "resume")
        resumed = await _matter(m["id"])
        assert resumed["paused_days"] == 10
        assert resumed["due_at"].date() >= (due + dt.timedelta(days=10)).date()

        await act(staff, m["id"], "request_extension", days="20", reason="需要现场调查")
        too_much = await act(staff, m["id"], "request_extension", expect=422, days="20", reason="再次申请")
        assert too_much.status_code == 422
        # Window staff cannot approve; the leader can.
        await act(staff, m["id"], "decide_extension", expect=403, decision="approve")
        leader = await client_factory()
        await leader.login("leader")
        await act(leader, m["id"], "decide_extension", decision="approve")
        extended = await _matter(m["id"])
        assert extended["extension_days"] == 20 and extended["due_at"] > resumed["due_at"]
        assert await Notice.count().where((Notice.matter == m["id"]) & (Notice.kind == "extension")) == 1
        over = await act(staff, m["id"], "request_extension", expect=422, days="11", reason="还不够")
        assert "30" in over.text
    finally:
        clock.reset()


async def test_review_and_rereview_make_the_matter_final_and_a_repeat_is_refused(client_factory):
    from tests.core.citizens.helpers import sign_in

    village = await client_factory()
    await village.login("xxc_window")
    m = await register_at_window(village, petitioner_phone="13900139000")
    await act(village, m["id"], "accept")
    await act(village, m["id"], "reply", outcome="reject", opinion="诉求缺乏依据", basis="相关规定")
    citizen = await client_factory()
    await sign_in(citizen, "13900139000", next_url="/my/matters")
    assert (await citizen.submit(f"/track/{m['code']}/review", {"reason": "不服"})).status_code == 303
    township = await client_factory()
    await township.login("dmz_window")
    await act(township, m["id"], "reply", outcome="reject", opinion="维持原意见", basis="复查")
    assert (await citizen.submit(f"/track/{m['code']}/review", {"reason": "仍不服"})).status_code == 303
    reviewed = await _matter(m["id"])
    assert reviewed["status"] == "rereview" and reviewed["review_level"] == 2
    district = await client_factory()
    await district.login("gzq_window")
    await act(district, m["id"], "reply", outcome="reject", opinion="维持", basis="复核")
    final = await _matter(m["id"])
    assert final["status"] == "closed" and final["final"]
    assert {n["kind"] for n in await Notice.select(Notice.kind).where(Notice.matter == m["id"])} == {"accept", "reply", "review", "rereview"}
    again = await citizen.submit(f"/track/{m['code']}/review", {"reason": "还不服"})
    assert again.status_code == 422

    # The same person raises the same category again: flagged, and acceptance is refused.
    repeat = await register_at_window(village, petitioner_phone="13900139000")
    assert repeat["repeat_of"] == m["id"]
    refused = await act(village, repeat["id"], "accept", expect=422)
    assert "复核" in refused.text or "re-review" in refused.text
    await act(village, repeat["id"], "decline", reason="同一事项已复核终结", route="final")
    assert (await _matter(repeat["id"]))["status"] == "declined"


async def test_escalation_moves_the_matter_up_and_the_lower_center_keeps_read_access(client_factory):
    village = await client_factory()
    await village.login("xxc_window")
    m = await register_at_window(village)
    await act(village, m["id"], "escalate", reason="涉及多个部门")
    moved = await _matter(m["id"])
    assert moved["center_path"].count("/") == 3  # the township
    assert (await village.get(f"/matters/{m['id']}")).status_code == 200
    await act(village, m["id"], "accept", expect=403)
    township = await client_factory()
    await township.login("dmz_window")
    await act(township, m["id"], "accept")


async def test_stale_form_is_refused_with_a_message(client_factory):
    staff = await client_factory()
    await staff.login("dmz_window")
    m = await register_at_window(staff)
    await act(staff, m["id"], "accept")
    stale = await staff.submit(f"/matters/{m['id']}/act/note", {"version": "1", "note": "迟到的记录"})
    assert stale.status_code == 422 and "迟到的记录" in stale.text  # input kept
