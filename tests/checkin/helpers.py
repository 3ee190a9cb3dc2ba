"""Shared steps of the check-in tests: blow a whistle through the real form, read rows, run the job."""

from __future__ import annotations

import datetime as dt
import re

from portal import clock
from portal.audit.chain import SYSTEM, AuditTrail
from portal.centers.modules import set_enabled
from portal.crypto import audit_key
from portal.db import raw
from portal.jobs.runner import JobContext

from plugins.checkin.escalation import ESCALATE, escalate


def submission_key(page_text: str) -> str:
    return re.search(r'name="_submission_key" value="([^"]+)"', page_text).group(1)


async def department_id(code: str) -> int:
    return (await raw("SELECT id FROM department WHERE code = {}", code))[0]["id"]


async def center_id(code: str) -> int:
    return (await raw("SELECT id FROM center WHERE code = {}", code))[0]["id"]


async def staff_id(username: str) -> int:
    return (await raw("SELECT id FROM staff_user WHERE username = {}", username))[0]["id"]


def report_time(hours: float = 2) -> str:
    """A datetime-local value in China time, ``hours`` from now."""
    return (clock.local(clock.now()) + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


async def blow_form_data(client, departments: list[str], url: str = "/m/checkin/new", **overrides) -> dict:
    form = await client.get(url)
    assert form.status_code == 200, form.status_code
    data = {
        "source": "emergency", "reason": "需联合执法", "grade": "urgent", "mode": "onsite",
        "place": "大满镇政府三楼会议室", "report_at": report_time(), "instruction": "请带执法证件到场，联合处置违建。",
        "_submission_key": submission_key(form.text),
    }
    data.update(overrides)
    data["departments"] = [str(await department_id(code)) for code in departments]
    return data


async def blow(client, departments: list[str], url: str = "/m/checkin/new", **overrides) -> dict:
    """Blow through the real form; returns the whistle row."""
    data = await blow_form_data(client, departments, url, **overrides)
    response = await client.submit(url, data)
    assert response.status_code == 303, (response.status_code, re.findall(r'class="field-error".{0,300}', response.text, re.S))
    whistle_id = int(response.headers["location"].rsplit("/", 1)[1])
    return await whistle(whistle_id)


async def whistle(whistle_id: int) -> dict:
    return (await raw("SELECT * FROM checkin_whistle WHERE id = {}", whistle_id))[0]


async def summons(whistle_id: int, code: str) -> dict:
    return (await raw(
        "SELECT s.* FROM checkin_summons s JOIN department d ON d.id = s.department WHERE s.whistle = {} AND d.code = {}",
        whistle_id, code,
    ))[0]


async def events(whistle_id: int, kind: str | None = None) -> list[dict]:
    rows = await raw("SELECT * FROM checkin_event WHERE whistle = {} ORDER BY id", whistle_id)
    return [row for row in rows if kind is None or row["kind"] == kind]


async def messages_to(username: str, kind: str | None = None) -> list[dict]:
    """In-app messages of a staff member (optionally of one kind)."""
    rows = await raw("SELECT * FROM outbox WHERE channel = 'inapp' AND staff = {} ORDER BY id", await staff_id(username))
    return [row for row in rows if kind is None or row["kind"] == kind]


async def sms_to(phone: str, kind: str | None = None) -> list[dict]:
    rows = await raw("SELECT * FROM outbox WHERE channel = 'sms' AND phone = {} ORDER BY id", phone)
    return [row for row in rows if kind is None or row["kind"] == kind]


def job_context(app, now: dt.datetime | None = None) -> JobContext:
    """The scheduler's context for a direct call of the job (the lease is not involved)."""
    plugin, _job = app.state.registry.jobs[ESCALATE]
    return JobContext(name=ESCALATE, plugin=plugin, registry=app.state.registry, settings=app.state.settings,
                      holder="test", now=now or clock.now(), sms_senders=app.state.sms_senders)


async def run_escalation(app, now: dt.datetime | None = None):
    return await escalate(job_context(app, now))


async def switch(app, code: str, enabled: bool) -> None:
    trail = AuditTrail(audit_key(app.state.settings), SYSTEM)
    await set_enabled(trail, app.state.registry, await center_id(code), "checkin", enabled)


async def check_in_by_code(client, whistle_row: dict, attendees: str = "张三、李四"):
    response = await client.submit("/m/checkin/code", {"code": whistle_row["code"].lower()})
    assert response.status_code == 303, response.status_code
    confirm = response.headers["location"]
    assert confirm == f"/m/checkin/c/{whistle_row['code']}?via=code"
    page = await client.get(confirm)
    assert page.status_code == 200
    return await client.submit(f"/m/checkin/c/{whistle_row['code']}", {"method": "code", "attendees": attendees})
