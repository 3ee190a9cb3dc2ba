"""Issue 5, Done-when 2, with real processes: the escalation stops for a department once it has
checked in, and no step is sent twice when two app processes run ``checkin.escalate``.

The district blows the whistle to 区住建局, 公安甘州分局 and 区市场监管局; 区住建局 checks in within
the limit. Then two separate app processes (``tests/checkin/run_escalation.py``, or the CLI's
``portal jobs run``) share the test's database and a real HTTP SMS gateway
(``tests.core.notify.test_senders.Gateway``), their clocks set past the whole chain (the limit
plus the last step's offset), so every step of both late departments is due in both at once.
The test process's own messages (the summonses) go through the development sender before the
processes start: whatever the gateway receives was sent by them. Runs on whichever engine the lane
uses (``PORTAL_TEST_DB``): one SQLite file, or one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from portal.db import raw
from portal.jobs.tables import JobRun
from portal.notify.outbox import wait_delivered
from tests.checkin.helpers import blow, check_in_by_code, events, staff_id, summons
from tests.conftest import ROOT, SAMPLE_MODULE
from tests.core.jobs.helpers import give_phone
from tests.core.notify.test_senders import Gateway

from plugins.checkin.escalation import ESCALATE
from plugins.checkin.service import CHAIN, whistle_policy

LEADER_PHONE = "13909364000"  # the district's leader (the upper step of a district whistle); no phone in the demo
IN_TIME = ("ZJJ", "区住建局", "zjj_officer", "13909361001", "13909362001")
LATE = (
    # code, name, officer, officer's mobile, the department's own mobile (no leader account: step 2 goes there)
    ("GAFJ", "公安甘州分局", "gafj_officer", "13909361002", "13909362002"),
    ("SCJGJ", "区市场监管局", "scjgj_officer", "13909361003", "13909362003"),
)
KINDS = ("checkin_renotify", "checkin_leader", "checkin_upper")
STEPS = tuple(kind for _number, _field, kind in CHAIN)  # the timeline's event kinds
ROUNDS = 3


@pytest.fixture
def gateway():
    with Gateway() as running:
        yield running


async def _one_in_time_two_late(app, client_factory) -> tuple[dict, dt.datetime]:
    """The whistle, and a moment when every step of the chain is due (one minute past the last)."""
    await give_phone("leader", LEADER_PHONE)
    staff = await client_factory()
    await staff.login("gzq_window")
    whistle = await blow(staff, [IN_TIME[0]] + [late[0] for late in LATE], grade="emergency")
    officer = await client_factory()
    await officer.login(IN_TIME[2])
    assert (await check_in_by_code(officer, whistle)).status_code == 303
    checked_in = await summons(whistle["id"], IN_TIME[0])
    assert checked_in["checked_in_at"] is not None and checked_in["checked_in_at"] < checked_in["ack_due_at"]
    await wait_delivered(app)
    pending = await raw("SELECT COUNT(*) AS n FROM outbox WHERE channel = 'sms' AND status <> 'sent'")
    assert pending[0]["n"] == 0
    chain = whistle_policy(whistle)["chain"]
    offsets = [chain[field] for _number, field, _kind in CHAIN]
    assert None not in offsets  # every step is on: each must show up once
    due = max([(await summons(whistle["id"], code))["ack_due_at"] for code, *_rest in LATE])
    return whistle, due + dt.timedelta(minutes=max(int(offset) for offset in offsets) + 1)


def _spawn(settings, gateway, *argv: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_ENV": "development",
        "PORTAL_PLUGINS": SAMPLE_MODULE,
        "PORTAL_LOAD_ENTRYPOINTS": "0",
        "PORTAL_JOBS": "off",  # only the job runs asked for below, no scheduler
        "PORTAL_SMS_GATEWAY_URL": f"{gateway.url}/ok",
        "PORTAL_SMS_GATEWAY_TOKEN": "gateway-token-0123456789",
    }
    return subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


async def _finish(processes: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    done = await asyncio.gather(*(asyncio.to_thread(p.communicate, timeout=120) for p in processes))
    return [(p.returncode, out, err) for p, (out, err) in zip(processes, done)]


async def _released_together(processes: list[subprocess.Popen], barrier: Path) -> None:
    """Wait until every process is up and waiting at the barrier, then let them all go at once."""
    for _ in range(1200):
        if len(list(barrier.glob("ready-*"))) == len(processes):
            break
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read()[-3000:])
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the processes did not reach the barrier")
    (barrier / "go").touch()


async def _check_each_step_once(whistle: dict, gateway) -> None:
    late_summons = {code: (await summons(whistle["id"], code)) for code, *_rest in LATE}
    in_time = await summons(whistle["id"], IN_TIME[0])
    leader = await staff_id("leader")

    # The outbox: per kind, department named in the text, channel and recipient, exactly once.
    rows = await raw("SELECT * FROM outbox WHERE kind IN ({}, {}, {}) ORDER BY id", *KINDS)
    names = [IN_TIME[1]] + [late[1] for late in LATE]

    def department_in(body: str) -> str:
        [name] = [name for name in names if name in body]
        return name

    got = collections.Counter(
        (r["kind"], department_in(r["body"]), r["channel"], r["staff"] if r["channel"] == "inapp" else r["phone"])
        for r in rows
    )
    expected = {}
    for _code, name, officer, officer_phone, department_phone in LATE:
        expected.update({
            ("checkin_renotify", name, "inapp", await staff_id(officer)): 1,
            ("checkin_renotify", name, "sms", officer_phone): 1,
            ("checkin_leader", name, "sms", department_phone): 1,
            ("checkin_upper", name, "inapp", leader): 1,
            ("checkin_upper", name, "sms", LEADER_PHONE): 1,
        })
    assert dict(got) == expected  # nothing about 区住建局, nothing twice

    # The department that checked in: its people and phones got the summons and nothing after it.
    zjj_officer = await staff_id(IN_TIME[2])
    to_zjj = await raw("SELECT kind FROM outbox WHERE staff = {} OR phone IN ({}, {}) ORDER BY id",
                       zjj_officer, IN_TIME[3], IN_TIME[4])
    assert [r["kind"] for r in to_zjj] == ["checkin_summons", "checkin_summons"]  # in-app + SMS at the blow
    assert in_time["escalation_step"] == 0 and not in_time["late"]
    for row in late_summons.values():
        assert row["escalation_step"] == len(CHAIN) and row["late"] and row["checked_in_at"] is None

    # The gateway: every escalation SMS arrived exactly once, and only those (the summonses went
    # out through the test process's development sender).
    received = collections.Counter((r["json"]["phone"], r["json"]["text"]) for r in gateway.received)
    sms_rows = [r for r in rows if r["channel"] == "sms"]
    assert received == collections.Counter((r["phone"], r["body"]) for r in sms_rows)
    assert len(received) == 3 * len(LATE) and max(received.values()) == 1
    assert not {IN_TIME[3], IN_TIME[4]} & {phone for phone, _text in received}
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in sms_rows)

    # The timeline: each step once for each late department, none for the one in time.
    steps = collections.Counter((e["summons"], e["kind"]) for e in await events(whistle["id"]) if e["kind"] in STEPS)
    assert dict(steps) == {(row["id"], kind): 1 for row in late_summons.values() for kind in STEPS}


async def test_two_processes_running_the_job_body_at_once_escalate_each_late_department_once(
        app, client_factory, settings, gateway, tmp_path):
    whistle, moment = await _one_in_time_two_late(app, client_factory)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    processes = [
        _spawn(settings, gateway, "-m", "tests.checkin.run_escalation", str(ROUNDS), "--now", moment.isoformat(),
               "--barrier", str(barrier))
        for _ in range(2)
    ]
    try:
        await _released_together(processes, barrier)
    finally:
        results = await _finish(processes)
    for code, _out, err in results:
        assert code == 0, err[-3000:]
    reports = [[int(n) for n in line.split()[1:]] for _c, out, _e in results for line in out.splitlines()
               if line.startswith("report ")]
    assert len(reports) == 2 * ROUNDS
    # Between both processes and all rounds: each late department marked late once, each step sent once.
    assert [sum(column) for column in zip(*reports)] == [len(LATE)] * 4
    await _check_each_step_once(whistle, gateway)
    assert await JobRun.select().where(JobRun.job == ESCALATE) == []  # the lease was never involved


async def test_two_cli_runs_at_once_take_turns_on_the_lease_and_escalate_once(
        app, client_factory, settings, gateway):
    whistle, moment = await _one_in_time_two_late(app, client_factory)
    cli = ("-c", "from portal.cli import main; main()", "jobs", "run", ESCALATE, "--now", moment.isoformat())
    results = await _finish([_spawn(settings, gateway, *cli) for _ in range(2)])
    # 0: it held the lease and ran (the second to get it finds nothing left to do);
    # 75: the other held the lease at that moment, nothing done.
    assert {code for code, _o, _e in results} <= {0, 75}, [err[-3000:] for _c, _o, err in results]
    ran = [out for code, out, _e in results if code == 0]
    assert ran
    totals = collections.Counter()
    for out in ran:
        match = re.search(r"late=(\d+), renotified=(\d+), leader_alerted=(\d+), upper_alerted=(\d+)", out)
        assert match, out
        totals.update(dict(zip(("late", *STEPS), map(int, match.groups()))))
    assert dict(totals) == {"late": len(LATE), **{kind: len(LATE) for kind in STEPS}}
    runs = await JobRun.select(JobRun.status).where(JobRun.job == ESCALATE)
    assert [r["status"] for r in runs] == ["ok"] * len(ran)
    await _check_each_step_once(whistle, gateway)
