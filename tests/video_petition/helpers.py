"""Shared steps of the video petition tests: sessions, seats in the room, the room's event stream."""

from __future__ import annotations

import json
import re

from portal import clock
from portal.audit.chain import SYSTEM, AuditTrail
from portal.centers.modules import set_enabled
from portal.crypto import audit_key
from portal.db import insert, raw, write_transaction
from portal.matters.service import Ctx, NewMatter, register
from tests.core.bookings import helpers as _bookings
from tests.core.notify.test_live import LiveClient

CITIZEN_PHONE = "13800138111"
OTHER_PHONE = "13800138222"
JSON = {"content-type": "application/json"}
citizen_client = _bookings.citizen_client  # a browser signed in as a citizen


async def center(code: str) -> dict:
    return (await raw("SELECT * FROM center WHERE code = {}", code))[0]


async def staff_id(username: str) -> int:
    return (await raw("SELECT id FROM staff_user WHERE username = {}", username))[0]["id"]


async def department_id(code: str) -> int:
    return (await raw("SELECT id FROM department WHERE code = {}", code))[0]["id"]


async def new_matter(app, center_code: str = "GZQ", phone: str = CITIZEN_PHONE) -> dict:
    data = NewMatter(kind="petition", category="labour", channel="visit", summary="工地拖欠工资三个月",
                     request="请求督促支付工资", facts="", place="", place_center=None, petitioner_name="王大山",
                     petitioner_phone=phone, petitioner_address="", people_count=1)
    ctx = Ctx(trail=AuditTrail(audit_key(app.state.settings), SYSTEM), registry=app.state.registry)
    return await register(ctx, await center(center_code), data)


async def make_session(app, citizen_id: int | None, *, host: str = "leader", center_code: str = "GZQ",
                       status: str = "approved", department: str | None = None, matter: bool = True) -> dict:
    """An approved (or other) session straight in the table, for the room's tests."""
    matter_id = (await new_matter(app, center_code))["id"] if matter else None
    row = await center(center_code)
    async with write_transaction():
        session_id = await insert("video_petition_session", {
            "center": row["id"], "service": "department" if department else "leader", "citizen": citizen_id,
            "matter": matter_id, "name": "王大山", "phone": CITIZEN_PHONE, "description": "工地拖欠工资三个月",
            "status": status, "host": await staff_id(host) if host else None,
            "department": await department_id(department) if department else None,
            "scheduled_at": clock.now(), "created_at": clock.now(),
        })
    return (await raw("SELECT * FROM video_petition_session WHERE id = {}", session_id))[0]


def me_of(page) -> int:
    assert page.status_code == 200, page.status_code
    return int(re.search(r'data-me="(\d+)"', page.text).group(1))


async def post_json(client, url: str, data: dict | None = None):
    return await client.post(url, content=json.dumps(data or {}), follow_redirects=False,
                             headers={**JSON, "x-csrftoken": await client.csrf()})


async def participant(participant_id: int) -> dict:
    return (await raw("SELECT * FROM video_petition_participant WHERE id = {}", participant_id))[0]


async def switch(app, code: str, enabled: bool) -> None:
    trail = AuditTrail(audit_key(app.state.settings), SYSTEM)
    await set_enabled(trail, app.state.registry, (await center(code))["id"], "video_petition", enabled)


class RoomStream(LiveClient):
    """Reads a room's event stream as EventSource would (the app called directly over ASGI)."""

    def __init__(self, app, client, path: str, headers: dict[str, str] | None = None):
        super().__init__(app, dict(client.cookies.items()), headers)
        self.scope = {**self.scope, "path": path, "raw_path": path.encode()}

    async def next_of(self, kind: str, within: float = 6.0) -> dict | None:
        import time

        deadline = time.monotonic() + within
        while (event := await self.next_event(max(0.0, deadline - time.monotonic()))) is not None:
            if event.get("event") == kind:
                return {**event, "data": json.loads(event["data"])}
        return None
