"""Who may see and who may change a matter (ARCHITECTURE §4); anything else is 404.

See: the handling center's subtree, and the registering center's subtree (a lower center keeps
read access to what it sent up). A department officer sees only what was assigned to the
department. Change: the handling center's subtree only (department officers: their assignments).
"""

from __future__ import annotations

from litestar.exceptions import NotFoundException

from portal.auth.principal import Principal
from portal.centers.scope import in_scope
from portal.matters.tables import Matter

__all__ = ["can_change", "is_department_officer", "matter_in_scope"]


def is_department_officer(user: Principal) -> bool:
    """An officer whose view is limited to the department's assignments (no window role)."""
    return user.department_id is not None and not (user.roles & {"center_admin", "window_staff", "leader"})


async def matter_in_scope(user: Principal, matter_id: int) -> dict:
    row = (
        await Matter.select(Matter.all_columns(), Matter.origin_center.path.as_alias("origin_path"))
        .where(Matter.id == matter_id)
        .first()
    )
    if row is None:
        raise NotFoundException()
    if is_department_officer(user):
        if row["department"] != user.department_id:
            raise NotFoundException()
        return row
    if not (in_scope(user, row["center_path"]) or in_scope(user, row["origin_path"])):
        raise NotFoundException()
    return row


def can_change(user: Principal, matter: dict) -> bool:
    if is_department_officer(user):
        return matter["department"] == user.department_id
    return in_scope(user, matter["center_path"])
