"""Admin pages for staff accounts (within the admin's own center subtree)."""

from __future__ import annotations

from litestar.params import FromPath
from litestar import Request, Response, Router, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException

from portal.auth import throttle
from portal.auth.guards import staff_guard
from portal.auth.roles import ADMIN_ROLES, ROLE_LABELS
from portal.centers.scope import staff_in_scope, subtree
from portal.db import create_once, new_submission_key, text_match
from portal.i18n import _
from portal.staff import service
from portal.staff.service import StaffInput, grantable_roles
from portal.tables import Center, Department, StaffRole, StaffUser
from portal.web.forms import read_form
from portal.web.render import redirect, render
from portal.web.request import principal, trail

__all__ = ["ROUTES"]

PAGE_SIZE = 50


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) == 11 else phone


async def _choices(request: Request) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    user = principal(request)
    centers = await Center.select(Center.id, Center.name).where(subtree(user)).order_by(Center.path)
    # Departments of the subtree and of the centers above it (a township officer may belong to a county bureau).
    ancestors = [int(part) for part in user.center_path.strip("/").split("/") if part]
    departments = await Department.select(Department.id, Department.name, Department.center.name.as_alias("center_name")).where(
        (Department.center.path.like(f"{user.center_path}%") | Department.center.is_in(ancestors))
        & (Department.active == True)  # noqa: E712
    ).order_by(Department.name)
    return (
        [(c["id"], c["name"]) for c in centers],
        [(d["id"], f"{d['name']}（{d['center_name']}）") for d in departments],
    )


async def _roles_of(user_id: int) -> set[str]:
    return {row["role"] for row in await StaffRole.select(StaffRole.role).where(StaffRole.user == user_id)}


def _form_context(request: Request, title: str, values: dict, errors: dict, centers, departments, **extra) -> dict:
    user = principal(request)
    grantable = grantable_roles(user.permissions)
    return {
        "title": title,
        "values": values,
        "errors": errors,
        "centers": centers,
        "departments": departments,
        "role_choices": [(role, ROLE_LABELS[role]) for role in grantable],
        **extra,
    }


@get("/admin/staff", opt={"permission": "staff.manage"})
async def staff_list(request: Request) -> Response:
    user = principal(request)
    q = (request.query_params.get("q") or "").strip()[:64]
    after = request.query_params.get("after") or ""
    query = StaffUser.select(
        StaffUser.id, StaffUser.username, StaffUser.display_name, StaffUser.phone, StaffUser.active,
        StaffUser.center.name.as_alias("center_name"),
    ).where(StaffUser.center.path.like(f"{user.center_path}%"))
    if q:
        query = query.where(text_match(StaffUser.username, f"%{q}%") | text_match(StaffUser.display_name, f"%{q}%"))
    if after.isdigit():
        query = query.where(StaffUser.id > int(after))
    rows = await query.order_by(StaffUser.id).limit(PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    roles: dict[int, list[str]] = {}
    if rows:
        for r in await StaffRole.select(StaffRole.user, StaffRole.role).where(StaffRole.user.is_in([row["id"] for row in rows])):
            roles.setdefault(r["user"], []).append(r["role"])
    may_manage_admins = "staff.grant_admin_roles" in user.permissions
    for row in rows:
        row["phone"] = mask_phone(row["phone"])
        row["roles"] = roles.get(row["id"], [])
        # Administrator accounts are managed by the security administrator only: no dead link.
        row["editable"] = may_manage_admins or not (set(row["roles"]) & ADMIN_ROLES)
    return await render(
        request,
        "admin/staff_list.html",
        {"title": _("Staff"), "rows": rows, "q": q, "next_after": rows[-1]["id"] if more else None},
    )


@get("/admin/staff/new", opt={"permission": "staff.manage"})
async def staff_new(request: Request) -> Response:
    centers, departments = await _choices(request)
    return await render(
        request,
        "admin/staff_form.html",
        _form_context(
            request, _("Add a staff member"), {"center": principal(request).center_id, "roles": []}, {}, centers, departments,
            submission_key=new_submission_key(), new=True,
        ),
    )


@post("/admin/staff/new", opt={"permission": "staff.manage"})
async def staff_create(request: Request) -> Response:
    user = principal(request)
    centers, departments = await _choices(request)
    form = await read_form(request)
    data = StaffInput.from_form(form)
    key = form.str("_submission_key")

    async def validate():
        return await data.validate({c for c, _n in centers}, {d for d, _n in departments}, grantable_roles(user.permissions), new=True)

    async def create():
        user_id, password = await service.create_staff(trail(request), data)
        return f"/admin/staff/{user_id}", (user_id, password)

    result = await create_once(key, "staff.create", validate, create)
    if result.errors:
        return await render(
            request,
            "admin/staff_form.html",
            _form_context(request, _("Add a staff member"), data.__dict__, result.errors, centers, departments,
                          submission_key=key or new_submission_key(), new=True),
            status=422,
        )
    if result.duplicate:
        return redirect(request, result.url)
    user_id, password = result.extra
    # The temporary password is shown once, on this response only; it is never stored in clear.
    return await render(
        request,
        "admin/staff_password.html",
        {"title": _("Account created"), "person": data.display_name, "username": data.username, "password": password, "staff_id": user_id},
    )


async def _editable(request: Request, staff_id: int) -> tuple[dict, set[str]]:
    user = principal(request)
    row = await staff_in_scope(user, staff_id)
    roles = await _roles_of(staff_id)
    if roles & ADMIN_ROLES and "staff.grant_admin_roles" not in user.permissions:
        # Only the security administrator manages the three administrator accounts.
        raise PermissionDeniedException()
    return row, roles


async def _detail_context(request: Request, row: dict, roles: set[str], values: dict, errors: dict) -> dict:
    centers, departments = await _choices(request)
    locked = await throttle.locked_until(f"login-user:{row['username'].lower()}")
    return _form_context(
        request, row["display_name"], values, errors, centers, departments,
        person=row, person_roles=roles, locked=locked, new=False, is_self=row["id"] == principal(request).user_id,
    )


@get("/admin/staff/{staff_id:int}", opt={"permission": "staff.manage"})
async def staff_edit(request: Request, staff_id: FromPath[int]) -> Response:
    row, roles = await _editable(request, staff_id)
    values = {**row, "roles": sorted(roles)}
    return await render(request, "admin/staff_form.html", await _detail_context(request, row, roles, values, {}))


@post("/admin/staff/{staff_id:int}", opt={"permission": "staff.manage"})
async def staff_update(request: Request, staff_id: FromPath[int]) -> Response:
    user = principal(request)
    row, roles = await _editable(request, staff_id)
    centers, departments = await _choices(request)
    data = StaffInput.from_form(await read_form(request))
    grantable = grantable_roles(user.permissions)
    # Roles the editor may not grant are kept as they were, never silently dropped.
    data.roles = sorted(set(data.roles) | (roles - set(grantable)))
    if staff_id == user.user_id:
        data.active = True
    errors = await data.validate({c for c, _n in centers}, {d for d, _n in departments}, grantable + tuple(roles - set(grantable)), new=False)
    if errors:
        return await render(request, "admin/staff_form.html", await _detail_context(request, row, roles, {**data.__dict__, "username": row["username"]}, errors), status=422)
    await service.update_staff(trail(request), row, roles, data)
    return redirect(request, f"/admin/staff/{staff_id}", _("The changes have been saved."))


@post("/admin/staff/{staff_id:int}/reset-password", opt={"permission": "staff.manage"})
async def staff_reset_password(request: Request, staff_id: FromPath[int]) -> Response:
    row, _roles = await _editable(request, staff_id)
    password = await service.reset_password(trail(request), row)
    return await render(
        request,
        "admin/staff_password.html",
        {"title": _("Password reset"), "person": row["display_name"], "username": row["username"], "password": password, "staff_id": staff_id},
    )


@post("/admin/staff/{staff_id:int}/{action:str}", opt={"permission": "sessions.manage"})
async def staff_security_action(request: Request, staff_id: FromPath[int], action: FromPath[str]) -> Response:
    row, _roles = await _editable(request, staff_id)
    actions = {
        "unlock": (service.unlock, _("The account has been unlocked.")),
        "revoke-sessions": (service.revoke_sessions, _("All sessions of this account have been ended.")),
        "reset-totp": (service.reset_totp, _("Two-step verification has been reset. The person sets it up again at the next sign-in.")),
    }
    if action not in actions:
        raise NotFoundException()
    run, message = actions[action]
    await run(trail(request), row)
    return redirect(request, f"/admin/staff/{staff_id}", message)


ROUTES = [
    Router(
        path="/",
        guards=[staff_guard],
        route_handlers=[staff_list, staff_new, staff_create, staff_edit, staff_update, staff_reset_password, staff_security_action],
    )
]
