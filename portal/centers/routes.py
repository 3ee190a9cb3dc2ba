"""Admin pages: the center tree, departments, and per-center service modules."""

from __future__ import annotations

from litestar.params import FromPath, FromQuery
from litestar import Request, Response, Router, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException

from portal.centers.modules import ModuleNotAllowed, module_rows, set_allowed, set_enabled
from portal.centers.scope import CHILD_LEVEL, LEVEL_LABELS, center_in_scope, department_in_scope, subtree
from portal.centers.service import (
    LEVEL_FIELDS,
    CenterInput,
    DepartmentInput,
    create_center,
    create_department,
    update_center,
    update_department,
)
from portal.db import create_once, new_submission_key
from portal.auth.guards import staff_guard
from portal.i18n import _
from portal.tables import Center, Department
from portal.web.forms import read_form
from portal.web.render import redirect, render
from portal.web.request import principal, trail

__all__ = ["ROUTES"]

LEVEL_CHOICES = [
    ("at_district", _("District (区县)")),
    ("at_township", _("Township or street (乡镇/街道)")),
    ("at_village", _("Village or community (村/社区)")),
]


async def _centers_in_scope(request: Request) -> list[dict]:
    user = principal(request)
    return await Center.select().where(subtree(user)).order_by(Center.path)


def _tree(rows: list[dict]) -> tuple[list[dict], dict[int, list[dict]]]:
    ids = {row["id"] for row in rows}
    children: dict[int, list[dict]] = {}
    for row in rows:
        children.setdefault(row["parent"], []).append(row)
    roots = [row for row in rows if row["parent"] not in ids]
    return roots, children


# ------------------------------------------------------------------------- centers


@get("/admin/centers", opt={"permission": "centers.manage"})
async def centers_list(request: Request) -> Response:
    roots, children = _tree(await _centers_in_scope(request))
    return await render(
        request,
        "admin/centers.html",
        {"title": _("Centers"), "roots": roots, "children": children, "levels": LEVEL_LABELS, "child_level": CHILD_LEVEL},
    )


def _center_form_context(title: str, values: dict, errors: dict, **extra) -> dict:
    return {"title": title, "values": values, "errors": errors, **extra}


@get("/admin/centers/new", opt={"permission": "centers.manage"})
async def center_new(request: Request, parent: FromQuery[int]) -> Response:
    parent_row = await center_in_scope(principal(request), parent)
    if parent_row["level"] not in CHILD_LEVEL:
        raise NotFoundException()
    return await render(
        request,
        "admin/center_form.html",
        _center_form_context(
            _("Add a center under %(parent)s", parent=parent_row["name"]),
            {"active": True},
            {},
            parent=parent_row,
            submission_key=new_submission_key(),
        ),
    )


@post("/admin/centers/new", opt={"permission": "centers.manage"})
async def center_create(request: Request, parent: FromQuery[int]) -> Response:
    parent_row = await center_in_scope(principal(request), parent)
    if parent_row["level"] not in CHILD_LEVEL:
        raise NotFoundException()
    form = await read_form(request)
    data = CenterInput.from_form(form)
    key = form.str("_submission_key")

    async def create():
        center_id = await create_center(trail(request), parent_row, data)
        return f"/admin/centers/{center_id}", None

    result = await create_once(key, "center.create", data.validate, create)
    if result.errors:
        return await render(
            request,
            "admin/center_form.html",
            _center_form_context(
                _("Add a center under %(parent)s", parent=parent_row["name"]),
                data.__dict__,
                result.errors,
                parent=parent_row,
                submission_key=key or new_submission_key(),
            ),
            status=422,
        )
    if result.duplicate:
        return redirect(request, result.url)
    return redirect(request, result.url, _("The center %(name)s has been added.", name=data.name))


@get("/admin/centers/{center_id:int}", opt={"permission": "centers.manage"})
async def center_edit(request: Request, center_id: FromPath[int]) -> Response:
    row = await center_in_scope(principal(request), center_id)
    return await render(
        request,
        "admin/center_form.html",
        _center_form_context(row["name"], row, {}, center=row, level_label=LEVEL_LABELS[row["level"]]),
    )


@post("/admin/centers/{center_id:int}", opt={"permission": "centers.manage"})
async def center_update(request: Request, center_id: FromPath[int]) -> Response:
    user = principal(request)
    row = await center_in_scope(user, center_id)
    data = CenterInput.from_form(await read_form(request))
    if row["id"] == user.center_id:
        data.active = True  # nobody switches off the center they are signed in at
    errors = await data.validate(own_id=row["id"])
    if errors:
        return await render(
            request,
            "admin/center_form.html",
            _center_form_context(row["name"], data.__dict__, errors, center=row, level_label=LEVEL_LABELS[row["level"]]),
            status=422,
        )
    await update_center(trail(request), row, data)
    return redirect(request, f"/admin/centers/{center_id}", _("The changes have been saved."))


# --------------------------------------------------------------------- departments


async def _department_centers(request: Request) -> list[tuple[int, str]]:
    return [(row["id"], row["name"]) for row in await _centers_in_scope(request)]


@get("/admin/departments", opt={"permission": "departments.manage"})
async def departments_list(request: Request) -> Response:
    user = principal(request)
    rows = (
        await Department.select(Department.all_columns(), Department.center.name.as_alias("center_name"))
        .where(Department.center.path.like(f"{user.center_path}%"))
        .order_by(Department.center.path)
        .order_by(Department.name)
    )
    return await render(request, "admin/departments.html", {"title": _("Departments"), "departments": rows, "level_fields": LEVEL_CHOICES})


@get("/admin/departments/new", opt={"permission": "departments.manage"})
async def department_new(request: Request) -> Response:
    user = principal(request)
    return await render(
        request,
        "admin/department_form.html",
        {
            "title": _("Add a department"),
            "values": {"center": user.center_id, "levels": ["at_district"], "active": True},
            "errors": {},
            "centers": await _department_centers(request),
            "level_choices": LEVEL_CHOICES,
            "submission_key": new_submission_key(),
        },
    )


@post("/admin/departments/new", opt={"permission": "departments.manage"})
async def department_create(request: Request) -> Response:
    centers = await _department_centers(request)
    form = await read_form(request)
    data = DepartmentInput.from_form(form)
    key = form.str("_submission_key")

    async def create():
        department_id = await create_department(trail(request), data)
        return f"/admin/departments/{department_id}", None

    result = await create_once(key, "department.create", lambda: data.validate({cid for cid, _n in centers}), create)
    if result.errors:
        return await render(
            request,
            "admin/department_form.html",
            {
                "title": _("Add a department"),
                "values": data.__dict__,
                "errors": result.errors,
                "centers": centers,
                "level_choices": LEVEL_CHOICES,
                "submission_key": key or new_submission_key(),
            },
            status=422,
        )
    if result.duplicate:
        return redirect(request, result.url)
    return redirect(request, result.url, _("The department %(name)s has been added.", name=data.name))


def _department_values(row: dict) -> dict:
    return {**row, "levels": [level for level in LEVEL_FIELDS if row.get(level)]}


@get("/admin/departments/{department_id:int}", opt={"permission": "departments.manage"})
async def department_edit(request: Request, department_id: FromPath[int]) -> Response:
    row = await department_in_scope(principal(request), department_id)
    return await render(
        request,
        "admin/department_form.html",
        {
            "title": row["name"],
            "values": _department_values(row),
            "errors": {},
            "department": row,
            "centers": await _department_centers(request),
            "level_choices": LEVEL_CHOICES,
        },
    )


@post("/admin/departments/{department_id:int}", opt={"permission": "departments.manage"})
async def department_update(request: Request, department_id: FromPath[int]) -> Response:
    row = await department_in_scope(principal(request), department_id)
    centers = await _department_centers(request)
    data = DepartmentInput.from_form(await read_form(request))
    errors = await data.validate({cid for cid, _n in centers}, own_id=row["id"])
    if errors:
        return await render(
            request,
            "admin/department_form.html",
            {"title": row["name"], "values": data.__dict__, "errors": errors, "department": row, "centers": centers, "level_choices": LEVEL_CHOICES},
            status=422,
        )
    await update_department(trail(request), row, data)
    return redirect(request, f"/admin/departments/{department_id}", _("The changes have been saved."))


# ------------------------------------------------------------------------- modules


@get("/admin/modules", opt={"permission": "modules.view"})
async def modules_page(request: Request) -> Response:
    user = principal(request)
    registry = request.app.state.registry
    modules = sorted(registry.modules.values(), key=lambda m: m.info.label)
    can_allow = user.can("modules.allow") and user.center_level == "district"
    centers = await _centers_in_scope(request) if can_allow else [await center_in_scope(user, user.center_id)]
    states = await module_rows([c["id"] for c in centers])
    return await render(
        request,
        "admin/modules.html",
        {
            "title": _("Service modules"),
            "modules": modules,
            "centers": centers,
            "states": states,
            "can_allow": can_allow,
            "can_enable": user.can("modules.enable"),
            "own": user.center_id,
        },
    )


def _module_name(request: Request, module: str) -> str:
    if module not in request.app.state.registry.modules:
        raise NotFoundException()
    return module


@post("/admin/modules/{center_id:int}/{module:str}/{action:str}", opt={"permission": "modules.view"})
async def module_switch(request: Request, center_id: FromPath[int], module: FromPath[str], action: FromPath[str]) -> Response:
    user = principal(request)
    registry = request.app.state.registry
    module = _module_name(request, module)
    center = await center_in_scope(user, center_id)
    label = registry.modules[module].info.label
    if action in ("allow", "withdraw"):
        # The allowance is the district's decision, for the centers of its own tree.
        if not (user.can("modules.allow") and user.center_level == "district"):
            raise PermissionDeniedException()
        await set_allowed(trail(request), registry, center_id, module, action == "allow")
        message = (
            _("%(module)s may now be used at %(center)s.", module=label, center=center["name"])
            if action == "allow"
            else _("%(module)s has been withdrawn from %(center)s.", module=label, center=center["name"])
        )
    elif action in ("enable", "disable"):
        # A center switches its own modules; upper centers do not run a lower center's services.
        if not user.can("modules.enable") or center_id != user.center_id:
            raise PermissionDeniedException()
        try:
            await set_enabled(trail(request), registry, center_id, module, action == "enable")
        except ModuleNotAllowed:
            return redirect(
                request,
                "/admin/modules",
                _("%(module)s has not been allowed for this center by the district. Ask the district administrator.", module=label),
                "error",
            )
        message = (
            _("%(module)s is now switched on at this center.", module=label)
            if action == "enable"
            else _("%(module)s is now switched off at this center. Its records are kept.", module=label)
        )
    else:
        raise NotFoundException()
    return redirect(request, "/admin/modules", message)


ROUTES = [
    Router(
        path="/",
        guards=[staff_guard],
        route_handlers=[
            centers_list,
            center_new,
            center_create,
            center_edit,
            center_update,
            departments_list,
            department_new,
            department_create,
            department_edit,
            department_update,
            modules_page,
            module_switch,
        ],
    )
]
