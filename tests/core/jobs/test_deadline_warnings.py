"""The one-stop window's deadline warnings: the right staff, once per deadline and stage."""

from __future__ import annotations

import asyncio
import datetime as dt

from portal import clock
from portal.jobs.runner import run_job
from portal.matters.jobs import DEADLINE_WARNINGS, deadline_warnings
from portal.matters.codes import format_code
from portal.matters.tables import Matter
from portal.notify.outbox import unread_count
from portal.notify.tables import Outbox
from tests.conftest import html_text
from tests.core.jobs.helpers import assign_to_rsj, give_phone, new_matter, staff_id, until_due, window_and_admin_phones, window_and_admins
from tests.core.matters.helpers import act as act_via_form

WINDOW_PHONE = "13900139001"


async def _warnings(matter_id: int, staff: int | None = None) -> list[dict]:
    query = Outbox.select(Outbox.channel, Outbox.staff, Outbox.phone, Outbox.kind, Outbox.body).where(
        (Outbox.matter == matter_id) & Outbox.kind.like("deadline_%")
    )
    if staff is not None:
        query = query.where(Outbox.staff == staff)
    return await query.order_by(Outbox.id)


async def test_nothing_to_warn_about_while_the_deadline_is_far(app):
    matter = await new_matter(app)
    report = await deadline_warnings()
    assert report.messages == 0 and await _warnings(matter["id"]) == []


async def test_due_soon_warns_the_centers_window_and_admin_once(app):
    await give_phone("gzq_window", WINDOW_PHONE)
    matter = await new_matter(app)
    clock.travel(seconds=until_due(matter, dt.timedelta(days=2)).total_seconds())
    report = await deadline_warnings()
    assert report.due_soon == 1 and report.overdue == 0
    rows = await _warnings(matter["id"])
    recipients = await window_and_admins("GZQ")
    assert {await staff_id("gzq_window"), await staff_id("gzq_admin")} <= recipients
    assert sorted(r["staff"] for r in rows if r["channel"] == "inapp") == sorted(recipients)
    # Only the staff members with a mobile number get an SMS, signed with the center's name.
    sms = [r for r in rows if r["channel"] == "sms"]
    phones = [phone for phone in (await window_and_admin_phones("GZQ")).values() if phone]
    assert WINDOW_PHONE in phones and sorted(r["phone"] for r in sms) == sorted(phones)
    code = format_code(matter["code"])
    for text in (r["body"] for r in sms):
        assert text.startswith("【甘州区综治中心】") and code in text and "受理告知" in text
        assert "张三" not in text and "工资" not in text  # no personal details in an SMS
        assert len(text) <= 70
    assert all(r["kind"] == "deadline_due_soon" for r in rows)
    # Staff of other centers, departments and the petitioner hear nothing.
    assert not {await staff_id("dmz_window"), await staff_id("rsj_officer")} & {r["staff"] for r in rows}
    # Running again (or an hour later) sends nothing more.
    assert (await deadline_warnings()).messages == 0
    clock.travel(hours=1)
    assert (await deadline_warnings()).messages == 0
    assert len(await _warnings(matter["id"])) == len(recipients) + len(phones)


async def test_overdue_is_a_second_warning_and_then_silence(app):
    matter = await new_matter(app)
    clock.travel(seconds=until_due(matter, dt.timedelta(days=1)).total_seconds())
    await deadline_warnings()
    clock.travel(days=2)
    report = await deadline_warnings()
    assert report.overdue == 1 and report.due_soon == 0
    rows = await _warnings(matter["id"], await staff_id("gzq_window"))
    assert [r["kind"] for r in rows] == ["deadline_due_soon", "deadline_overdue"]
    assert "超期" in rows[1]["body"]
    clock.travel(days=3)
    assert (await deadline_warnings()).messages == 0


async def test_an_overdue_matter_found_late_gets_only_the_overdue_warning(app):
    matter = await new_matter(app)
    clock.travel(days=40)
    await deadline_warnings()
    rows = await _warnings(matter["id"], await staff_id("gzq_window"))
    assert [r["kind"] for r in rows] == ["deadline_overdue"]


async def test_assigned_matter_warns_the_departments_officers_too_and_a_new_deadline_warns_again(app):
    matter = await new_matter(app)
    matter = await assign_to_rsj(app, matter["id"])
    assert matter["clock"] == "handling"
    clock.travel(seconds=until_due(matter, dt.timedelta(days=1)).total_seconds())
    await deadline_warnings()
    officer = await staff_id("rsj_officer")
    assert len(await _warnings(matter["id"], officer)) == 1
    assert "办理答复" in (await _warnings(matter["id"], officer))[0]["body"]
    # A matter whose clock stops (paused for materials) is not warned about.
    other = await new_matter(app, phone="13700137000")
    from tests.core.jobs.helpers import ctx_of
    from portal.matters.service import act

    await act(ctx_of(app), other["id"], "pause", {"reason": "请补充劳动合同复印件"})
    clock.travel(days=20)
    await deadline_warnings()
    assert await _warnings(other["id"]) == []
    # The handling deadline moved (an approved extension is a new deadline): warned again.
    new_due = matter["due_at"] + dt.timedelta(days=30)
    await Matter.update({Matter.due_at: new_due}).where(Matter.id == matter["id"])
    clock.travel(seconds=until_due({"due_at": new_due}, dt.timedelta(days=1)).total_seconds())
    await deadline_warnings()
    kinds = [r["kind"] for r in await _warnings(matter["id"], officer)]
    assert kinds == ["deadline_due_soon", "deadline_overdue", "deadline_due_soon"]


async def test_closed_and_citizen_periods_are_not_warned_about(app, client):
    matter = await new_matter(app)
    await client.login("gzq_window")
    await act_via_form(client, matter["id"], "accept")
    await act_via_form(client, matter["id"], "reply", outcome="explain", opinion="已协调支付。", basis="《劳动合同法》")
    row = await Matter.select(Matter.clock).where(Matter.id == matter["id"]).first()
    assert row["clock"] == "review_request"  # the petitioner's 30 days, not the staff's
    clock.travel(days=40)
    await deadline_warnings()
    assert await _warnings(matter["id"]) == []


async def test_concurrent_runs_warn_once(app):
    matters = [await new_matter(app, phone=f"1380013{i:04d}") for i in range(12)]
    clock.travel(days=40)
    reports = await asyncio.gather(*(deadline_warnings() for _ in range(4)))
    assert sum(r.overdue for r in reports) == 12
    window = await staff_id("gzq_window")
    for matter in matters:
        assert len(await _warnings(matter["id"], window)) == 1


async def test_staff_read_the_warning_in_their_inbox_with_an_unread_badge(app, client):
    matter = await new_matter(app)
    clock.travel(days=40)
    outcome = await run_job(app.state.registry, DEADLINE_WARNINGS, force=True, state=app.state)
    assert outcome.ran and outcome.status == "ok" and "overdue=1" in outcome.result
    window = await staff_id("gzq_window")
    assert await unread_count(staff=window) == 1
    await client.login("gzq_window")
    dashboard = await client.get("/dashboard")
    assert "消息（1 条未读）" in html_text(dashboard)
    page = await client.get("/messages")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = html_text(page)
    assert format_code(matter["code"]) in text and "超期" in text
    assert f'href="/matters/{matter["id"]}"' in page.text
    assert await unread_count(staff=window) == 0
    assert "条未读" not in html_text(await client.get("/dashboard"))
