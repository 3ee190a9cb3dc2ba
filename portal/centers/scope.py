"""Scope: staff see their own center and the centers below it; anything else is 404.

A center's ``path`` lists its ancestors' ids and its own ("/1/4/17/"), so "in my subtree" is a
string prefix test and, in SQL, one indexed ``LIKE 'prefix%'``.
"""

from __future__ import annotations

from litestar.exceptions import NotFoundException

from portal.auth.principal import Principal
from portal.db import read
from portal.memo import Memo
from portal.tables import Center, Department, StaffUser

__all__ = [
    "SCOPE_LOADERS",
    "LEVELS",
    "CHILD_LEVEL",
    "center_in_scope",
    "center_row",
    "centers_below",
    "department_in_scope",
    "in_scope",
    "prefix_range",
    "staff_in_scope",
]

LEVELS = ("district", "township", "village")
LEVEL_LABELS = {"district": "区（县）", "township": "乡镇（街道）", "village": "村（社区）"}
CHILD_LEVEL = {"district": "township", "township": "village"}


def prefix_range(prefix: str) -> tuple[str, str]:
    """[low, high) bounds of strings starting with ``prefix``: an index range on both engines
    (SQLite does not use an index for LIKE 'x%' on a case-sensitive column)."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


async def centers_below(center_path: str, memo: Memo | None = None) -> list[dict]:
    """Active centers of a subtree in tree order. Runs for every queue page and registration, so
    it is one indexed range read (``read``), not a LIKE through the ORM, and with the app's
    ``memo`` it is read again only after the centers changed (the "access" scope)."""
    low, high = prefix_range(center_path)

    async def fetch() -> list[dict]:
        return await read(
            "SELECT id, name, level, path FROM center WHERE path >= {} AND path < {} AND active ORDER BY path",
            low, high,
        )

    return await (memo.remember(("centers_below", center_path), fetch, scope="access") if memo else fetch())


async def center_row(center_id: int, memo: Memo | None = None) -> dict | None:
    """One center's row (every column), kept like ``centers_below``."""

    async def fetch() -> dict | None:
        rows = await read("SELECT * FROM center WHERE id = {}", center_id)
        return rows[0] if rows else None

    return await (memo.remember(("center", center_id), fetch, scope="access") if memo else fetch())


def in_scope(user: Principal, center_path: str) -> bool:
    return bool(center_path) and center_path.startswith(user.center_path)


def subtree(user: Principal):
    """A where-clause for rows whose center lies in the user's subtree (join on ``center``)."""
    return Center.path.like(f"{user.center_path}%")


async def center_in_scope(user: Principal, center_id: int) -> dict:
    row = await Center.select().where(Center.id == center_id).first()
    if row is None or not in_scope(user, row["path"]):
        raise NotFoundException()
    return row


async def department_in_scope(user: Principal, department_id: int) -> dict:
    row = (
        await Department.select(Department.all_columns(), Department.center.path.as_alias("center_path"))
        .where(Department.id == department_id)
        .first()
    )
    if row is None or not in_scope(user, row["center_path"]):
        raise NotFoundException()
    return row


async def staff_in_scope(user: Principal, staff_id: int) -> dict:
    row = (
        await StaffUser.select(
            StaffUser.all_columns(exclude=[StaffUser.password_hash, StaffUser.totp_secret]),
            StaffUser.center.path.as_alias("center_path"),
            StaffUser.center.name.as_alias("center_name"),
        )
        .where(StaffUser.id == staff_id)
        .first()
    )
    if row is None or not in_scope(user, row["center_path"]):
        raise NotFoundException()
    return row


# Parameter name -> scope check, applied by the staff guard before the permission check.
SCOPE_LOADERS = {
    "center_id": center_in_scope,
    "parent": center_in_scope,
    "department_id": department_in_scope,
    "staff_id": staff_in_scope,
}
