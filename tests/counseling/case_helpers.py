"""Shared steps of the case, notes, review, retention and separation tests (K2).

The counseling module on at the district center 甘州区综治中心 (GZQ); the demo counselor
``counselor`` plus two accounts made here when the demo has none: a second counselor and a
counselor designated supervisor. Bookings are written straight into the engine's table (what the
engine itself would store for a pseudonymous booking): these tests are about what happens after.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

from portal import clock
from portal.audit.chain import SYSTEM, AuditTrail
from portal.centers.modules import set_allowed, set_enabled
from portal.crypto import audit_key
from portal.db import insert, raw, write_transaction

OTHER_COUNSELOR = "k2_counselor_b"
SUPERVISOR = "k2_supervisor"
PSEUDONYM = "青禾"
PHONE = "13912340077"
NOTE_WORDS = "来访者谈到母亲去世后失眠三个月"
PLAN_WORDS = "下周继续讨论哀伤应对"


def submission_key(page_text: str) -> str:
    return re.search(r'name="_submission_key" value="([^"]+)"', page_text).group(1)


async def center_id(code: str) -> int:
    return (await raw("SELECT id FROM center WHERE code = {}", code))[0]["id"]


async def staff_id(username: str) -> int:
    return (await raw("SELECT id FROM staff_user WHERE username = {}", username))[0]["id"]


async def _ensure_user(username: str, name: str, center: str, roles: list[str]) -> int:
    rows = await raw("SELECT id FROM staff_user WHERE username = {}", username)
    if rows:
        return rows[0]["id"]
    template = (await raw("SELECT password_hash FROM staff_user WHERE username = 'counselor'"))[0]
    user_id = await insert("staff_user", {
        "username": username, "display_name": name, "password_hash": template["password_hash"],
        "center": await center_id(center), "is_demo": True, "active": True, "phone": "", "email": "",
        "must_change_password": False, "totp_secret": "", "totp_confirmed": False, "totp_last_step": 0,
        "created_at": clock.now(), "password_changed_at": clock.now(),
    })
    for role in roles:
        await insert("staff_role", {"user": user_id, "role": role})
    return user_id


async def designate(username: str, center: str = "GZQ") -> None:
    await raw("INSERT INTO counseling_supervisor (center, staff, created_at) VALUES ({}, {}, {}) "
              "ON CONFLICT (center, staff) DO NOTHING", await center_id(center), await staff_id(username), clock.now())


async def undesignate(username: str) -> None:
    await raw("DELETE FROM counseling_supervisor WHERE staff = {}", await staff_id(username))


async def switch_on(app, code: str) -> None:
    trail = AuditTrail(audit_key(app.state.settings), SYSTEM)
    registry = app.state.registry
    await set_allowed(trail, registry, await center_id(code), "counseling", True)
    await set_enabled(trail, registry, await center_id(code), "counseling", True)


async def setup_counseling(app) -> None:
    """Module on at GZQ, a second counselor and a designated supervisor there."""
    await switch_on(app, "GZQ")
    async with write_transaction():
        await _ensure_user(OTHER_COUNSELOR, "第二咨询师（测试）", "GZQ", ["counselor"])
        await _ensure_user(SUPERVISOR, "督导咨询师（测试）", "GZQ", ["counselor"])
    await designate(SUPERVISOR)


async def resource_of(username: str, center: str = "GZQ") -> int:
    staff = await staff_id(username)
    rows = await raw("SELECT id FROM booking_resource WHERE staff = {}", staff)
    if rows:
        return rows[0]["id"]
    async with write_transaction():
        resource = await insert("booking_resource", {
            "center": await center_id(center), "kind": "person", "name": username, "staff": staff, "role": "counselor",
            "active": True, "feed_token_hash": "", "created_at": clock.now(),
        })
        for key in ("counseling.first", "counseling.follow_up", "counseling.group"):
            await insert("booking_resource_service", {"resource": resource, "service_key": key})
    return resource


async def make_booking(counselor: str = "counselor", *, name: str = PSEUDONYM, phone: str = PHONE,
                       service: str = "counseling.first", starts_at: dt.datetime | None = None,
                       citizen: int | None = None) -> dict:
    """A pseudonymous booking (name + phone) with ``counselor``, as the engine stores one."""
    resource = await resource_of(counselor)
    starts = starts_at or (clock.now() - dt.timedelta(hours=2)).replace(second=0, microsecond=0)
    center = (await raw("SELECT center FROM booking_resource WHERE id = {}", resource))[0]["center"]
    async with write_transaction():
        booking_id = await insert("booking", {
            "code": secrets.token_hex(4).upper()[:6], "center": center, "resource": resource, "service_key": service,
            "starts_at": starts, "ends_at": starts + dt.timedelta(minutes=50), "citizen": citizen, "name": name,
            "phone": phone, "note": "", "channel": "online", "status": "checked_in", "hold_expires_at": None,
            "created_at": clock.now(), "changed_at": None, "cancelled_at": None, "cancel_reason": "",
            "checked_in_at": starts, "no_show_at": None, "reminded_at": None, "version": 1,
        })
        if service == "counseling.first":  # the client consented online (no first session without it)
            await insert("counseling_consent", {"center": center, "booking": booking_id, "citizen": citizen, "version": "2026-11",
                                                "channel": "online", "recorded_by": None, "consented_at": clock.now()})
    return (await raw("SELECT * FROM booking WHERE id = {}", booking_id))[0]


async def open_case(client, booking_id: int | None = None, client_name: str = "") -> int:
    form = await client.get("/m/counseling/cases/new")
    assert form.status_code == 200, form.status_code
    response = await client.submit("/m/counseling/cases/new", {
        "booking": str(booking_id or ""), "client": client_name, "_submission_key": submission_key(form.text),
    })
    assert response.status_code == 303, (response.status_code, errors_of(response))
    return int(response.headers["location"].rsplit("/", 1)[1])


async def give_case_consent(client, case_id: int):
    """The walk-in client ticks the consent on the counselor's screen (the case's consent page)."""
    page = await client.get(f"/m/counseling/cases/{case_id}/consent")
    assert page.status_code == 200, page.status_code
    version = re.search(r'name="version" value="([^"]+)"', page.text).group(1)
    response = await client.submit(f"/m/counseling/cases/{case_id}/consent", {"agree": "1", "version": version})
    assert response.status_code == 303, (response.status_code, errors_of(response))
    return response


def session_data(**overrides) -> dict:
    data = {
        "booking": "", "held_at": (clock.local(clock.now()) - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
        "duration": "50", "kind": "first", "attendance": "attended", "topics": ["grief", "family"], "risk": "low",
        "notes": NOTE_WORDS, "plan": PLAN_WORDS,
    }
    data.update(overrides)
    return data


async def record_session(client, case_id: int, expect: int = 303, **overrides):
    form = await client.get(f"/m/counseling/cases/{case_id}/sessions/new")
    assert form.status_code == 200, form.status_code
    data = session_data(**overrides)
    data.setdefault("_submission_key", submission_key(form.text))
    response = await client.submit(f"/m/counseling/cases/{case_id}/sessions/new", data)
    assert response.status_code == expect, (response.status_code, errors_of(response))
    return response


async def case_with_notes(client, **booking) -> tuple[int, dict]:
    """As ``counselor`` (signed in on ``client``): a booking, its case and one session with notes."""
    row = await make_booking(**booking)
    case_id = await open_case(client, row["id"])
    await record_session(client, case_id, booking=str(row["id"]))
    return case_id, row


def errors_of(response) -> list[str]:
    return re.findall(r'class="field-error"[^>]*>(?:<span[^>]*>[^<]*</span>)?([^<]*)<', response.text)


async def audit_rows(action: str, object_id: int | None = None) -> list[dict]:
    rows = await raw("SELECT * FROM audit_log WHERE action = {} ORDER BY seq", action)
    return [r for r in rows if object_id is None or r["object_id"] == str(object_id)]
