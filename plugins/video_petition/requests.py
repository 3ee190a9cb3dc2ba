"""The request and the decision.

Citizens (signed in with phone + SMS code) at /m/video_petition/c/{center_code}/: the guide and
their sessions, the request form (after booking a reception slot, ``?booking=`` completes that
booking's session; without one, a new request with a preferred time), and a session's page (its
state, the room's link, the minutes to sign).

Staff at /m/video_petition/: the list of their center's sessions, a session's page with the ID
check (who, when, how), approval (host, time, summoned department; a new matter is registered
when the citizen named none) or refusal with a reason, and the room's link.
"""

from __future__ import annotations

import datetime as dt

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal import clock
from portal.auth import throttle
from portal.centers.scope import in_scope
from portal.citizens.guards import citizen_guard, citizen_of
from portal.db import create_once, new_submission_key, raw
from portal.matters.codes import format_code, parse_code
from portal.notify.outbox import deliver_soon
from portal.web.forms import parse_local_datetime, read_form
from portal.web.render import redirect, render
from portal.web.request import citizen_trail, client_ip, principal, trail

from plugins.video_petition import sessions as svc
from plugins.video_petition.rooms import load_session
from plugins.video_petition.routes import citizen_center

__all__ = ["ROUTES", "matter_sessions"]

SESSION = "/m/video_petition/sessions/{}"
LOOKUP_LIMIT = (20, dt.timedelta(minutes=15))


def local_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return clock.local(value).strftime("%Y-%m-%d %H:%M")


async def matter_sessions(matter_id: int) -> list[dict]:
    rows = await raw("SELECT id, service, status, scheduled_at FROM video_petition_session WHERE matter = {} ORDER BY id",
                     matter_id)
    return [{**row, "service_label": svc.SERVICES.get(row["service"], ""), "status_label": svc.STATUS_LABELS.get(row["status"], ""),
             "when": local_text(row["scheduled_at"])} for row in rows]


# ----------------------------------------------------------------------------- citizens


def _citizen_base(code: str) -> str:
    return f"/m/video_petition/c/{code}"


async def _booked_session(citizen_id: int, center: dict, booking: str | None) -> dict | None:
    if not booking or not booking.isdigit():
        return None
    rows = await raw("SELECT * FROM video_petition_session WHERE booking = {} AND citizen = {} AND center = {} "
                     "AND status = 'requested'", int(booking), citizen_id, center["id"])
    return rows[0] if rows else None


@get("/c/{center_code:str}", guards=[citizen_guard])
async def citizen_home(request: Request, center_code: FromPath[str]) -> Response:
    center = await citizen_center(center_code)
    rows = await raw("SELECT * FROM video_petition_session WHERE citizen = {} AND center = {} ORDER BY id DESC LIMIT 50",
                     citizen_of(request).citizen_id, center["id"])
    return await render(request, "video_petition/citizen_home.html", {
        "title": "视频信访", "center": center, "base": _citizen_base(center_code),
        "rows": [{**r, "service_label": svc.SERVICES.get(r["service"], ""), "status_label": svc.STATUS_LABELS.get(r["status"], ""),
                  "when": local_text(r["scheduled_at"])} for r in rows],
    })


async def _request_page(request: Request, center: dict, values: dict, errors: dict, key: str, booked: dict | None,
                        status: int = 200) -> Response:
    return await render(request, "video_petition/request.html", {
        "title": "申请视频接访", "center": center, "values": values, "errors": errors, "submission_key": key,
        "booked": booked, "booked_when": local_text(booked["scheduled_at"]) if booked else "",
        "services": list(svc.SERVICES.items()), "base": _citizen_base(center["code"]),
    }, status=status)


@get("/c/{center_code:str}/request", guards=[citizen_guard])
async def request_form(request: Request, center_code: FromPath[str]) -> Response:
    center = await citizen_center(center_code)
    booked = await _booked_session(citizen_of(request).citizen_id, center, request.query_params.get("booking"))
    values = {"service": booked["service"] if booked else "leader", "mode": "new", "name": booked["name"] if booked else "",
              "booking": str(booked["booking"]) if booked else ""}
    return await _request_page(request, center, values, {}, new_submission_key(), booked)


@post("/c/{center_code:str}/request", guards=[citizen_guard])
async def request_submit(request: Request, center_code: FromPath[str]) -> Response:
    center = await citizen_center(center_code)
    citizen = citizen_of(request)
    form = await read_form(request)
    values = {
        "service": form.str("service", 12), "mode": form.str("mode", 8), "code": form.str("code", 40, ascii_fold=True),
        "last4": form.str("last4", 8, ascii_fold=True), "description": form.str("description", 2000),
        "name": form.str("name", 50), "preferred": form.str("preferred", 100), "booking": form.str("booking", 12),
    }
    key = form.str("_submission_key", 64)
    booked = await _booked_session(citizen.citizen_id, center, values["booking"])
    if booked:
        values["service"] = booked["service"]
    found: dict = {}

    async def validate() -> dict:
        errors = {}
        if values["service"] not in svc.SERVICES:
            errors["service"] = "请选择接访方式。"
        if not values["name"]:
            errors["name"] = "请填写您的姓名。"
        if values["mode"] == "existing":
            code = parse_code(values["code"])
            if code is None:
                errors["code"] = "请填写正确的事项查询码（12 位字母和数字，例如 7KQ2-M9XD-4HTP）。"
            elif not (values["last4"].isdigit() and len(values["last4"]) == 4):
                errors["last4"] = "请填写登记事项时所留手机号的后四位。"
            else:
                verdict = await throttle.hit(f"vp-lookup:{client_ip(request)}", *LOOKUP_LIMIT)
                rows = await raw("SELECT id, phone_last4 FROM matter WHERE code = {}", code)
                if not verdict.allowed:
                    errors["code"] = "尝试次数过多，请 15 分钟后再试，或致电中心。"
                elif not rows or rows[0]["phone_last4"] != values["last4"]:
                    errors["code"] = "查询码与手机号后四位不匹配，请核对后重试。"
                else:
                    found["matter"] = rows[0]["id"]
        elif values["mode"] == "new":
            if len(values["description"]) < 10:
                errors["description"] = "请简要说明您要反映的问题（至少 10 个字）。"
        else:
            errors["mode"] = "请选择是已登记的事项还是新的事项。"
        if not booked and not values["preferred"]:
            errors["preferred"] = "请写明您方便的日期和时间，例如“下周二上午”。"
        return errors

    async def create():
        if booked:
            await raw("UPDATE video_petition_session SET matter = {}, description = {}, name = {}, phone = {}, "
                      "version = version + 1 WHERE id = {}", found.get("matter"), values["description"], values["name"],
                      citizen.phone, booked["id"])
            session_id = booked["id"]
        else:
            session_id = await svc.create_request(center, citizen.citizen_id, citizen.phone, values, found.get("matter"))
        await citizen_trail(request, citizen.citizen_id)("video_petition.requested", object_type="video_petition_session",
                                                         object_id=session_id, center_id=center["id"])
        return f"{_citizen_base(center_code)}/sessions/{session_id}", session_id

    result = await create_once(key, "video_petition.request", validate, create)
    if result.errors:
        return await _request_page(request, center, values, result.errors, key, booked, status=422)
    deliver_soon(request.app)
    return redirect(request, result.url, "申请已提交。中心核验身份并审核后会短信通知您。")


async def _citizen_session(request: Request, center_code: str, session_id: int) -> tuple[dict, dict]:
    center = await citizen_center(center_code)
    rows = await raw("SELECT * FROM video_petition_session WHERE id = {} AND center = {}", session_id, center["id"])
    citizen = citizen_of(request)
    if not rows:
        raise NotFoundException()
    seated = await raw("SELECT 1 FROM video_petition_participant WHERE session = {} AND citizen = {}", session_id,
                       citizen.citizen_id)
    if rows[0]["citizen"] != citizen.citizen_id and not seated:
        raise NotFoundException()
    return center, rows[0]


@get("/c/{center_code:str}/sessions/{session_id:int}", guards=[citizen_guard])
async def citizen_session(request: Request, center_code: FromPath[str], session_id: FromPath[int]) -> Response:
    from plugins.video_petition.minutes import minutes_of

    center, session = await _citizen_session(request, center_code, session_id)
    minutes = await minutes_of(session_id)
    return await render(request, "video_petition/citizen_session.html", {
        "title": "我的视频接访", "center": center, "session": session, "base": _citizen_base(center_code),
        "service_label": svc.SERVICES.get(session["service"], ""), "status_label": svc.STATUS_LABELS.get(session["status"], ""),
        "when": local_text(session["scheduled_at"]), "minutes": minutes, "errors": {},
        "signed_when": local_text(minutes["signed_at"]) if minutes else "",
    })


# ----------------------------------------------------------------------------- staff


async def staff_session(user, session_id: int) -> dict:
    """A session of the member's center or below (404 otherwise)."""
    session = await load_session(session_id)
    center = (await raw("SELECT * FROM center WHERE id = {}", session["center"]))[0]
    if not in_scope(user, center["path"]):
        raise NotFoundException()
    return {**session, "center_row": center}


@get("/", opt={"permission": "video_petition.view"})
async def session_list(request: Request) -> Response:
    user = principal(request)
    status = request.query_params.get("status", "")
    where, args = ["c.path >= {} AND c.path < {}"], []
    from portal.centers.scope import prefix_range

    args += list(prefix_range(user.center_path))
    if status in svc.STATUS_LABELS:
        where.append("s.status = {}")
        args.append(status)
    rows = await raw(
        "SELECT s.id, s.service, s.status, s.name, s.scheduled_at, s.created_at, s.id_checked_at, c.name AS center_name, "
        "u.display_name AS host_name FROM video_petition_session s JOIN center c ON c.id = s.center "
        "LEFT JOIN staff_user u ON u.id = s.host WHERE " + " AND ".join(where) + " ORDER BY s.id DESC LIMIT 100", *args)
    return await render(request, "video_petition/list.html", {
        "title": "视频接访", "status": status, "statuses": list(svc.STATUS_LABELS.items()),
        "rows": [{**r, "service_label": svc.SERVICES.get(r["service"], ""), "status_label": svc.STATUS_LABELS.get(r["status"], ""),
                  "when": local_text(r["scheduled_at"])} for r in rows],
    })


async def _hosts(center_id: int) -> list[dict]:
    return await raw(
        "SELECT DISTINCT u.id, u.display_name FROM staff_user u JOIN staff_role r ON r.\"user\" = u.id "
        "WHERE u.center = {} AND u.active AND u.department IS NULL AND r.role IN ('leader', 'center_admin', 'window_staff') "
        "ORDER BY u.id", center_id)


async def _departments(center: dict) -> list[dict]:
    ids = [int(part) for part in center["path"].strip("/").split("/") if part]
    marks = ", ".join("{}" for _ in ids)
    return await raw(f"SELECT id, name FROM department WHERE active AND center IN ({marks}) ORDER BY name", *ids)


async def _session_page(request: Request, session: dict, errors: dict | None = None, values: dict | None = None,
                        status: int = 200) -> Response:
    user = principal(request)
    checker = None
    if session["id_checked_by"]:
        checker = (await raw("SELECT display_name FROM staff_user WHERE id = {}", session["id_checked_by"]))[0]["display_name"]
    matter = None
    if session["matter"]:
        rows = await raw("SELECT id, code FROM matter WHERE id = {}", session["matter"])
        matter = {"id": rows[0]["id"], "code": format_code(rows[0]["code"])} if rows else None
    representatives = await raw("SELECT display_name, state FROM video_petition_participant WHERE session = {} "
                                "AND kind = 'citizen' AND (citizen IS NULL OR citizen <> {}) ORDER BY id",
                                session["id"], session["citizen"] or 0)
    recordings = await raw("SELECT id, state, size, sha256, finished_at FROM video_petition_recording WHERE session = {} "
                           "ORDER BY id", session["id"])
    host = None
    if session["host"]:
        host = (await raw("SELECT display_name FROM staff_user WHERE id = {}", session["host"]))[0]["display_name"]
    values = {"rep_name": "", "rep_phone": "", **(values or {
        "host": str(session["host"] or ""), "department": str(session["department"] or ""),
        "scheduled_at": local_text(session["scheduled_at"]), "method": "", "reason": ""})}
    return await render(request, "video_petition/session.html", {
        "title": "视频接访", "s": session, "errors": errors or {}, "values": values, "checker": checker,
        "checked_when": local_text(session["id_checked_at"]), "when": local_text(session["scheduled_at"]),
        "service_label": svc.SERVICES.get(session["service"], ""), "status_label": svc.STATUS_LABELS.get(session["status"], ""),
        "methods": list(svc.ID_METHODS.items()), "method_label": svc.ID_METHODS.get(session["id_check_method"], ""),
        "hosts": [(str(h["id"]), h["display_name"]) for h in await _hosts(session["center"])],
        "departments": [(str(d["id"]), d["name"]) for d in await _departments(session["center_row"])],
        "matter": matter, "host_name": host, "recordings": recordings, "can_manage": user.can("video_petition.manage"),
        "can_join": session["status"] in ("approved", "live"), "representatives": representatives,
    }, status=status)


@get("/sessions/{session_id:int}", opt={"permission": "video_petition.view"})
async def session_page(request: Request, session_id: FromPath[int]) -> Response:
    return await _session_page(request, await staff_session(principal(request), session_id))


def _who(request: Request) -> svc.Who:
    user = principal(request)
    return svc.Who(trail=trail(request), registry=request.app.state.registry, user_id=user.user_id,
                   label=f"{user.display_name}（{user.center_name}）")


@post("/sessions/{session_id:int}/id-check", opt={"permission": "video_petition.manage"})
async def id_check(request: Request, session_id: FromPath[int]) -> Response:
    session = await staff_session(principal(request), session_id)
    form = await read_form(request)
    method = form.str("method", 20)
    if session["status"] != "requested":
        return await _session_page(request, session, {"method": "这次接访已经审核过了。"}, status=409)
    if method not in svc.ID_METHODS:
        values = {"host": form.str("host", 12), "department": "", "scheduled_at": "", "method": method, "reason": ""}
        return await _session_page(request, session, {"method": "请选择核验身份的方式。"}, values, status=422)
    await svc.check_id(_who(request), session, method)
    return redirect(request, SESSION.format(session_id), "已记录身份核验。")


@post("/sessions/{session_id:int}/decide", opt={"permission": "video_petition.manage"})
async def decide(request: Request, session_id: FromPath[int]) -> Response:
    user = principal(request)
    session = await staff_session(user, session_id)
    form = await read_form(request)
    values = {"host": form.str("host", 12), "department": form.str("department", 12),
              "scheduled_at": form.str("scheduled_at", 20), "method": "", "reason": form.str("reason", 1000)}
    decision = form.str("decision", 10)
    version = form.int("version") or 0
    if session["status"] != "requested":
        return redirect(request, SESSION.format(session_id), "这次接访已经审核过了。", "warning")
    center = session["center_row"]
    if decision == "refuse":
        if len(values["reason"]) < 4:
            return await _session_page(request, session, {"reason": "请写明不予安排的理由（会告知申请人）。"}, values, status=422)
        if not await svc.refuse(_who(request), session, center, values["reason"], version):
            return redirect(request, SESSION.format(session_id), "别人刚刚处理过这条申请，请看最新状态。", "warning")
        deliver_soon(request.app)
        return redirect(request, SESSION.format(session_id), "已告知申请人不予安排及理由。")
    if decision != "approve":
        raise NotFoundException()
    errors = {}
    if session["id_checked_at"] is None:
        errors["method"] = "请先核验申请人身份，再安排接访。"
    hosts = {str(h["id"]) for h in await _hosts(session["center"])}
    if values["host"] not in hosts:
        errors["host"] = "请选择主持接访的领导或工作人员。"
    departments = {str(d["id"]) for d in await _departments(center)}
    if values["department"] and values["department"] not in departments:
        errors["department"] = "请选择本中心可召集的部门。"
    if session["service"] == "department" and not values["department"]:
        errors["department"] = "部门视频接访请选择参加的部门。"
    when = parse_local_datetime(values["scheduled_at"])
    if when is None:
        errors["scheduled_at"] = "请按“2026-12-01 09:30”的格式填写接访时间。"
    elif when < clock.now() - dt.timedelta(hours=1):
        errors["scheduled_at"] = "接访时间不能早于现在。"
    if errors:
        return await _session_page(request, session, errors, values, status=422)
    ok = await svc.approve(_who(request), session, center, int(values["host"]),
                           int(values["department"]) if values["department"] else None, when, version)
    if not ok:
        return redirect(request, SESSION.format(session_id), "别人刚刚处理过这条申请，请看最新状态。", "warning")
    deliver_soon(request.app)
    return redirect(request, SESSION.format(session_id), "已安排视频接访并短信通知申请人。")


@post("/sessions/{session_id:int}/representatives", opt={"permission": "video_petition.manage"})
async def add_representative(request: Request, session_id: FromPath[int]) -> Response:
    from portal.web.forms import normalize_phone

    session = await staff_session(principal(request), session_id)
    form = await read_form(request)
    name, raw_phone = form.str("rep_name", 30), form.str("rep_phone", 20, ascii_fold=True)
    values = {"host": "", "department": "", "scheduled_at": "", "method": "", "reason": "",
              "rep_name": name, "rep_phone": raw_phone}
    errors = {}
    phone = normalize_phone(raw_phone)
    if not name:
        errors["rep_name"] = "请填写代表的姓名。"
    if not phone:
        errors["rep_phone"] = "请填写 11 位手机号码，例如 138 0000 0000。"
    if session["status"] not in ("requested", "approved", "live"):
        errors["rep_name"] = "这次接访已经结束，不能再添加代表。"
    if not errors:
        problem = await svc.add_representative(_who(request), session, session["center_row"], name, phone)
        if problem:
            errors["rep_phone"] = problem
    if errors:
        return await _session_page(request, session, errors, values, status=422)
    deliver_soon(request.app)
    return redirect(request, SESSION.format(session_id), "已添加代表，并短信告知进入方式。")


ROUTES = [add_representative, citizen_home, request_form, request_submit, citizen_session, session_list, session_page, id_check, decide]
