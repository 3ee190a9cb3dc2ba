"""The window's life of a matter: register, accept, assign, reply, with notices and timeline."""

from __future__ import annotations

import datetime as dt

from portal import clock
from portal.matters.tables import Matter, MatterEvent, Notice
from portal.notify.tables import Outbox
from portal.tables import AuditLog
from tests.conftest import html_text
from tests.core.matters.helpers import act, register_at_window


async def test_register_accept_reply_close(client_factory):
    staff = await client_factory()
    await staff.login("dmz_window")
    m = await register_at_window(staff)
    assert len(m["code"]) == 12 and m["status"] == "registered" and m["clock"] == "acceptance"
    # Nothing has happened yet: no decision times (a nullable timestamp must not default to "now").
    assert all(m[name] is None for name in ("accepted_at", "replied_at", "closed_at", "rated_at", "assigned_at", "paused_at"))
    # Acceptance due at the end of the 15th day after receipt (China time), or the next working day.
    received = clock.local(m["received_at"]).date()
    due = clock.local(m["due_at"]).date()
    assert dt.timedelta(days=15) <= due - received <= dt.timedelta(days=25)
    page = await staff.get(f"/matters/{m['id']}")
    assert page.status_code == 200 and "讨要拖欠的工资" in html_text(page)

    await act(staff, m["id"], "accept")
    m = await Matter.select().where(Matter.id == m["id"]).first()
    assert m["status"] == "accepted" and m["clock"] == "handling"
    accept_notice = await Notice.select().where(Notice.matter == m["id"]).first()
    assert accept_notice["title"] == "受理告知书" and "张三" in accept_notice["body"]
    notice_page = await staff.get(f"/notices/{accept_notice['id']}")
    assert notice_page.status_code == 200 and accept_notice["number"] in notice_page.text

    await act(staff, m["id"], "reply", outcome="support", opinion="已督促公司支付工资。", basis="《保障农民工工资支付条例》")
    m = await Matter.select().where(Matter.id == m["id"]).first()
    assert m["status"] == "replied" and m["outcome"] == "support" and m["clock"] == "review_request"
    kinds = [e["kind"] for e in await MatterEvent.select(MatterEvent.kind).where(MatterEvent.matter == m["id"]).order_by(MatterEvent.id)]
    assert kinds == ["registered", "accepted", "notice", "replied", "notice"]
    # The citizen was told by SMS at registration, acceptance and reply.
    sms = await Outbox.select(Outbox.kind).where((Outbox.matter == m["id"]) & (Outbox.channel == "sms"))
    assert {row["kind"] for row in sms} >= {"matter_registered", "matter_accepted", "matter_replied"}
    assert await AuditLog.count().where(AuditLog.object_id == str(m["id"])) >= 3

    # Closing before the citizen rated or the review period ended is refused with a reason.
    refused = await act(staff, m["id"], "close", expect=422)
    assert "评价" in html_text(refused) or "复查" in html_text(refused)


async def test_double_submitted_registration_creates_one_matter(client):
    await client.login("dmz_window")
    form = await client.get("/matters/new")
    from tests.core.matters.helpers import WINDOW_FORM, submission_key

    data = {**WINDOW_FORM, "_submission_key": submission_key(form.text)}
    first = await client.submit("/matters/new", data)
    second = await client.submit("/matters/new", data)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert await Matter.count() == 1


async def test_bad_registration_keeps_input_and_says_what_is_wrong(client):
    await client.login("dmz_window")
    form = await client.get("/matters/new")
    from tests.core.matters.helpers import WINDOW_FORM, submission_key

    data = {**WINDOW_FORM, "summary": "", "petitioner_phone": "1380013800", "people_count": "6",
            "_submission_key": submission_key(form.text)}
    response = await client.submit("/matters/new", data)
    assert response.status_code == 422
    text = html_text(response)
    assert "11 位" in text or "11位" in text
    assert "代表" in text  # six people: representatives required
    assert "请求督促某建筑公司支付拖欠的工资" in response.text  # input kept
    assert await Matter.count() == 0


async def test_modules_add_panels_and_actions_only_where_enabled(client_factory):
    """The sample module is enabled for 大满镇 only: its panel and action appear on 大满镇's matters."""
    from portal.tables import Center, CenterModule

    dmz = await Center.select(Center.id).where(Center.code == "GZQ-DMZ").first()
    await CenterModule.insert(CenterModule(center=dmz["id"], module="sample_module", allowed=True, enabled=True))
    on = await client_factory()
    await on.login("dmz_window")
    m = await register_at_window(on)
    page = await on.get(f"/matters/{m['id']}")
    assert "示例面板" in page.text and f"/m/sample_module/poke/{m['id']}" in page.text
    off = await client_factory()
    await off.login("dzz_window")
    other = await register_at_window(off, petitioner_phone="13700137000")
    page = await off.get(f"/matters/{other['id']}")
    assert page.status_code == 200 and "示例面板" not in page.text and "/m/sample_module/poke/" not in page.text


async def test_a_tracking_code_already_taken_is_drawn_again(client_factory, monkeypatch):
    """Codes are random; one that some matter already has (about 1 in 10^15) is not reused and not an error."""
    from portal.matters import codes, service

    staff = await client_factory()
    await staff.login("dmz_window")
    first = await register_at_window(staff)
    draws = iter([first["code"], first["code"], codes.new_code()])
    monkeypatch.setattr(service, "new_code", lambda: next(draws))
    second = await register_at_window(staff, petitioner_phone="13900139000")
    assert second["code"] != first["code"] and len(second["code"]) == 12
    assert await Matter.count().where(Matter.code == first["code"]) == 1
