"""Checking in (报到): by code on a phone, by QR, online; once per department; late when after the limit."""

from __future__ import annotations

import datetime as dt

from portal import clock
from portal.db import raw
from tests.checkin.helpers import blow, check_in_by_code, events, staff_id, summons
from tests.conftest import html_text


async def test_check_in_by_code(app, client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["ZJJ", "GAFJ"])
    officer = await client_factory()
    await officer.login("zjj_officer")
    form = await officer.get("/m/checkin/code")
    assert form.status_code == 200
    assert 'autocomplete="off"' in form.text and 'id="code"' in form.text and 'for="code"' in form.text
    response = await check_in_by_code(officer, w, attendees="王工、刘工")
    assert response.status_code == 303 and response.headers["location"] == f"/m/checkin/w/{w['id']}"
    row = await summons(w["id"], "ZJJ")
    assert row["checkin_method"] == "code" and row["attendees"] == "王工、刘工"
    assert row["checked_in_by"] == await staff_id("zjj_officer") and not row["late"]
    assert (await summons(w["id"], "GAFJ"))["checked_in_at"] is None
    page = html_text(await staff.get(f"/m/checkin/w/{w['id']}"))
    assert "已报到" in page and "王工、刘工" in page


async def test_a_wrong_code_is_a_message_on_the_same_form(app, client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["GAFJ"])
    officer = await client_factory()
    await officer.login("zjj_officer")  # 区住建局 is not summoned by this whistle
    for typed in ("ZZZZZZ", "abc", w["code"]):
        response = await officer.submit("/m/checkin/code", {"code": typed})
        assert response.status_code == 422, typed
        assert "没有找到这个报到码，或它不是召集贵部门的哨" in html_text(response)
        assert f'value="{typed}"' in response.text
    # The confirm page of another department's whistle does not exist for this officer.
    assert (await officer.get(f"/m/checkin/c/{w['code']}")).status_code == 404
    assert (await officer.submit(f"/m/checkin/c/{w['code']}", {"method": "qr", "attendees": "某人"})).status_code == 404
    assert (await summons(w["id"], "GAFJ"))["checked_in_at"] is None


async def test_check_in_by_scanning_the_qr_code(app, client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["GAFJ"])
    officer = await client_factory()
    await officer.login("gafj_officer")
    page = await officer.get(f"/m/checkin/c/{w['code']}")  # what the QR code opens
    assert page.status_code == 200 and "确认报到" in html_text(page)
    missing = await officer.submit(f"/m/checkin/c/{w['code']}", {"method": "qr", "attendees": ""})
    assert missing.status_code == 422 and "请填写到场人员姓名" in html_text(missing)
    done = await officer.submit(f"/m/checkin/c/{w['code']}", {"method": "qr", "attendees": "赵警官"})
    assert done.status_code == 303
    assert (await summons(w["id"], "GAFJ"))["checkin_method"] == "qr"


async def test_a_second_check_in_is_refused_with_a_message(app, client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["GAFJ"])
    officer = await client_factory()
    await officer.login("gafj_officer")
    assert (await check_in_by_code(officer, w)).status_code == 303
    first = await summons(w["id"], "GAFJ")
    again = await officer.submit(f"/m/checkin/c/{w['code']}", {"method": "code", "attendees": "另一个人"})
    assert again.status_code == 303
    follow = await officer.get(again.headers["location"])
    assert "贵部门已于" in html_text(follow) and "报到，无需重复报到" in html_text(follow)
    assert (await summons(w["id"], "GAFJ"))["attendees"] == first["attendees"]
    assert len(await events(w["id"], "checked_in")) == 1
    # The confirm page itself says so too.
    page = await officer.get(f"/m/checkin/c/{w['code']}", follow_redirects=True)
    assert "无需重复报到" in html_text(page)


async def test_online_check_in_only_for_online_whistles(app, client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    onsite = await blow(staff, ["GAFJ"])
    online = await blow(staff, ["GAFJ"], mode="online", place="")
    officer = await client_factory()
    await officer.login("gafj_officer")
    page = await officer.get(f"/m/checkin/w/{online['id']}")
    assert f'action="/m/checkin/w/{online["id"]}/checkin"' in page.text
    onsite_page = await officer.get(f"/m/checkin/w/{onsite['id']}")
    assert f'action="/m/checkin/w/{onsite["id"]}/checkin"' not in onsite_page.text
    assert onsite["code"] not in onsite_page.text  # the code is for the meeting place, not the officer's page
    refused = await officer.submit(f"/m/checkin/w/{onsite['id']}/checkin", {"attendees": "赵警官"})
    assert refused.status_code == 422 and "请到现场扫码或输入报到码" in html_text(refused)
    done = await officer.submit(f"/m/checkin/w/{online['id']}/checkin", {"attendees": "赵警官"})
    assert done.status_code == 303
    assert (await summons(online["id"], "GAFJ"))["checkin_method"] == "online"
    # Center staff cannot check in for a department.
    assert (await staff.submit(f"/m/checkin/w/{online['id']}/checkin", {"attendees": "x"})).status_code == 403


async def test_checking_in_after_the_limit_is_late(app, client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["GAFJ"], grade="emergency")
    # 31 minutes later (the session is renewed by signing in again).
    clock.travel(minutes=31)
    officer = await client_factory()
    await officer.login("gafj_officer")
    response = await check_in_by_code(officer, w)
    assert response.status_code == 303
    row = await summons(w["id"], "GAFJ")
    assert row["late"] and row["checked_in_at"] > row["ack_due_at"]
    follow = await officer.get(response.headers["location"])
    assert "迟到" in html_text(follow)


async def test_officer_dashboard_lists_what_waits_for_check_in(app, client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["GAFJ", "ZJJ"], reason="突发事件")
    officer = await client_factory()
    await officer.login("gafj_officer")
    text = html_text(await officer.get("/dashboard"))
    assert "待报到" in text and "突发事件" in text
    assert (await check_in_by_code(officer, w)).status_code == 303
    text = html_text(await officer.get("/dashboard"))
    assert "目前没有等待贵部门报到的哨" in text
    # The center's card counts open whistles and lists the overdue check-ins.
    await raw("UPDATE checkin_summons SET ack_due_at = {} WHERE whistle = {}", clock.now() - dt.timedelta(minutes=1), w["id"])
    text = html_text(await staff.get("/dashboard"))
    assert "1 个哨正在报到处置" in text
    overdue = text.split("超时未报到：", 1)[1]
    assert "区住建局" in overdue and "公安甘州分局" not in overdue.split("全部吹哨", 1)[0]
