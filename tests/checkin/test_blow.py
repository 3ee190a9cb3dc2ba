"""Blowing the whistle: the form, its checks, one whistle per submission, from a matter, approval."""

from __future__ import annotations

from portal.db import raw
from tests.checkin.helpers import (
    blow, blow_form_data, center_id, department_id, events, messages_to, report_time, sms_to, staff_id, summons, whistle,
)
from tests.conftest import html_text
from tests.core.matters.helpers import register_at_window


async def _count() -> int:
    return (await raw("SELECT count(*) AS n FROM checkin_whistle"))[0]["n"]


async def test_a_whistle_goes_out_at_once_and_every_department_is_told(app, client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["ZJJ", "GAFJ", "SCJGJ"], grade="emergency")
    assert w["status"] == "open" and w["center"] == await center_id("GZQ") and len(w["code"]) == 6
    row = await summons(w["id"], "ZJJ")
    # Emergency: 30 minutes from the moment it went out (the policy's default).
    assert (row["ack_due_at"] - row["summoned_at"]).total_seconds() == 30 * 60
    for username, phone in (("zjj_officer", "13909361001"), ("gafj_officer", "13909361002"), ("scjgj_officer", "13909361003")):
        inapp = await messages_to(username, "checkin_summons")
        assert len(inapp) == 1 and inapp[0]["link"] == f"/m/checkin/w/{w['id']}"
        sms = await sms_to(phone, "checkin_summons")
        assert len(sms) == 1
        # The check-in code is shown at the meeting place only: it proves presence.
        assert w["code"] not in sms[0]["body"] and w["code"] not in inapp[0]["body"]
    notified = await events(w["id"], "notified")
    assert len(notified) == 3
    page = await staff.get(f"/m/checkin/w/{w['id']}")
    assert page.status_code == 200
    assert f'id="checkin-code">{w["code"]}<' in page.text and "<svg" in page.text
    assert "/m/checkin/c/" + w["code"] not in html_text(page)  # the QR encodes it; the text does not spell it out


async def test_a_department_without_accounts_is_recorded_as_nobody_to_notify(app, client):
    await client.login("gzq_window")
    w = await blow(client, ["XFJ"])  # 区信访局 has no staff account in the demo
    note = (await events(w["id"], "notified"))[0]["note"]
    assert "区信访局" in note and "无可通知人员" in note


async def test_the_form_refuses_bad_input_with_messages_and_keeps_it(app, client):
    await client.login("gzq_window")
    before = await _count()
    data = await blow_form_data(client, [], place="三楼会议室", instruction="请到场")
    data["report_at"] = "2020-01-01T09:00"
    response = await client.submit("/m/checkin/new", data)
    assert response.status_code == 422
    text = html_text(response)
    assert "请至少选择一个要召集的部门。" in text
    assert "报到时间已过" in text
    assert 'value="三楼会议室"' in response.text and "请到场" in response.text  # what was typed is kept
    # A forged department id (a number, or not one) is a message, not an error page.
    for forged in ("999999", "abc", str(await department_id("DMZ-SFS"))):  # 大满镇司法所 is not the district's
        data = await blow_form_data(client, ["ZJJ"])
        data["departments"] = [data["departments"][0], forged]
        response = await client.submit("/m/checkin/new", data)
        assert response.status_code == 422, forged
        assert "请从名单中选择部门" in html_text(response)
    data = await blow_form_data(client, ["ZJJ"], report_at="明天下午", reason="随便写的理由", grade="", mode="onsite", place="")
    text = html_text(await client.submit("/m/checkin/new", data))
    assert "请输入报到的日期和时间" in text and "请从列表中选择吹哨事由" in text and "请选择紧急程度" in text
    assert "请填写现场报到地点" in text
    assert await _count() == before


async def test_a_double_submission_blows_one_whistle(app, client):
    await client.login("gzq_window")
    data = await blow_form_data(client, ["ZJJ"])
    first = await client.submit("/m/checkin/new", data)
    second = await client.submit("/m/checkin/new", data)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    whistle_id = int(first.headers["location"].rsplit("/", 1)[1])
    assert len(await messages_to("zjj_officer", "checkin_summons")) == 1
    assert (await raw("SELECT count(*) AS n FROM checkin_whistle WHERE id >= {}", whistle_id))[0]["n"] == 1


async def test_a_township_summons_only_departments_serving_townships(app, client):
    await client.login("dmz_window")
    form = await client.get("/m/checkin/new")
    text = html_text(form)
    assert "大满镇司法所" in text and "公安甘州分局" in text
    assert "区住建局" not in text and "党寨镇司法所" not in text  # district only / another township's
    w = await blow(client, ["GAFJ", "DMZ-SFS"], source="grid")
    assert w["center"] == await center_id("GZQ-DMZ") and w["source"] == "grid"


async def test_whistle_from_a_matter(app, client_factory):
    staff = await client_factory()
    await staff.login("dmz_window")
    matter = await register_at_window(staff)
    page = await staff.get(f"/matters/{matter['id']}")
    assert f'href="/m/checkin/new?matter_id={matter["id"]}"' in page.text  # the module's action on the matter
    url = f"/m/checkin/new?matter_id={matter['id']}"
    w = await blow(staff, ["GAFJ", "SCJGJ"], url=url, source="")
    assert w["matter"] == matter["id"] and w["source"] == "matter"
    matter_page = await staff.get(f"/matters/{matter['id']}")
    text = html_text(matter_page)
    # The panel: the whistle with each department's state, and the note on the matter's timeline.
    assert "吹哨报到" in text and "公安甘州分局：等待报到" in text.replace(" ", "")
    assert f'href="/m/checkin/w/{w["id"]}"' in matter_page.text
    assert "已吹哨召集" in text
    # Another township's matter cannot be the source of a whistle (404, never a hint).
    other = await staff.get("/m/checkin/new?matter_id=999999")
    assert other.status_code == 404
    assert (await staff.get("/m/checkin/new?matter_id=x")).status_code == 404


async def test_another_township_cannot_blow_on_this_townships_matter(app, client_factory):
    dmz = await client_factory()
    await dmz.login("dmz_window")
    matter = await register_at_window(dmz)
    dzz = await client_factory()
    await dzz.login("dzz_window")
    assert (await dzz.get(f"/m/checkin/new?matter_id={matter['id']}")).status_code == 404
    data = await blow_form_data(dzz, ["GAFJ"])
    assert (await dzz.submit(f"/m/checkin/new?matter_id={matter['id']}", data)).status_code == 404


async def _require_approval(client_factory, center_admin: str = "gzq_admin") -> None:
    admin = await client_factory()
    await admin.login(center_admin)
    form = await admin.get("/m/checkin/settings")
    assert form.status_code == 200
    response = await admin.submit("/m/checkin/settings", {
        "require_approval": "1", "ack_minutes_emergency": "30", "ack_minutes_urgent": "120",
        "ack_minutes_ordinary": "1440", "renotify_after": "0", "leader_after": "30", "upper_after": "60",
        "reasons": "需联合执法\n突发事件",
    })
    assert response.status_code == 303


async def test_approval_path(app, client_factory):
    await _require_approval(client_factory)
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["ZJJ"])
    assert w["status"] == "pending_approval"
    assert await messages_to("zjj_officer") == []  # not summoned before approval
    assert len(await messages_to("leader", "checkin_approval")) == 1
    assert len(await messages_to("gzq_admin", "checkin_approval")) == 1
    officer = await client_factory()
    await officer.login("zjj_officer")
    assert (await officer.get(f"/m/checkin/w/{w['id']}")).status_code == 404  # not addressed to anyone yet
    # The window cannot approve; the leader can.
    assert (await staff.submit(f"/m/checkin/w/{w['id']}/approve", {"note": ""})).status_code == 403
    leader = await client_factory()
    await leader.login("leader")
    dashboard = html_text(await leader.get("/dashboard"))
    assert "吹哨审批" in dashboard and "需联合执法" in dashboard
    response = await leader.submit(f"/m/checkin/w/{w['id']}/approve", {"note": "同意"})
    assert response.status_code == 303
    w = await whistle(w["id"])
    assert w["status"] == "open" and w["approved_by"] == await staff_id("leader")
    assert len(await messages_to("zjj_officer", "checkin_summons")) == 1
    row = await summons(w["id"], "ZJJ")
    assert row["summoned_at"] == w["approved_at"]  # the limit runs from the approval
    # Deciding twice changes nothing and says so.
    again = await leader.submit(f"/m/checkin/w/{w['id']}/approve", {"note": ""})
    assert again.status_code == 422 and "已经审批" in html_text(again)
    assert len(await messages_to("zjj_officer", "checkin_summons")) == 1


async def test_rejection_needs_a_reason_and_summons_nobody(app, client_factory):
    await _require_approval(client_factory)
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["ZJJ", "GAFJ"])
    leader = await client_factory()
    await leader.login("leader")
    response = await leader.submit(f"/m/checkin/w/{w['id']}/reject", {"note": ""})
    assert response.status_code == 422 and "请说明不予批准的理由" in html_text(response)
    assert (await whistle(w["id"]))["status"] == "pending_approval"
    response = await leader.submit(f"/m/checkin/w/{w['id']}/reject", {"note": "属于日常职责，无需吹哨"})
    assert response.status_code == 303
    assert (await whistle(w["id"]))["status"] == "rejected"
    assert await messages_to("zjj_officer") == [] and await messages_to("gafj_officer") == []
    told = await messages_to("gzq_window", "checkin_rejected")
    assert len(told) == 1 and "属于日常职责" in told[0]["body"]


async def test_report_time_in_the_future_is_required_only_to_the_minute(app, client):
    await client.login("gzq_window")
    w = await blow(client, ["ZJJ"], report_at=report_time(hours=0))
    assert w["status"] == "open"
