"""Demo data of the legal-aid module (loaded by ``portal demo load`` through core's per-module
demo hook-up): profiles for the two demo lawyers and a roster for the coming 14 days — the
district lawyer at 甘州区综治中心, the second lawyer at 大满镇综治中心 — on working days, office
hours. Loading again adds only the days that are missing, so a re-load keeps two weeks ahead."""

from __future__ import annotations

import datetime as dt

from portal import clock
from portal.audit.chain import AuditTrail
from portal.db import raw, write_transaction
from portal.matters.calendar import load_calendar

from plugins.legal_aid import roster

# username, center code, firm, licence number, specialties, phone
LAWYERS = [
    ("lawyer", "GZQ", "甘肃陇原律师事务所（演示）", "16209200810123456", "labour,marriage,contract,injury", "13909361101"),
    ("lawyer2", "GZQ-DMZ", "张掖金张掖律师事务所（演示）", "16207201510654321", "neighbour,property,traffic,consumer",
     "13909361102"),
]
DAYS_AHEAD = 14


async def load_demo(trail: AuditTrail) -> int:
    """Create what is missing; returns the roster intervals added."""
    added = 0
    calendar = await load_calendar()
    today = clock.local(clock.now()).date()
    async with write_transaction():
        for username, code, firm, licence, specialties, phone in LAWYERS:
            staff = await raw("SELECT s.id, s.display_name, s.center FROM staff_user s WHERE s.username = {}", username)
            center = await raw("SELECT id, code, name, path FROM center WHERE code = {}", code)
            if not staff or not center:
                continue
            staff, center = staff[0], center[0]
            rows = await raw("SELECT id FROM legal_aid_lawyer WHERE staff = {}", staff["id"])
            if not rows:
                rows = await raw(
                    "INSERT INTO legal_aid_lawyer (center, staff, firm, licence_no, specialties, phone, active, created_at, "
                    "updated_at) VALUES ({}, {}, {}, {}, {}, {}, TRUE, {}, {}) RETURNING id",
                    staff["center"], staff["id"], firm, licence, specialties, phone, clock.now(), clock.now(),
                )
                await trail("legal_aid.lawyer_created", object_type="legal_aid_lawyer", object_id=rows[0]["id"],
                            center_id=staff["center"])
            lawyer = {"id": rows[0]["id"], "staff": staff["id"], "display_name": staff["display_name"]}
            rostered = {roster.as_date(r["day"]) for r in await raw(
                "SELECT DISTINCT day FROM legal_aid_duty WHERE lawyer = {} AND day >= {}", lawyer["id"], today)}
            days = [day for day in roster.days_in_range(today, today + dt.timedelta(days=DAYS_AHEAD), "workdays", calendar)
                    if day not in rostered]
            if days:
                result = await roster.add_duty(trail, center, lawyer, days, list(roster.DEFAULT_HOURS), user_id=None)
                added += result.intervals
    return added
