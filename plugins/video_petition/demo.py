"""Demo data of the video petition module (``portal demo load`` calls it): the module switched on
(allowed and enabled) at every demo center where the demo has not decided yet, as the admins
would — kept here so core's demo loader names no module; and the reception schedule: the demo
leader receives by video on Thursday mornings (领导视频接访日), the housing bureau's officer on
Tuesday afternoons (部门视频接访). Idempotent."""

from __future__ import annotations

from portal import clock
from portal.audit.chain import AuditTrail
from portal.db import raw, write_transaction

MODULE = "video_petition"


async def load_demo(trail: AuditTrail) -> int:
    switched = 0
    async with write_transaction():
        from portal.demo import CENTERS

        for code, *_rest in CENTERS:
            center = await raw("SELECT id FROM center WHERE code = {}", code)
            if not center:
                continue
            center_id = center[0]["id"]
            if await raw("SELECT 1 FROM center_module WHERE center = {} AND module = {}", center_id, MODULE):
                continue
            await raw("INSERT INTO center_module (center, module, allowed, enabled, updated_at) VALUES ({}, {}, {}, {}, {})",
                      center_id, MODULE, True, True, clock.now())
            for action in ("module.allowed", "module.enabled"):
                await trail(action, object_type="module", object_id=MODULE, center_id=center_id, fields=(action.split(".")[1],))
            switched += 1
        for username, key, name, role, weekday, start, end in SCHEDULE:
            await _resource(username, key, name, role, weekday, start, end)
    return switched


# username, service, resource name, role, weekday (0 = Monday), start and end (minutes after midnight)
SCHEDULE = [
    ("leader", "video_petition.leader", "区领导（视频接访日）", "leader", 3, 9 * 60, 11 * 60 + 30),
    ("zjj_officer", "video_petition.department", "区住建局（视频接访）", "department_officer", 1, 14 * 60 + 30, 17 * 60),
]


async def _resource(username: str, key: str, name: str, role: str, weekday: int, start: int, end: int) -> None:
    staff = await raw("SELECT id, center FROM staff_user WHERE username = {}", username)
    if not staff:
        return
    if await raw("SELECT 1 FROM booking_resource r JOIN booking_resource_service s ON s.resource = r.id "
                 "WHERE r.staff = {} AND s.service_key = {}", staff[0]["id"], key):
        return
    rid = (await raw("INSERT INTO booking_resource (center, kind, name, staff, role, active, feed_token_hash, created_at) "
                     "VALUES ({}, 'person', {}, {}, {}, TRUE, '', {}) RETURNING id",
                     staff[0]["center"], name, staff[0]["id"], role, clock.now()))[0]["id"]
    await raw("INSERT INTO booking_resource_service (resource, service_key) VALUES ({}, {})", rid, key)
    await raw("INSERT INTO booking_rule (resource, weekday, start_minute, end_minute) VALUES ({}, {}, {}, {})",
              rid, weekday, start, end)
