"""Two app processes on one database run the same jobs: each message is sent exactly once.

Real subprocesses (``tests/core/jobs/run_app.py``) share the test's database and a real HTTP SMS
gateway. The jobs: the one-stop window's deadline warnings and the bookings' day-before reminders.
First with the in-app schedulers (the lease lets one process run each job), then calling the jobs'
bodies in both processes at once without the lease (their per-row claims keep each message once).
PostgreSQL is the deployment this is for (Done-when 3); the SQLite test runs the same on one file.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import os
import subprocess
import sys

import pytest

from portal import clock
from portal.db import raw, write_transaction
from portal.jobs.tables import JobRun
from portal.matters.jobs import DEADLINE_WARNINGS
from portal.matters.tables import Matter
from portal.notify.tables import Outbox
from portal.tables import Center
from tests.conftest import ROOT, SAMPLE_MODULE
from tests.core.bookings.helpers import CONSULT, add_resource
from tests.core.jobs.helpers import assign_to_rsj, give_phone, new_matter, staff_id, window_and_admin_phones
from tests.core.notify.test_senders import Gateway

WINDOW_PHONE = "13900139001"
OFFICER_PHONE = "13900139002"
BOOKING_PHONES = [f"1350013{i:04d}" for i in range(4)]


@pytest.fixture
def gateway():
    with Gateway() as running:
        yield running


async def _matters(app) -> list[dict]:
    """Ten matters: five overdue, five due tomorrow (the deadlines are moved in real time, because
    the other processes read the real clock); one of each assigned to a department."""
    await give_phone("gzq_window", WINDOW_PHONE)
    await give_phone("rsj_officer", OFFICER_PHONE)
    matters = []
    for i in range(10):
        matter = await new_matter(app, phone=f"1370013{i:04d}")
        if i in (0, 5):
            matter = await assign_to_rsj(app, matter["id"])
        due = clock.now() + (dt.timedelta(days=-1) if i < 5 else dt.timedelta(days=1))
        await Matter.update({Matter.due_at: due}).where(Matter.id == matter["id"])
        matters.append(matter)
    return matters


async def _bookings_tomorrow() -> None:
    """Four bookings tomorrow (China time) at 大满镇, written directly: the reminder job reads rows
    only, and tomorrow may be a day the center is closed."""
    center = await Center.select(Center.id).where(Center.code == "GZQ-DMZ").first()
    resource = await add_resource(center["id"])
    tomorrow = clock.local(clock.now()).date() + dt.timedelta(days=1)
    for i, phone in enumerate(BOOKING_PHONES):
        starts = dt.datetime.combine(tomorrow, dt.time(9 + i), clock.TZ_CN).astimezone(dt.timezone.utc)
        async with write_transaction():
            await raw(
                "INSERT INTO booking (code, center, resource, service_key, starts_at, ends_at, citizen, name, phone, note, "
                "channel, status, created_at, version) VALUES ({}, {}, {}, {}, {}, {}, NULL, {}, {}, '', 'online', "
                "'booked', {}, 1)",
                f"TWOP{i:04d}", center["id"], resource, CONSULT, starts, starts + dt.timedelta(minutes=30),
                f"市民{i}", phone, clock.now(),
            )


async def _check_reminders_once(gateway) -> None:
    received = collections.Counter(r["json"]["phone"] for r in gateway.received if r["json"]["phone"] in BOOKING_PHONES)
    assert dict(received) == {phone: 1 for phone in BOOKING_PHONES}
    texts = [r["json"]["text"] for r in gateway.received if r["json"]["phone"] in BOOKING_PHONES]
    assert all(text.startswith("【大满镇综治中心】") for text in texts)
    reminded = await raw("SELECT COUNT(*) AS n FROM booking WHERE reminded_at IS NOT NULL")
    assert reminded[0]["n"] == len(BOOKING_PHONES)


def _spawn(settings, gateway, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_ENV": "development",
        "PORTAL_PLUGINS": SAMPLE_MODULE,  # registers the bookable service of the bookings
        "PORTAL_LOAD_ENTRYPOINTS": "0",
        "PORTAL_JOBS": "on",
        "PORTAL_SMS_GATEWAY_URL": f"{gateway.url}/ok",
        "PORTAL_SMS_GATEWAY_TOKEN": "gateway-token-0123456789",
    }
    return subprocess.Popen([sys.executable, "-m", "tests.core.jobs.run_app", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def _both(settings, gateway, *args: str) -> list[str]:
    processes = [_spawn(settings, gateway, *args) for _ in range(2)]
    outputs = []
    for process in processes:
        out, err = await asyncio.to_thread(process.communicate, timeout=120)
        assert process.returncode == 0, err[-3000:]
        outputs.append(out)
    return outputs


async def _check_once(matters: list[dict], gateway) -> None:
    officer = await staff_id("rsj_officer")
    center_staff = await window_and_admin_phones("GZQ")
    for i, matter in enumerate(matters):
        stage = "deadline_overdue" if i < 5 else "deadline_due_soon"
        rows = await Outbox.select(Outbox.channel, Outbox.staff, Outbox.phone, Outbox.kind).where(Outbox.matter == matter["id"])
        rows = [r for r in rows if r["kind"].startswith("deadline_")]
        inapp = collections.Counter(r["staff"] for r in rows if r["channel"] == "inapp")
        expected = {**{staff: 1 for staff in center_staff}, **({officer: 1} if i in (0, 5) else {})}
        assert dict(inapp) == expected, (i, inapp)
        sms = collections.Counter(r["phone"] for r in rows if r["channel"] == "sms")
        staff_phones = {phone: 1 for phone in center_staff.values() if phone}
        assert dict(sms) == {**staff_phones, **({OFFICER_PHONE: 1} if i in (0, 5) else {})}, (i, sms)
        assert {r["kind"] for r in rows} == {stage}
    # Every SMS reached the gateway exactly once, and every row says so.
    # (The citizens' own SMS, queued when the matters were registered, went out the same way.)
    received = collections.Counter((r["json"]["phone"], r["json"]["text"]) for r in gateway.received)
    assert received and max(received.values()) == 1
    to_staff = [key for key in received if key[0] in (WINDOW_PHONE, OFFICER_PHONE)]
    assert all(text.startswith("【甘州区综治中心】") for phone, text in to_staff)
    assert len(to_staff) == 12  # ten to the window, two to the department officer
    sms_rows = await Outbox.select(Outbox.status, Outbox.attempts).where(Outbox.channel == "sms")
    assert len(sms_rows) == len(received)
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in sms_rows)


async def _two_schedulers(app, settings, gateway) -> None:
    matters = await _matters(app)
    await _bookings_tomorrow()
    await _both(settings, gateway, "scheduler", "2")
    await _check_once(matters, gateway)
    await _check_reminders_once(gateway)
    # One process took each lease: each job ran once in total (their intervals are minutes long).
    for job in (DEADLINE_WARNINGS, "bookings.reminders"):
        runs = await JobRun.select(JobRun.holder, JobRun.status).where(JobRun.job == job)
        assert len(runs) == 1 and runs[0]["status"] == "ok", (job, runs)


async def _two_without_lease(app, settings, gateway) -> None:
    matters = await _matters(app)
    await _bookings_tomorrow()
    outputs = await _both(settings, gateway, "direct", "3")
    reports = [line.split()[1:] for out in outputs for line in out.splitlines() if line.startswith("report")]
    assert len(reports) == 6
    assert sum(int(due_soon) + int(overdue) for due_soon, overdue, _m in reports) == 10
    reminders = [int(line.split()[1]) for out in outputs for line in out.splitlines() if line.startswith("reminders")]
    assert len(reminders) == 6 and sum(reminders) == len(BOOKING_PHONES)
    await _check_once(matters, gateway)
    await _check_reminders_once(gateway)


@pytest.mark.postgres_only
async def test_two_app_processes_on_postgresql_send_each_warning_once(app, settings, gateway):
    await _two_schedulers(app, settings, gateway)


@pytest.mark.postgres_only
async def test_two_processes_running_the_job_body_at_once_on_postgresql_still_send_once(app, settings, gateway):
    await _two_without_lease(app, settings, gateway)


@pytest.mark.sqlite_only
async def test_two_app_processes_on_one_sqlite_file_send_each_warning_once(app, settings, gateway):
    await _two_schedulers(app, settings, gateway)


@pytest.mark.sqlite_only
async def test_two_processes_running_the_job_body_at_once_on_sqlite_still_send_once(app, settings, gateway):
    await _two_without_lease(app, settings, gateway)
