"""The escalation job: the chain from the whistle's own snapshot, each step once, nothing after check-in."""

from __future__ import annotations

import asyncio
import datetime as dt

from click.testing import CliRunner

from portal import clock
from portal.cli import cli
from portal.db import bind_engine, make_engine, raw, write_transaction
from tests.checkin.helpers import (
    blow, check_in_by_code, center_id, department_id, events, messages_to, run_escalation, sms_to, summons, switch,
)

ZJJ_PHONE, GAFJ_PHONE, SCJGJ_PHONE = "13909361001", "13909361002", "13909361003"
GAFJ_DEPARTMENT_PHONE = "13909362002"


async def _outbox(kind: str) -> list[dict]:
    return await raw("SELECT * FROM outbox WHERE kind = {} ORDER BY id", kind)


async def _set_policy(client_factory, admin: str = "gzq_admin", **fields) -> None:
    values = {"ack_minutes_emergency": "30", "ack_minutes_urgent": "120", "ack_minutes_ordinary": "1440",
              "renotify_after": "0", "leader_after": "30", "upper_after": "60", "reasons": "需联合执法\n突发事件"}
    values.update(fields)
    client = await client_factory()
    await client.login(admin)
    response = await client.submit("/m/checkin/settings", values)
    assert response.status_code == 303, response.text[-1500:]


async def test_the_chain_runs_step_by_step_each_step_once(app, client_factory):
    staff = await client_factory()
    await staff.login("dmz_window")
    w = await blow(staff, ["GAFJ"], grade="emergency")
    due = (await summons(w["id"], "GAFJ"))["ack_due_at"]
    await run_escalation(app, due - dt.timedelta(minutes=1))
    assert len(await sms_to(GAFJ_PHONE)) == 1 and not (await summons(w["id"], "GAFJ"))["late"]

    report = await run_escalation(app, due)  # step 1 at +0: the department again
    assert report.renotified == 1 and report.late == 0  # at the limit itself it is not late yet
    row = await summons(w["id"], "GAFJ")
    assert row["escalation_step"] == 1 and not row["late"]
    assert len(await messages_to("gafj_officer", "checkin_renotify")) == 1
    assert len(await sms_to(GAFJ_PHONE, "checkin_renotify")) == 1

    report = await run_escalation(app, due + dt.timedelta(minutes=29))
    assert report.late == 1 and report.renotified == 0
    row = await summons(w["id"], "GAFJ")
    assert row["escalation_step"] == 1 and row["late"]

    await run_escalation(app, due + dt.timedelta(minutes=30))  # step 2: no leader account → the department's phone
    assert len(await sms_to(GAFJ_DEPARTMENT_PHONE, "checkin_leader")) == 1
    assert "部门电话" in (await events(w["id"], "leader_alerted"))[0]["note"]

    await run_escalation(app, due + dt.timedelta(minutes=60))  # step 3: the township's upper center (the district)
    assert len(await messages_to("leader", "checkin_upper")) == 1
    assert len(await messages_to("gzq_admin", "checkin_upper")) == 1
    assert await messages_to("dmz_admin", "checkin_upper") == []
    assert "甘州区综治中心" in (await events(w["id"], "upper_alerted"))[0]["note"]

    for hours in (2, 30):  # later runs send nothing more
        await run_escalation(app, due + dt.timedelta(hours=hours))
    assert len(await _outbox("checkin_renotify")) == 2  # in-app + SMS to the one officer
    assert len(await _outbox("checkin_leader")) == 1  # the department's phone
    assert len(await _outbox("checkin_upper")) == 2  # the district's leader and admin (in-app; no phones)
    assert [e["kind"] for e in await events(w["id"]) if e["kind"].endswith(("notified", "alerted"))] == [
        "notified", "renotified", "leader_alerted", "upper_alerted",
    ]
    assert all(e["actor"] is None for e in await events(w["id"]) if e["kind"] != "notified" and e["kind"] != "blown")


async def test_notifications_stop_for_a_department_that_checked_in(app, client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["ZJJ", "GAFJ", "SCJGJ"], grade="emergency")
    officer = await client_factory()
    await officer.login("zjj_officer")
    assert (await check_in_by_code(officer, w)).status_code == 303
    due = (await summons(w["id"], "ZJJ"))["ack_due_at"]
    await run_escalation(app, due)  # 公安 and 市场监管 are re-notified; 住建 has checked in
    clock.travel(seconds=(due - clock.now()).total_seconds() + 60)  # a minute after the limit
    other = await client_factory()
    await other.login("scjgj_officer")
    assert (await check_in_by_code(other, w)).status_code == 303  # late, between step 1 and step 2
    for minutes in (30, 60, 600):
        await run_escalation(app, due + dt.timedelta(minutes=minutes))
    before_zjj = len(await sms_to(ZJJ_PHONE))
    assert before_zjj == 1 and len(await messages_to("zjj_officer")) == 1  # the summons only
    assert len(await messages_to("scjgj_officer")) == 2  # the summons and one reminder, nothing after
    assert (await summons(w["id"], "SCJGJ"))["escalation_step"] == 1
    assert (await summons(w["id"], "SCJGJ"))["late"]
    assert (await summons(w["id"], "ZJJ"))["escalation_step"] == 0 and not (await summons(w["id"], "ZJJ"))["late"]
    assert (await summons(w["id"], "GAFJ"))["escalation_step"] == 3


async def test_two_processes_running_the_job_at_once_send_each_step_once(app, client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    whistles = [await blow(staff, ["ZJJ", "GAFJ", "SCJGJ"], grade="emergency") for _ in range(3)]
    due = max([(await summons(w["id"], "ZJJ"))["ack_due_at"] for w in whistles])
    moment = due + dt.timedelta(minutes=61)  # every step is due at once
    # Two runs at the same moment, as two app processes would run them (the lease bypassed).
    await asyncio.gather(run_escalation(app, moment), run_escalation(app, moment))
    await asyncio.gather(run_escalation(app, moment), run_escalation(app, moment))
    summonses = 3 * 3
    assert len(await _outbox("checkin_renotify")) == summonses * 2  # in-app + SMS per officer
    assert len(await _outbox("checkin_leader")) == summonses  # each department's phone
    assert len(await _outbox("checkin_upper")) == summonses * 1  # the district's own leader (a district whistle)
    for w in whistles:
        for kind in ("renotified", "leader_alerted", "upper_alerted"):
            assert len(await events(w["id"], kind)) == 3, kind


async def test_the_whistle_keeps_the_policy_it_was_blown_with(app, client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["GAFJ"], grade="emergency")
    blown = (await summons(w["id"], "GAFJ"))["summoned_at"]
    # The center shortens the limit and switches the reminders off afterwards.
    await _set_policy(client_factory, ack_minutes_emergency="5", renotify_after="", leader_after="", upper_after="")
    await run_escalation(app, blown + dt.timedelta(minutes=10))
    assert await messages_to("gafj_officer", "checkin_renotify") == []
    assert (await summons(w["id"], "GAFJ"))["ack_due_at"] == blown + dt.timedelta(minutes=30)
    await run_escalation(app, blown + dt.timedelta(minutes=30))
    assert len(await messages_to("gafj_officer", "checkin_renotify")) == 1  # the old chain still runs
    # A whistle blown now has the new rules: 5 minutes and no chain at all.
    later = await blow(staff, ["GAFJ"], grade="emergency")
    row = await summons(later["id"], "GAFJ")
    assert row["ack_due_at"] - row["summoned_at"] == dt.timedelta(minutes=5)
    await run_escalation(app, row["ack_due_at"] + dt.timedelta(days=1))
    assert (await summons(later["id"], "GAFJ"))["escalation_step"] == 0
    assert (await summons(later["id"], "GAFJ"))["late"]  # lateness is recorded all the same
    page = await staff.get(f"/m/checkin/w/{w['id']}")
    assert "30" in page.text.split("本哨时限", 1)[1][:200]


async def test_a_step_switched_off_is_passed_over(app, client_factory):
    await _set_policy(client_factory, renotify_after="", leader_after="10", upper_after="")
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["GAFJ"], grade="emergency")
    due = (await summons(w["id"], "GAFJ"))["ack_due_at"]
    await run_escalation(app, due + dt.timedelta(minutes=5))
    assert (await summons(w["id"], "GAFJ"))["escalation_step"] == 0
    await run_escalation(app, due + dt.timedelta(hours=5))
    assert (await summons(w["id"], "GAFJ"))["escalation_step"] == 2
    assert await _outbox("checkin_renotify") == [] and await _outbox("checkin_upper") == []
    assert len(await _outbox("checkin_leader")) == 1


async def test_the_department_leader_is_alerted_when_it_has_one(app, client_factory):
    gafj = await department_id("GAFJ")
    async with write_transaction():
        rows = await raw(
            "INSERT INTO staff_user (username, display_name, phone, email, password_hash, must_change_password, totp_secret, "
            "totp_confirmed, totp_last_step, center, department, active, is_demo, created_at, password_changed_at) "
            "VALUES ('gafj_chief', '公安分局负责人', '13909363000', '', 'x', false, '', false, 0, {}, {}, true, false, {}, {}) "
            "RETURNING id", await center_id("GZQ"), gafj, clock.now(), clock.now(),
        )
        await raw("INSERT INTO staff_role (\"user\", role) VALUES ({}, 'leader')", rows[0]["id"])
        await raw("INSERT INTO staff_role (\"user\", role) VALUES ({}, 'department_officer')", rows[0]["id"])
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["GAFJ"], grade="emergency")
    due = (await summons(w["id"], "GAFJ"))["ack_due_at"]
    await run_escalation(app, due + dt.timedelta(minutes=30))
    assert len(await sms_to("13909363000", "checkin_leader")) == 1
    assert await sms_to(GAFJ_DEPARTMENT_PHONE, "checkin_leader") == []
    assert "公安分局负责人" in (await events(w["id"], "leader_alerted"))[0]["note"]


async def test_nothing_escalates_where_the_module_is_off(app, client_factory):
    staff = await client_factory()
    await staff.login("dmz_window")
    w = await blow(staff, ["GAFJ"], grade="emergency")
    await switch(app, "GZQ-DMZ", False)
    due = (await summons(w["id"], "GAFJ"))["ack_due_at"]
    report = await run_escalation(app, due + dt.timedelta(hours=3))
    assert report.renotified == 0 and (await summons(w["id"], "GAFJ"))["escalation_step"] == 0
    await switch(app, "GZQ-DMZ", True)
    report = await run_escalation(app, due + dt.timedelta(hours=3))
    assert report.renotified == 1 and (await summons(w["id"], "GAFJ"))["escalation_step"] == 3


def _cli(settings, *args: str, env: dict | None = None):
    values = {
        "PORTAL_DATABASE_URL": settings.database_url, "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_PLUGINS": "tests.sample_module", "PORTAL_LOAD_ENTRYPOINTS": "0",
    }
    values.update(env or {})
    return CliRunner().invoke(cli, list(args), env=values)


def test_cli_runs_the_job_at_a_given_moment(settings):
    bind_engine(make_engine(settings))

    async def prepare():
        from portal.audit.chain import SYSTEM, AuditTrail
        from portal.crypto import audit_key

        from plugins.checkin import service as svc

        who = svc.Who(trail=AuditTrail(audit_key(settings), SYSTEM))
        center = (await raw("SELECT * FROM center WHERE code = 'GZQ'"))[0]
        async with write_transaction():
            policy = await svc.ensure_policy(center["id"])
            created = await svc.blow(who, center, svc.NewWhistle(
                source="emergency", reason="突发事件", grade="emergency", mode="online", place="",
                report_at=clock.now(), instruction="线上会商", departments=[await department_id("GAFJ")],
            ), policy)
        return created["id"], (await raw("SELECT ack_due_at FROM checkin_summons WHERE whistle = {}", created["id"]))[0]["ack_due_at"]

    whistle_id, due = asyncio.run(prepare())
    early = _cli(settings, "jobs", "run", "checkin.escalate", "--now", (due - dt.timedelta(minutes=5)).isoformat())
    assert early.exit_code == 0, early.output
    assert "renotified=0" in early.output
    late = clock.local(due + dt.timedelta(minutes=61)).strftime("%Y-%m-%dT%H:%M:%S")  # no offset: China time
    ran = _cli(settings, "jobs", "run", "checkin.escalate", "--now", late)
    assert ran.exit_code == 0, ran.output
    assert "renotified=1, leader_alerted=1, upper_alerted=1" in ran.output
    bad = _cli(settings, "jobs", "run", "checkin.escalate", "--now", "yesterday")
    assert bad.exit_code != 0 and "--now" in bad.output
    refused = _cli(settings, "jobs", "run", "checkin.escalate", "--now", late,
                   env={"PORTAL_ENV": "production", "PORTAL_DATA_KEY": "k" * 44})
    assert refused.exit_code != 0 and "refused in production" in refused.output

    async def steps():
        return (await raw("SELECT escalation_step FROM checkin_summons WHERE whistle = {}", whistle_id))[0]["escalation_step"]

    assert asyncio.run(steps()) == 3
