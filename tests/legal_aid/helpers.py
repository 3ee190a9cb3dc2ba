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


# ----------------------------------------------------------------------------- LA2: the consultation log

from portal.centers.modules import set_allowed  # noqa: E402
from portal.db import write_transaction  # noqa: E402

LOG_FORM = {
    "channel": "walk_in", "person_name": "张三", "person_phone": "13912345678", "topic": "labour",
    "question": "在工地干了三个月，老板拖欠工资 8000 元不给，怎么办？",
    "advice": "保留考勤记录、工资条和聊天记录，先找劳动监察大队投诉，也可以申请劳动仲裁。",
    "route": "arbitration", "eligible": "yes", "minutes": "15", "matter_code": "",
}


async def enable_legal_aid(app, code: str) -> None:
    """Allowed by the district and switched on at ``code`` (whatever the demo data already did)."""
    trail = AuditTrail(audit_key(app.state.settings), SYSTEM)
    center = await center_id(code)
    await set_allowed(trail, app.state.registry, center, "legal_aid", True)
    await set_enabled(trail, app.state.registry, center, "legal_aid", True)


async def set_firm(username: str, firm: str) -> None:
    """The lawyer's profile (LA1's table) with ``firm``."""
    rows = await raw("SELECT id, center FROM staff_user WHERE username = {}", username)
    async with write_transaction():
        await raw("INSERT INTO legal_aid_lawyer (center, staff, firm) VALUES ({}, {}, {}) "
                  "ON CONFLICT (staff) DO UPDATE SET firm = excluded.firm", rows[0]["center"], rows[0]["id"], firm)


async def lawyer_client(client_factory, settings, username: str, center_code: str = "GZQ"):
    """A browser signed in as a lawyer: the demo account when it exists, else a new account (TOTP)."""
    from tests.core.auth.helpers import login_with_totp, make_staff

    client = await client_factory()
    rows = await raw("SELECT is_demo FROM staff_user WHERE username = {}", username)
    if rows and rows[0]["is_demo"]:
        await client.login(username)
        return client
    _id, secret = await make_staff(settings, username, center_code, ["lawyer"])
    await login_with_totp(client, username, secret)
    return client


async def log_page_data(client, url: str = "/m/legal_aid/log/new", **overrides) -> dict:
    page = await client.get(url)
    assert page.status_code == 200, page.status_code
    data = {**LOG_FORM, **overrides}
    key = re.search(r'name="_submission_key" value="([^"]+)"', page.text)
    if key:
        data["_submission_key"] = key.group(1)
    return data


async def log_consultation(client, **overrides) -> dict:
    """Fill the form, pass the check step, confirm; returns the saved entry's row."""
    data = await log_page_data(client, **overrides)
    checked = await client.submit("/m/legal_aid/log/new", {**data, "action": "check"})
    assert checked.status_code == 200, (checked.status_code, re.findall(r'class="error-summary".{0,600}', checked.text, re.S))
    saved = await client.submit("/m/legal_aid/log/new", {**data, "action": "save", "conflict_ack": "1"})
    assert saved.status_code == 303, (saved.status_code, re.findall(r'class="error-summary".{0,600}', saved.text, re.S))
    return await consultation_row(int(saved.headers["location"].rsplit("/", 1)[1]))


async def consultation_row(entry_id: int) -> dict:
    return (await raw("SELECT * FROM legal_aid_consultation WHERE id = {}", entry_id))[0]


async def booking_today(lawyer: str, center_code: str, *, name: str = "", phone: str = "13700001111",
                        code: str = "LAW123") -> int:
    """A booking with ``lawyer``'s resource starting now (today, China time), as the engine stores it."""
    staff = await staff_id(lawyer)
    center = await center_id(center_code)
    now = clock.now().replace(second=0, microsecond=0)
    async with write_transaction():
        rows = await raw("SELECT id FROM booking_resource WHERE staff = {} AND center = {}", staff, center)
        if rows:
            resource = rows[0]["id"]
        else:
            resource = (await raw(
                "INSERT INTO booking_resource (center, kind, name, staff, role, active, feed_token_hash, created_at) "
                "VALUES ({}, 'person', '律师', {}, 'lawyer', TRUE, '', {}) RETURNING id", center, staff, now))[0]["id"]
        booking = await raw(
            "INSERT INTO booking (code, center, resource, service_key, starts_at, ends_at, citizen, name, phone, note, "
            "channel, status, created_at, version) VALUES ({}, {}, {}, 'legal_aid.consultation', {}, {}, NULL, {}, {}, '', "
            "'online', 'booked', {}, 1) RETURNING id",
            code, center, resource, now, now + dt.timedelta(minutes=30), name, phone, now)
    return booking[0]["id"]
