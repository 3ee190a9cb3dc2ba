"""Matters with running clocks, made through the real service, for the scheduler tests."""

from __future__ import annotations

import datetime as dt

from portal import clock
from portal.audit.chain import SYSTEM, AuditTrail
from portal.crypto import audit_key
from portal.matters.service import Ctx, NewMatter, act, register
from portal.matters.tables import Matter
from portal.db import raw
from portal.tables import Center, Department, StaffUser

PETITIONER = "13800138000"


def ctx_of(app) -> Ctx:
    return Ctx(trail=AuditTrail(audit_key(app.state.settings), SYSTEM), registry=app.state.registry, user_label="测试")


async def new_matter(app, center_code: str = "GZQ", phone: str = PETITIONER, summary: str = "讨要拖欠的工资") -> dict:
    center = await Center.select().where(Center.code == center_code).first()
    data = NewMatter(
        kind="petition", category="labour", channel="visit", summary=summary, request="请求支付工资。", facts="",
        place="", place_center=None, petitioner_name="张三", petitioner_phone=phone, petitioner_address="",
        people_count=1,
    )
    created = await register(ctx_of(app), center, data)
    return await Matter.select().where(Matter.id == created["id"]).first()


async def assign_to_rsj(app, matter_id: int) -> dict:
    rsj = await Department.select(Department.id).where(Department.code == "RSJ").first()
    due = (clock.local(clock.now()) + dt.timedelta(days=10)).date()
    await act(ctx_of(app), matter_id, "assign", {"department": str(rsj["id"]), "due_date": due, "instruction": "请核实"})
    return await Matter.select().where(Matter.id == matter_id).first()


async def staff_id(username: str) -> int:
    return (await StaffUser.select(StaffUser.id).where(StaffUser.username == username).first())["id"]


async def window_and_admins(center_code: str) -> set[int]:
    """The active window staff and center admins of a center: whom a deadline warning reaches
    (the demo may add more of them over time, e.g. a window clerk who is also a crisis contact)."""
    return set(await window_and_admin_phones(center_code))


async def window_and_admin_phones(center_code: str) -> dict[int, str]:
    """``window_and_admins`` with each one's phone ("" when none)."""
    rows = await raw(
        "SELECT DISTINCT u.id, u.phone FROM staff_user u JOIN staff_role r ON r.\"user\" = u.id JOIN center c ON c.id = u.center "
        "WHERE u.active AND c.code = {} AND r.role IN ('window_staff', 'center_admin')",
        center_code,
    )
    return {row["id"]: row["phone"] for row in rows}


async def give_phone(username: str, phone: str) -> None:
    await StaffUser.update({StaffUser.phone: phone}).where(StaffUser.username == username)


def until_due(matter: dict, before: dt.timedelta) -> dt.timedelta:
    """How far to move the clock so that ``before`` is left until the matter's deadline."""
    due = matter["due_at"] if matter["due_at"].tzinfo else matter["due_at"].replace(tzinfo=dt.timezone.utc)
    return due - clock.now() - before
