"""Helpers shared by the legal-aid tests (LA1 and LA2 add functions at the end)."""

from __future__ import annotations

from portal.db import raw


async def center_id(code: str) -> int:
    rows = await raw("SELECT id FROM center WHERE code = {}", code)
    return rows[0]["id"]


async def staff_id(username: str) -> int:
    rows = await raw("SELECT id FROM staff_user WHERE username = {}", username)
    return rows[0]["id"]


# ----------------------------------------------------------------------------- LA1: roster and applications

import datetime as dt  # noqa: E402
import re  # noqa: E402

from portal import clock  # noqa: E402
from portal.audit.chain import SYSTEM, AuditTrail  # noqa: E402
from portal.centers.modules import set_enabled  # noqa: E402
from portal.crypto import audit_key  # noqa: E402
from portal.jobs.runner import JobContext  # noqa: E402

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(body: str = "62070219800101123") -> str:
    """A valid 18-character ID number for a 17-digit body (the check character computed)."""
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _WEIGHTS)) % 11]


def submission_key(page_text: str) -> str:
    return re.search(r'name="_submission_key" value="([^"]+)"', page_text).group(1)


def travel_to(when: dt.datetime) -> None:
    """Move the clock to ``when`` (aware); staff must sign in again after a long trip."""
    clock.travel(seconds=(when - clock.now()).total_seconds())


def china(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=clock.TZ_CN)


def job_context(app, name: str, now: dt.datetime | None = None) -> JobContext:
    plugin, _job = app.state.registry.jobs[name]
    return JobContext(name=name, plugin=plugin, registry=app.state.registry, settings=app.state.settings,
                      holder="test", now=now or clock.now(), sms_senders=app.state.sms_senders)


async def switch_module(app, code: str, enabled: bool) -> None:
    trail = AuditTrail(audit_key(app.state.settings), SYSTEM)
    await set_enabled(trail, app.state.registry, await center_id(code), "legal_aid", enabled)


async def lawyer_profile(username: str) -> dict:
    return (await raw("SELECT l.*, s.display_name FROM legal_aid_lawyer l JOIN staff_user s ON s.id = l.staff "
                      "WHERE s.username = {}", username))[0]


async def application_row(application_id: int) -> dict:
    return (await raw("SELECT * FROM legal_aid_application WHERE id = {}", application_id))[0]


async def sms_to(phone: str, kind: str | None = None) -> list[dict]:
    rows = await raw("SELECT * FROM outbox WHERE channel = 'sms' AND phone = {} ORDER BY id", phone)
    return [row for row in rows if kind is None or row["kind"] == kind]


def application_form(**overrides) -> dict:
    """A valid window registration (the staff form)."""
    data = {
        "applicant_name": "王秀兰", "id_number": id_number(), "phone": "13912345678", "address": "甘州区大满镇新新村 3 组",
        "on_behalf": "self", "matter_type": "labour", "description": "在某建筑工地务工 4 个月，工资 2.4 万元未付，请求支付劳动报酬。",
        "hardship_mode": "statement", "hardship_statement": "家中 3 口人，无固定收入，靠打零工维持生活。", "pledge": "1",
    }
    data.update(overrides)
    return data


async def register_at_window(client, **overrides) -> dict:
    """Register through the staff form; returns the application row."""
    page = await client.get("/m/legal_aid/applications/new")
    assert page.status_code == 200, page.status_code
    data = application_form(**overrides)
    data["_submission_key"] = submission_key(page.text)
    response = await client.submit("/m/legal_aid/applications/new", data)
    assert response.status_code == 303, (response.status_code, re.findall(r'class="field-error".{0,300}', response.text, re.S))
    return await application_row(int(response.headers["location"].rsplit("/", 1)[1]))
