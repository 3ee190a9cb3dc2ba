"""Staff pages of the one-stop window: the queue, window registration, the matter page and its actions."""

from __future__ import annotations

import json

from litestar import Request, Response, Router, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath

from portal import clock
from portal.auth.guards import staff_guard
from portal.db import create_once, new_submission_key
from portal.i18n import _
from portal.matters import queue
from portal.matters.clock import clock_state
from portal.matters.forms import MAX_REPRESENTATIVES, action_values, matter_from_form
from portal.centers.scope import center_row, centers_below
from portal.matters.scope import can_change, is_department_officer, matter_in_scope
from portal.matters.service import ACTIONS, Ctx, MatterError, act, register
from portal.matters.tables import FollowUp, Matter, MatterEvent, Notice, Supervision
from portal.matters.vocab import (
    CATEGORIES, CHANNELS, DECLINE_ROUTES, OUTCOMES, RATINGS, RESOLUTIONS, STATUS_LABELS, WINDOW_CHANNELS,
)
from portal.notify.outbox import deliver_soon
from portal.tables import Center, Department, StaffUser
from portal.web.forms import read_form
from portal.web.render import redirect, render, user_center
from portal.web.request import principal, trail

__all__ = ["ROUTES", "staff_ctx"]

SCOPE = {"scope_loaders": {"matter_id": matter_in_scope}}


def staff_ctx(request: Request) -> Ctx:
    user = principal(request)
    return Ctx(
        trail=trail(request), registry=request.app.state.registry, user_id=user.user_id,
        user_label=f"{user.display_name}（{user.center_name}）", center_id=user.center_id,
    )


# ----------------------------------------------------------------------------- queue

@get("/matters", opt={"permission": "matters.view"})
async def matter_queue(request: Request) -> Response:
    user = principal(request)
    filters = queue.Filters.from_query(request.query_params)
    centers = [] if is_department_officer(user) else await centers_below(user.center_path, request.app.state.memo)
    page = await queue.fetch(user, filters, {c["id"]: c["path"] for c in centers})
    context = queue.view_context(filters, centers, page)
    # htmx asks for the table only (filters change it in place); without JS the whole page comes.
    if request.headers.get("hx-target") == "queue-results":
        return await render(request, "matters/_queue_table.html", context, headers={"Vary": "HX-Request"})
    return await render(request, "matters/queue.html", context, headers={"Vary": "HX-Request"})


# ----------------------------------------------------------------------------- registration at the window

async def _registration_context(request: Request, values: dict, errors: dict, key: str) -> dict:
    user = principal(request)
    centers = await centers_below(user.center_path, request.app.state.memo)
    return {
        "title": _("Register a matter"), "values": values, "errors": errors, "submission_key": key,
        "channels": [(c, CHANNELS[c]) for c in WINDOW_CHANNELS], "categories": list(CATEGORIES.items()),
        "centers": [(c["id"], c["name"]) for c in centers], "rep_slots": range(1, MAX_REPRESENTATIVES + 1),
    }


@get("/matters/new", opt={"permission": "matters.register"})
async def matter_new(request: Request) -> Response:
    values = {"channel": "visit", "people_count": "1", "kind": "petition"}
    return await render(request, "matters/new.html", await _registration_context(request, values, {}, new_submission_key()))


@post("/matters/new", opt={"permission": "matters.register"})
async def matter_create(request: Request) -> Response:
    user = principal(request)
    form = await read_form(request)
    key = form.str("_submission_key")
    centers = await centers_below(user.center_path, request.app.state.memo)
    channel = form.str("channel")
    data, errors, values = matter_from_form(
        form, channel=channel if channel in WINDOW_CHANNELS else "", center_ids={c["id"] for c in centers},
        phone_required=channel in ("visit", "phone"),
    )
    center = await center_row(user.center_id, request.app.state.memo)

    async def validate():
        return errors

    async def create():
        created = await register(staff_ctx(request), center, data, registered_by=user.user_id)
        return f"/matters/{created['id']}", created

    result = await create_once(key, "matter.create", validate, create)
    if result.errors:
        return await render(request, "matters/new.html", await _registration_context(request, values, result.errors, key or new_submission_key()), status=422)
    deliver_soon(request.app)
    if result.duplicate:
        return redirect(request, result.url)
    from portal.matters.codes import format_code

    return redirect(request, result.url, _("Registered. Tracking code: %(code)s", code=format_code(result.extra["code"])))


# ----------------------------------------------------------------------------- the matter page

_STATES = {
    "accept": ("registered",), "decline": ("registered",), "forward": ("registered",), "merge": ("registered",),
    "assign": ("registered", "accepted"), "escalate": ("registered", "accepted"), "hand_down": ("registered", "accepted"),
    "object": ("assigned",), "note": tuple(STATUS_LABELS),
    "pause": ("registered", "accepted", "assigned", "review", "rereview"),
    "resume": ("registered", "accepted", "assigned", "review", "rereview"),
    "request_extension": ("accepted", "assigned"), "decide_extension": ("accepted", "assigned"),
    "reply": ("accepted", "assigned", "review", "rereview"),
    "supervise": ("registered", "accepted", "assigned", "review", "rereview"),
    "answer_supervision": tuple(STATUS_LABELS), "close": ("replied",), "follow_up": tuple(STATUS_LABELS),
}
_OFFICER_ACTIONS = ("object", "note", "reply", "request_extension", "pause", "resume")


def _may(user, m: dict, action: str) -> bool:
    """Role and scope allow ``action`` on this matter (the service then checks the state)."""
    if action not in _STATES or not user.can(ACTIONS[action][1]):
        return False
    if action == "supervise":
        # Only an upper center supervises: the matter's center lies strictly below the user's.
        return m["center_path"] != user.center_path and m["center_path"].startswith(user.center_path)
    if not can_change(user, m):
        return False
    if is_department_officer(user):
        return action in _OFFICER_ACTIONS
    return action != "object"  # 退回 is the department's objection


def _available_actions(user, m: dict) -> list[str]:
    """The action forms to show, given role, scope and state."""
    offered = []
    for name, states in _STATES.items():
        if m["status"] not in states or not _may(user, m, name):
            continue
        if name == "merge" and not m["repeat_of"]:
            continue
        if name == "pause" and m["paused_at"] is not None or name == "resume" and m["paused_at"] is None:
            continue
        offered.append(name)
    return offered


async def matter_context(request: Request, m: dict, *, action_errors: dict | None = None, action_values_: dict | None = None) -> dict:
    user = principal(request)
    events = await MatterEvent.select(
        MatterEvent.all_columns(), MatterEvent.center.name.as_alias("center_name")
    ).where(MatterEvent.matter == m["id"]).order_by(MatterEvent.id)
    for event in events:
        event["data"] = json.loads(event["data"] or "{}")
    notice_rows = await Notice.select(Notice.id, Notice.number, Notice.title, Notice.issued_at).where(
        Notice.matter == m["id"]
    ).order_by(Notice.id)
    centers = {c["id"]: c for c in await Center.select(Center.id, Center.name, Center.parent, Center.path, Center.level)}
    department = await Department.select(Department.name).where(Department.id == m["department"]).first() if m["department"] else None
    registered_by = await StaffUser.select(StaffUser.display_name).where(StaffUser.id == m["registered_by"]).first() if m["registered_by"] else None
    earlier = await Matter.select(Matter.id, Matter.code, Matter.status, Matter.final, Matter.summary).where(
        Matter.id == m["repeat_of"]
    ).first() if m["repeat_of"] else None
    from portal.matters.tables import MatterAttachment

    attachments = await MatterAttachment.select(MatterAttachment.id, MatterAttachment.filename, MatterAttachment.size).where(
        MatterAttachment.matter == m["id"]
    ).order_by(MatterAttachment.id)
    supervision = await Supervision.select().where(Supervision.matter == m["id"]).order_by(Supervision.id)
    follow_ups = await FollowUp.select().where(FollowUp.matter == m["id"]).order_by(FollowUp.id)
    from portal.matters.service import _pending_extension

    pending_extension = await _pending_extension(m["id"])
    actions = _available_actions(user, m)
    if "decide_extension" in actions and pending_extension is None:
        actions.remove("decide_extension")
    departments = await Department.select(Department.id, Department.name).where(Department.active == True).order_by(Department.name)  # noqa: E712
    children = [(c["id"], c["name"]) for c in centers.values() if c["parent"] == m["center"]]
    forward_targets = [(c["id"], c["name"]) for c in centers.values() if c["id"] != m["center"]]
    registry = request.app.state.registry
    panels = await registry.collect("matter_panels", user.modules, request=request, center=user_center(request), user=user, matter=m)
    # Actions that modules add (e.g. 吹哨 from check-in), for modules enabled at the user's center.
    module_actions = [
        {"label": action.label, "url": action.url.format(matter_id=m["id"])}
        for plugin, action in registry.matter_actions
        if (plugin in user.modules or plugin not in registry.modules) and (action.permission is None or user.can(action.permission))
    ] if can_change(user, m) else []
    return {
        "title": m["summary"], "m": m, "events": events, "notices": notice_rows, "centers": centers,
        "department": department, "registered_by": registered_by, "earlier": earlier,
        "supervision": supervision, "follow_ups": follow_ups, "pending_extension": pending_extension,
        "actions": actions, "action_errors": action_errors or {}, "action_values": action_values_ or {},
        "departments": [(d["id"], d["name"]) for d in departments], "children": children,
        "forward_targets": forward_targets, "decline_routes": list(DECLINE_ROUTES.items()),
        "outcomes": list(OUTCOMES.items()), "resolutions": list(RESOLUTIONS.items()), "ratings": RATINGS,
        "statuses": STATUS_LABELS, "categories": CATEGORIES, "channels": CHANNELS,
        "state": clock_state(m["due_at"], clock.now()) if m["paused_at"] is None else "paused",
        "representatives": json.loads(m["representatives"] or "[]"), "parties": json.loads(m["parties"] or "[]"),
        "panels": panels, "can_change": can_change(user, m), "attachments": attachments, "module_actions": module_actions,
    }


@get("/matters/{matter_id:int}", opt={"permission": "matters.view", **SCOPE})
async def matter_page(request: Request, matter_id: FromPath[int]) -> Response:
    m = await matter_in_scope(principal(request), matter_id)
    return await render(request, "matters/matter.html", await matter_context(request, m))


@post("/matters/{matter_id:int}/act/{action:str}", opt={"permission": "matters.view", **SCOPE})
async def matter_act(request: Request, matter_id: FromPath[int], action: FromPath[str]) -> Response:
    user = principal(request)
    m = await matter_in_scope(user, matter_id)
    if action not in ACTIONS or ACTIONS[action][1] == "citizen":
        raise NotFoundException()
    if not _may(user, m, action):
        raise PermissionDeniedException()
    form = await read_form(request)
    values, raw_values = action_values(form)
    version = form.int("version")
    try:
        await act(staff_ctx(request), matter_id, action, values, version=version)
    except MatterError as error:
        fresh = await matter_in_scope(user, matter_id)
        context = await matter_context(request, fresh, action_errors={action: str(error)}, action_values_={action: raw_values})
        return await render(request, "matters/matter.html", context, status=422)
    deliver_soon(request.app)
    return redirect(request, f"/matters/{matter_id}", _("Saved."))


# ----------------------------------------------------------------------------- notices

@get("/notices/{notice_id:int}", opt={"permission": "matters.view"})
async def notice_page(request: Request, notice_id: FromPath[int]) -> Response:
    notice = await Notice.select().where(Notice.id == notice_id).first()
    if notice is None:
        raise NotFoundException()
    m = await matter_in_scope(principal(request), notice["matter"])
    center = await Center.select(Center.name).where(Center.id == notice["center"]).first()
    return await render(request, "matters/notice.html", {"title": notice["title"], "notice": notice, "m": m, "issuer": center["name"], "back": f"/matters/{m['id']}"})


from portal.matters.intake import ROUTES as INTAKE_ROUTES  # noqa: E402
from portal.matters.notice_admin import ROUTES as NOTICE_ADMIN_ROUTES  # noqa: E402
from portal.matters.numbers import ROUTES as NUMBERS_ROUTES  # noqa: E402
from portal.matters.tracking import ROUTES as TRACKING_ROUTES  # noqa: E402

@get("/attachments/{attachment_id:int}", opt={"permission": "matters.view"})
async def attachment_download(request: Request, attachment_id: FromPath[int]) -> Response:
    from urllib.parse import quote

    from portal.matters.attachments import path_for
    from portal.matters.tables import MatterAttachment

    row = await MatterAttachment.select().where(MatterAttachment.id == attachment_id).first()
    if row is None or row["matter"] is None:
        raise NotFoundException()
    await matter_in_scope(principal(request), row["matter"])
    content = path_for(request.app.state.settings.data_dir, row["sha256"]).read_bytes()
    await trail(request)("attachment.read", object_type="matter", object_id=row["matter"], fields=("attachment",))
    return Response(
        content, media_type=row["content_type"],
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(row['filename'])}", "Cache-Control": "no-store"},
    )


ROUTES = [
    *TRACKING_ROUTES,
    *INTAKE_ROUTES,
    *NUMBERS_ROUTES,
    *NOTICE_ADMIN_ROUTES,
    Router(
        path="/",
        guards=[staff_guard],
        route_handlers=[matter_queue, matter_new, matter_create, matter_page, matter_act, notice_page, attachment_download],
    )
]
