"""The room's HTTP side: the room page, its event stream and POST endpoints, for staff
(/m/video_petition/room/…) and for citizens (/m/video_petition/c/{center_code}/room/…).

Staff room routes declare ``module_at: record``: a department officer summoned from the district
joins a township's reception, so the module is checked at the *session's* center
(``rooms.load_session``). Citizen routes carry ``center_code`` (module_guard checks that center)
and ``citizen_guard``. Anyone not seated in the session gets 404; a seated non-host asking for the
host's powers gets 403.
"""

from __future__ import annotations

import json

from litestar import Request, Response, get, post
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.params import FromPath
from litestar.response import ServerSentEvent

from portal.citizens.guards import citizen_guard, citizen_of
from portal.db import raw
from portal.web.render import redirect, render
from portal.web.request import principal, trail

from plugins.video_petition import rooms
from plugins.video_petition.provider import ice_servers, room_for
from plugins.video_petition.rooms import RoomError, Seat
from plugins.video_petition.signalling import room_stream, send_signal, wake_room

__all__ = ["ROUTES", "body_of", "citizen_center", "json_error"]

RECORD = {"module_at": "record"}
NO_STORE = {"Cache-Control": "no-store"}


async def body_of(request: Request) -> dict:
    """A JSON body or a form, as a dict (the room script sends JSON, a no-JS form posts a form)."""
    if (request.headers.get("content-type") or "").startswith("application/json"):
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    form = await request.form()
    return {key: form.get(key) for key in form.keys()}


def json_error(message: str, status: int = 409, **extra) -> Response:
    return Response(content={"error": message, **extra}, status_code=status, headers=NO_STORE)


def _ok(request: Request, back: str) -> Response:
    if (request.headers.get("content-type") or "").startswith("application/json"):
        return Response(content=None, status_code=204)
    return redirect(request, back)


async def citizen_center(center_code: str) -> dict:
    rows = await raw("SELECT id, code, name, phone, path FROM center WHERE code = {} AND active", center_code)
    if not rows:
        raise NotFoundException()
    return rows[0]


async def _center_phone(center_id: int) -> str:
    rows = await raw("SELECT phone FROM center WHERE id = {}", center_id)
    return rows[0]["phone"] if rows else ""


async def _staff_seat(request: Request, session_id: int, enter: bool = False) -> Seat:
    return await rooms.staff_seat(principal(request), session_id, enter=enter)


async def _citizen_seat(request: Request, center_code: str, session_id: int, enter: bool = False) -> Seat:
    center = await citizen_center(center_code)
    return await rooms.citizen_seat(citizen_of(request), session_id, center["id"], enter=enter)


async def _room_page(request: Request, seat: Seat, base: str, back: str, center_code: str = "") -> Response:
    info = room_for(seat.session, seat.participant, center_code=center_code)
    context = {
        "title": "视频接访", "session_id": seat.session["id"], "me": seat.id, "role": seat.participant["kind"],
        "ice_servers": ice_servers(), "center_phone": await _center_phone(seat.session["center"]),
        "base_url": base, "back_url": back, "my_state": seat.participant["state"],
    }
    if info.kind == "external":
        return await render(request, "video_petition/external.html", {**context, "external_url": info.url})
    return await render(request, "video_petition/room.html", context)


def _last_event_id(request: Request) -> int | None:
    value = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    return int(value) if value and value.isdigit() else None


def _stream(request: Request, seat: Seat, staff_session: int | None, citizen_session: int | None = None) -> ServerSentEvent:
    if "text/event-stream" not in request.headers.get("accept", ""):
        # Opened as a page: an error page, not an answer that never ends.
        raise HTTPException(status_code=406, detail="event stream only")
    return ServerSentEvent(
        room_stream(request.app, seat, last_event_id=_last_event_id(request), staff_session=staff_session,
                    citizen_session=citizen_session),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _signal(request: Request, seat: Seat) -> Response:
    data = await body_of(request)
    try:
        await send_signal(seat, data.get("to"), data.get("kind"), data.get("payload"))
    except ValueError:
        return json_error("信令格式不正确。", 400)
    except RoomError as exc:
        return json_error(str(exc))
    return Response(content=None, status_code=204)


async def _host_action(request: Request, seat: Seat, action: str, audit, back: str) -> Response:
    if not seat.is_host:
        raise PermissionDeniedException("only the host")
    data = await body_of(request)
    try:
        target = int(data.get("participant"))
    except (TypeError, ValueError):
        raise NotFoundException() from None
    try:
        await rooms.set_state(seat, target, action, audit)
    except RoomError as exc:
        return json_error(str(exc))
    wake_room(seat.session["id"])
    return _ok(request, back)


async def _leave(request: Request, seat: Seat) -> Response:
    await rooms.leave(seat)
    wake_room(seat.session["id"])
    return Response(content=None, status_code=204)


# ----------------------------------------------------------------------------- staff


def _staff_room(session_id: int) -> str:
    return f"/m/video_petition/room/{session_id}"


@get("/room/{session_id:int}", opt=RECORD)
async def staff_room(request: Request, session_id: FromPath[int]) -> Response:
    seat = await _staff_seat(request, session_id, enter=True)
    wake_room(session_id)
    back = f"/m/video_petition/sessions/{session_id}"
    return await _room_page(request, seat, "/m/video_petition", back)


@get("/room/{session_id:int}/events", opt=RECORD)
async def staff_events(request: Request, session_id: FromPath[int]) -> ServerSentEvent:
    seat = await _staff_seat(request, session_id)
    return _stream(request, seat, principal(request).session_id)


@post("/room/{session_id:int}/signal", opt=RECORD)
async def staff_signal(request: Request, session_id: FromPath[int]) -> Response:
    return await _signal(request, await _staff_seat(request, session_id))


@post("/room/{session_id:int}/{action:str}", opt=RECORD)
async def staff_action(request: Request, session_id: FromPath[int], action: FromPath[str]) -> Response:
    seat = await _staff_seat(request, session_id)
    if action in ("admit", "send_back", "remove"):
        return await _host_action(request, seat, action, trail(request), _staff_room(session_id))
    if action == "leave":
        return await _leave(request, seat)
    if action == "end":
        from plugins.video_petition.recordings import end_session

        if not seat.is_host:
            raise PermissionDeniedException("only the host")
        await end_session(seat, trail(request))
        wake_room(session_id)
        return _ok(request, f"/m/video_petition/sessions/{session_id}/minutes")
    raise NotFoundException()


@get("/device-check")
async def staff_device_check(request: Request) -> Response:
    user = principal(request)
    return await render(request, "video_petition/device_check.html", {
        "title": "检查摄像头和麦克风", "center_phone": await _center_phone(user.center_id), "base_url": "/m/video_petition",
    })


# ----------------------------------------------------------------------------- citizens


def _citizen_base(center_code: str) -> str:
    return f"/m/video_petition/c/{center_code}"


@get("/c/{center_code:str}/room/{session_id:int}", guards=[citizen_guard])
async def citizen_room(request: Request, center_code: FromPath[str], session_id: FromPath[int]) -> Response:
    seat = await _citizen_seat(request, center_code, session_id, enter=True)
    wake_room(session_id)
    base = _citizen_base(center_code)
    return await _room_page(request, seat, base, f"{base}/sessions/{session_id}", center_code)


@get("/c/{center_code:str}/room/{session_id:int}/events", guards=[citizen_guard])
async def citizen_events(request: Request, center_code: FromPath[str], session_id: FromPath[int]) -> ServerSentEvent:
    seat = await _citizen_seat(request, center_code, session_id)
    return _stream(request, seat, None, citizen_of(request).session_id)


@post("/c/{center_code:str}/room/{session_id:int}/signal", guards=[citizen_guard])
async def citizen_signal(request: Request, center_code: FromPath[str], session_id: FromPath[int]) -> Response:
    return await _signal(request, await _citizen_seat(request, center_code, session_id))


@post("/c/{center_code:str}/room/{session_id:int}/{action:str}", guards=[citizen_guard])
async def citizen_action(request: Request, center_code: FromPath[str], session_id: FromPath[int],
                         action: FromPath[str]) -> Response:
    seat = await _citizen_seat(request, center_code, session_id)
    if action in ("admit", "send_back", "remove", "end"):
        raise PermissionDeniedException("only the host")  # a citizen is never the host
    if action == "leave":
        return await _leave(request, seat)
    raise NotFoundException()


@get("/c/{center_code:str}/device-check")
async def citizen_device_check(request: Request, center_code: FromPath[str]) -> Response:
    center = await citizen_center(center_code)
    return await render(request, "video_petition/device_check.html", {
        "title": "检查摄像头和麦克风", "center_phone": center["phone"], "base_url": _citizen_base(center_code),
    })


ROOM_ROUTES = [
    staff_room, staff_events, staff_signal, staff_action, staff_device_check,
    citizen_room, citizen_events, citizen_signal, citizen_action, citizen_device_check,
]
ROUTES = list(ROOM_ROUTES)
