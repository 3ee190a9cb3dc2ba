"""Shared steps of the counseling tests (K1: booking, consent, screening, crisis; K2 may append).

The demo switches counseling on at 甘州区综治中心 (GZQ) and 大满镇综治中心 (GZQ-DMZ); ``counselor`` and
``counselor2`` are bookable at GZQ on working days 9:00–12:00 and 14:30–17:30, ``counselor_sup``
is the designated supervisor and ``crisis_duty`` (mobile 13909361201) the crisis contact.
Bookings here go through the engine's real pages (the citizen's flow, or the staff page).
"""

from __future__ import annotations

import re

from portal.db import raw
from portal.web.forms import normalize_phone

from tests.core.bookings.helpers import at, citizen_client, next_workday  # noqa: F401  (re-exported)

CENTER = "GZQ"
FIRST = "counseling.first"
FOLLOW_UP = "counseling.follow_up"
CONTACT_PHONE = "13909361201"
PSEUDONYM = "小林"
CITIZEN_PHONE = "13800138123"


def submission_key(page_text: str) -> str:
    return re.search(r'name="_submission_key" value="([^"]+)"', page_text).group(1)


async def center_id(code: str) -> int:
    return (await raw("SELECT id FROM center WHERE code = {}", code))[0]["id"]


async def staff_id(username: str) -> int:
    return (await raw("SELECT id FROM staff_user WHERE username = {}", username))[0]["id"]


async def staff_client(client_factory, username: str):
    client = await client_factory()
    await client.login(username)
    return client


async def resource_of(username: str) -> int:
    return (await raw("SELECT id FROM booking_resource WHERE staff = {} AND role = 'counselor'", await staff_id(username)))[0]["id"]


async def book_online(client, *, service: str = FIRST, hour: int = 9, minute: int = 0, days_ahead: int = 2,
                      name: str = PSEUDONYM, code: str = CENTER) -> dict:
    """The citizen's booking through the engine's own pages (check page, then confirm). The demo
    hours give 50-minute slots at 9:00, 9:50, 10:40, 14:30, 15:20 and 16:10."""
    cid = await center_id(code)
    minute = at(next_workday(days_ahead), hour, minute)
    check = await client.get(f"/book/{cid}/{service}/check", params={"slot": str(minute)})
    assert check.status_code == 200, check.status_code
    response = await client.submit(f"/book/{cid}/{service}/confirm", {
        "slot": str(minute), "name": name, "_submission_key": submission_key(check.text)})
    assert response.status_code == 303, (response.status_code, response.text[:500])
    booking_id = int(response.headers["location"].rsplit("/", 1)[1])
    return dict((await raw("SELECT * FROM booking WHERE id = {}", booking_id))[0])


async def booking_with(counselor: str, *, name: str = PSEUDONYM, phone: str = CITIZEN_PHONE, client_factory=None,
                       hour: int = 9, days_ahead: int = 2) -> dict:
    """A first-session booking (through the citizen's flow) that lands with ``counselor``: the
    other demo counselor is closed that day by an exception."""
    other = "counselor2" if counselor == "counselor" else "counselor"
    day = next_workday(days_ahead)
    await raw("INSERT INTO booking_exception (resource, day, closed, start_minute, end_minute, note) VALUES ({}, {}, TRUE, 0, 0, '')",
              await resource_of(other), day)
    client = await citizen_client(client_factory, phone)
    booking = await book_online(client, hour=hour, days_ahead=days_ahead, name=name)
    assert booking["resource"] == await resource_of(counselor)
    booking["client"] = client
    return booking


def screening_form(phq9=(0,) * 9, gad7=(0,) * 7, difficulty=0, key: str = "") -> dict:
    data = {f"phq9_{i}": str(v) for i, v in enumerate(phq9, 1)}
    data.update({f"gad7_{i}": str(v) for i, v in enumerate(gad7, 1)})
    data["phq9_difficulty"] = str(difficulty)
    if key:
        data["_submission_key"] = key
    return data


async def outbox(kind: str | None = None, channel: str | None = None) -> list[dict]:
    rows = await raw("SELECT * FROM outbox ORDER BY id")
    return [r for r in rows if (kind is None or r["kind"] == kind) and (channel is None or r["channel"] == channel)]


async def sms_to(phone: str) -> list[dict]:
    number = normalize_phone(phone)
    return [r for r in await outbox(channel="sms") if r["phone"] == number]


async def audit_actions(prefix: str) -> list[dict]:
    return [r for r in await raw("SELECT * FROM audit_log ORDER BY seq") if r["action"].startswith(prefix)]
