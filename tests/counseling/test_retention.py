"""Retention (Done-when 5): the job erases the notes of cases whose last session is older than the
center's retention period — nothing younger, not even by a second — leaves the case shell and one
audit record per case, and erases each case once when two processes run it at the same moment."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

import pytest

from portal import clock
from portal.audit.chain import SYSTEM, AuditTrail, verify
from portal.crypto import audit_key
from portal.db import raw
from portal.jobs.runner import run_job
from tests.conftest import ROOT, html_text
from tests.counseling.case_helpers import (
    NOTE_WORDS, PSEUDONYM, audit_rows, center_id, make_booking, open_case, record_session, setup_counseling,
    submission_key,
)

from plugins.counseling.retention import RETENTION, erase_expired
from plugins.counseling.tables import DEFAULT_RETENTION_DAYS

DAYS = 30


async def set_retention(code: str, days: int) -> None:
    await raw("INSERT INTO counseling_settings (center, retention_days, updated_at) VALUES ({}, {}, {}) "
              "ON CONFLICT (center) DO UPDATE SET retention_days = {}", await center_id(code), days, clock.now(), days)


def local(moment: dt.datetime) -> str:
    return clock.local(moment).strftime("%Y-%m-%d %H:%M")


@pytest.fixture
async def counselor(app, client_factory):
    await setup_counseling(app)
    client = await client_factory()
    await client.login("counselor")
    return client


async def _case(client, held_at: dt.datetime, name: str) -> int:
    booking = await make_booking(name=name, phone=f"139{abs(hash(name)) % 10**8:08d}", starts_at=held_at)
    case_id = await open_case(client, booking["id"])
    await record_session(client, case_id, booking=str(booking["id"]), held_at=local(held_at))
    return case_id


def _trail(app) -> AuditTrail:
    return AuditTrail(audit_key(app.state.settings), SYSTEM)


async def test_expired_notes_are_erased_and_nothing_younger(app, counselor):
    await set_retention("GZQ", DAYS)
    held = (clock.now() - dt.timedelta(hours=3)).replace(second=0, microsecond=0)
    old = await _case(counselor, held, PSEUDONYM)
    young = await _case(counselor, held + dt.timedelta(minutes=1), "晚一分钟")
    referral = await counselor.get(f"/m/counseling/cases/{old}/referrals/new")
    await counselor.submit(f"/m/counseling/cases/{old}/referrals/new", {
        "institution": "甘州区人民医院", "reason": "持续失眠", "referred_on": clock.local(clock.now()).strftime("%Y-%m-%d"),
        "agreed": "yes", "_submission_key": submission_key(referral.text)})
    expiry = held + dt.timedelta(days=DAYS)

    # One second before, and at the very moment: nothing.
    for moment in (expiry - dt.timedelta(seconds=1), expiry):
        assert (await erase_expired(_trail(app), moment)).erased == 0
    assert not await audit_rows("counseling.notes_erased")

    # One second after: the older case only (the younger one is a minute younger).
    result = await erase_expired(_trail(app), expiry + dt.timedelta(seconds=1))
    assert result.erased == 1
    case = (await raw("SELECT * FROM counseling_case WHERE id = {}", old))[0]
    session = (await raw("SELECT * FROM counseling_session WHERE case_id = {}", old))[0]
    assert case["erased_at"] is not None and case["client_label"] == "" and session["notes"] == ""
    assert (await raw("SELECT details FROM counseling_referral WHERE case_id = {}", old))[0]["details"] == ""
    # The shell stays for the anonymous numbers: dates, kinds, counts, attendance.
    assert case["sessions"] == 1 and session["kind"] == "first" and session["attendance"] == "attended"
    assert session["held_at"] is not None and case["last_session_at"] is not None
    assert (await raw("SELECT client_agreed FROM counseling_referral WHERE case_id = {}", old))[0]["client_agreed"]
    (erasure,) = await audit_rows("counseling.notes_erased", old)
    assert erasure["actor"] == "system" and erasure["center_id"] == await center_id("GZQ")
    young_row = (await raw("SELECT notes FROM counseling_session WHERE case_id = {}", young))[0]
    assert young_row["notes"].startswith("k1:")

    # The counselor sees the shell and the erasure, and cannot add to it.
    page = await counselor.get(f"/m/counseling/cases/{old}")
    text = html_text(page)
    assert page.status_code == 200 and NOTE_WORDS not in text and PSEUDONYM not in text and "保存期限" in text
    refused = await record_session(counselor, old, expect=422)
    assert "保存期限" in refused.text
    assert NOTE_WORDS in html_text(await counselor.get(f"/m/counseling/cases/{young}"))

    # Running again changes nothing.
    assert (await erase_expired(_trail(app), expiry + dt.timedelta(days=1))).erased == 1  # now the younger one
    assert (await erase_expired(_trail(app), expiry + dt.timedelta(days=2))).erased == 0
    assert len(await audit_rows("counseling.notes_erased", old)) == 1


async def test_the_default_period_applies_without_settings_and_the_job_runs_by_the_clock(app, counselor):
    await raw("DELETE FROM counseling_settings")
    held = (clock.now() - dt.timedelta(hours=3)).replace(second=0, microsecond=0)
    case_id = await _case(counselor, held, PSEUDONYM)
    job = app.state.registry.jobs[RETENTION][1]
    assert job.interval_seconds == 24 * 3600
    clock.travel(days=DEFAULT_RETENTION_DAYS - 1)
    outcome = await run_job(app.state.registry, RETENTION, force=True)
    assert outcome.ran and outcome.status == "ok" and "erased=0" in outcome.result
    clock.travel(days=1, hours=1)
    outcome = await run_job(app.state.registry, RETENTION, force=True)
    assert outcome.status == "ok" and "erased=1" in outcome.result, outcome
    assert (await raw("SELECT erased_at FROM counseling_case WHERE id = {}", case_id))[0]["erased_at"] is not None


async def test_a_case_opened_without_sessions_expires_from_its_opening(app, counselor):
    await set_retention("GZQ", DAYS)
    case_id = await open_case(counselor, client_name="只开案未咨询")
    opened = (await raw("SELECT opened_at FROM counseling_case WHERE id = {}", case_id))[0]["opened_at"]
    assert (await erase_expired(_trail(app), opened + dt.timedelta(days=DAYS) - dt.timedelta(seconds=1))).erased == 0
    assert (await erase_expired(_trail(app), opened + dt.timedelta(days=DAYS, seconds=1))).erased == 1


_RUN = """
import asyncio, datetime as dt, sys, time
from portal.audit.chain import SYSTEM, AuditTrail
from portal.crypto import audit_key
from portal.db import bind_engine, make_engine
from portal.settings import Settings
from plugins.counseling.retention import erase_expired

async def main(moment, start_at):
    settings = Settings.from_env()
    bind_engine(make_engine(settings))
    while time.time() < start_at:
        await asyncio.sleep(0.002)
    result = await erase_expired(AuditTrail(audit_key(settings), SYSTEM), dt.datetime.fromisoformat(moment))
    print(result.erased)

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


async def test_two_processes_erase_each_case_once(app, counselor, settings):
    await set_retention("GZQ", DAYS)
    held = (clock.now() - dt.timedelta(hours=3)).replace(second=0, microsecond=0)
    cases = [await _case(counselor, held, f"来访者{i}") for i in range(6)]
    moment = (held + dt.timedelta(days=DAYS, minutes=1)).isoformat()
    env = {"PATH": "/usr/bin:/bin", "PICCOLO_CONF": "portal.piccolo_conf", "PORTAL_DATABASE_URL": settings.database_url,
           "PORTAL_SECRET_KEY": settings.secret_key, "PORTAL_LOAD_ENTRYPOINTS": "0", "PORTAL_JOBS": "off",
           "PYTHONPATH": str(ROOT)}
    start_at = time.time() + 1.5  # both processes are up and connected by then; they start together
    processes = [subprocess.Popen([sys.executable, "-c", _RUN, moment, str(start_at)], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err
    assert sum(int(out.strip()) for out, _err in outputs) == len(cases)
    for case_id in cases:
        assert len(await audit_rows("counseling.notes_erased", case_id)) == 1, case_id
    report = await verify(audit_key(app.state.settings))
    assert report.ok, report.problems
