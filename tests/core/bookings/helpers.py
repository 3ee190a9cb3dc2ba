"""Shared steps of the bookings tests: a resource with opening hours, citizens signed in, booking."""

from __future__ import annotations

import datetime as dt
import re

from portal import clock
from portal.audit.chain import SYSTEM, AuditTrail
from portal.bookings import availability as av
from portal.bookings import service as svc
from portal.centers.modules import set_allowed, set_enabled
from portal.citizens import sessions as citizen_sessions
from portal.db import raw, write_transaction
from portal.tables import Center

CENTER = "GZQ-DMZ"
CONSULT = "sample_module.consult"
SESSION = "sample_module.session"


async def enable_sample(app, code: str = CENTER) -> dict:
    center = await Center.select().where(Center.code == code).first()
    trail = AuditTrail(app.state.audit_key, SYSTEM)
    await set_allowed(trail, app.state.registry, center["id"], "sample_module", True)
    await set_enabled(trail, app.state.registry, center["id"], "sample_module", True)
    return center


async def add_resource(center_id: int, name: str = "李律师", services=(CONSULT,), hours=((9 * 60, 12 * 60),),
                       weekdays=range(7), staff: int | None = None) -> int:
    async with write_transaction():
        rows = await raw(
            "INSERT INTO booking_resource (center, kind, name, staff, role, active, feed_token_hash, created_at) "
            "VALUES ({}, 'person', {}, {}, 'lawyer', TRUE, '', {}) RETURNING id", center_id, name, staff, clock.now())
        rid = rows[0]["id"]
        for key in services:
            await raw("INSERT INTO booking_resource_service (resource, service_key) VALUES ({}, {})", rid, key)
        for day in weekdays:
            for start, end in hours:
                await raw("INSERT INTO booking_rule (resource, weekday, start_minute, end_minute) VALUES ({}, {}, {}, {})",
                          rid, day, start, end)
    return rid


def next_workday(days_ahead: int = 2) -> dt.date:
    from portal.matters.calendar import official_workday

    day = av.day_of(av.to_minute(clock.now())) + dt.timedelta(days=days_ahead)
    while not official_workday(day):
        day += dt.timedelta(days=1)
    return day


def at(day: dt.date, hour: int, minute: int = 0) -> int:
    return av.local_day_start(day) + hour * 60 + minute


async def citizen_client(client_factory, phone: str):
    """A browser signed in as the citizen with ``phone`` (session created directly: no SMS caps)."""
    async with write_transaction():
        rows = await raw("INSERT INTO citizen (phone, created_at, last_sign_in_at) VALUES ({}, {}, NULL) "
                         "ON CONFLICT (phone) DO NOTHING RETURNING id", phone, clock.now())
        if not rows:
            rows = await raw("SELECT id FROM citizen WHERE phone = {}", phone)
        client = await client_factory()
        token = await citizen_sessions.create(rows[0]["id"], client._transport.app.state.settings)
    client.cookies.set(client._transport.app.state.settings.citizen_cookie, token)
    client.citizen_id = rows[0]["id"]
    return client


def submission_key(text: str) -> str:
    return re.search(r'name="_submission_key" value="([^"]+)"', text).group(1)


def ctx(app) -> svc.Ctx:
    return svc.Ctx(trail=AuditTrail(app.state.audit_key, SYSTEM), registry=app.state.registry)


async def confirm(client, center_id: int, minute: int, service: str = CONSULT):
    page = await client.get(f"/book/{center_id}/{service}/check", params={"slot": str(minute)})
    assert page.status_code == 200, (page.status_code, page.text[-1500:])
    return await client.submit(f"/book/{center_id}/{service}/confirm", {"slot": str(minute), "_submission_key": submission_key(page.text)})
