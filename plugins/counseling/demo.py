"""Demo data of the counseling module (loaded by ``portal demo load`` through core's per-module
demo hook-up): the module on at 甘州区综治中心 and 大满镇综治中心 only (a counseling room is not
in every center), the two demo counselors bookable at the district on working-day office hours,
``counselor_sup`` designated supervisor and ``crisis_duty`` the crisis contact. Idempotent."""

from __future__ import annotations

from portal import clock
from portal.audit.chain import AuditTrail
from portal.db import raw, write_transaction

from plugins.counseling.booking import ensure_resource

CENTERS = ("GZQ", "GZQ-DMZ")
BOOKABLE = ("counselor", "counselor2")
SUPERVISORS = ("counselor_sup",)
CRISIS_CONTACTS = (("crisis_duty", "13909361201"),)
# Monday–Friday 9:00–12:00 and 14:30–17:30 (minutes after local midnight).
HOURS = ((9 * 60, 12 * 60), (14 * 60 + 30, 17 * 60 + 30))


async def _staff(username: str) -> dict | None:
    rows = await raw("SELECT id, display_name, center FROM staff_user WHERE username = {}", username)
    return rows[0] if rows else None


async def load_demo(trail: AuditTrail) -> int:
    """Create what is missing; returns the number of rows created."""
    created = 0
    async with write_transaction():
        for code in CENTERS:
            center = await raw("SELECT id FROM center WHERE code = {}", code)
            if not center:
                continue
            center_id = center[0]["id"]
            if not await raw("SELECT 1 AS ok FROM center_module WHERE center = {} AND module = 'counseling'", center_id):
                await raw("INSERT INTO center_module (center, module, allowed, enabled, updated_at) "
                          "VALUES ({}, 'counseling', TRUE, TRUE, {})", center_id, clock.now())
                for action in ("module.allowed", "module.enabled"):
                    await trail(action, object_type="module", object_id="counseling", center_id=center_id,
                                fields=(action.split(".")[1],))
                created += 1
        for username in BOOKABLE:
            staff = await _staff(username)
            if staff is None or await raw("SELECT 1 AS ok FROM booking_resource WHERE staff = {} AND role = 'counselor'", staff["id"]):
                continue
            resource_id = await ensure_resource(trail, staff["center"], staff)
            for weekday in range(5):
                for start, end in HOURS:
                    await raw("INSERT INTO booking_rule (resource, weekday, start_minute, end_minute) VALUES ({}, {}, {}, {})",
                              resource_id, weekday, start, end)
            created += 1
        for username in SUPERVISORS:
            staff = await _staff(username)
            if staff is None:
                continue
            rows = await raw("INSERT INTO counseling_supervisor (center, staff, created_at) VALUES ({}, {}, {}) "
                             "ON CONFLICT (center, staff) DO NOTHING RETURNING id", staff["center"], staff["id"], clock.now())
            if rows:
                await trail("counseling.supervisor_added", object_type="staff_user", object_id=staff["id"], center_id=staff["center"])
                created += 1
        for username, phone in CRISIS_CONTACTS:
            staff = await _staff(username)
            if staff is None:
                continue
            rows = await raw("INSERT INTO counseling_crisis_contact (center, staff, phone, created_at) VALUES ({}, {}, {}, {}) "
                             "ON CONFLICT (center, staff) DO NOTHING RETURNING id", staff["center"], staff["id"], phone, clock.now())
            if rows:
                await trail("counseling.crisis_contact_saved", object_type="counseling_crisis_contact", object_id=rows[0]["id"],
                            center_id=staff["center"], fields=("staff", "phone"))
                created += 1
    return created
