"""The room: who may be in it, their states, the host's powers, and the room's state as JSON.

Every change of a participant's state writes a ``state`` row to the signal log (recipient NULL)
in the same transaction, so every open stream — in any process — re-reads the room; a participant
who leaves the call (sent back, removed, left) also sends ``bye`` to each admitted peer so their
browsers close that peer connection.

Host rights belong to the session's ``host`` staff id, not to a connection: the host's page may be
reloaded or opened elsewhere and is admitted again at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from litestar.exceptions import NotFoundException, PermissionDeniedException

from portal import clock
from portal.centers.modules import enabled_modules
from portal.db import current_engine, raw, write_transaction

__all__ = [
    "MAX_ADMITTED",
    "RoomError",
    "Seat",
    "citizen_seat",
    "room_state",
    "set_state",
    "staff_seat",
]

MODULE = "video_petition"
MAX_ADMITTED = 6
OPEN = ("approved", "live")  # a room opens once the session is approved, until it ends
STAFF_ROLES = ("window_staff", "center_admin", "leader")


class RoomError(Exception):
    """A request the room's state does not allow (answered 409 with the message)."""


@dataclass(frozen=True)
class Seat:
    """One person in one session's room (their participant row) and the session."""

    session: dict
    participant: dict

    @property
    def id(self) -> int:
        return self.participant["id"]

    @property
    def is_host(self) -> bool:
        return self.participant["kind"] == "host"


async def load_session(session_id: int) -> dict:
    """The session, 404 when unknown or the module is off at its center."""
    rows = await raw("SELECT * FROM video_petition_session WHERE id = {}", session_id)
    if not rows or MODULE not in await enabled_modules(rows[0]["center"]):
        raise NotFoundException()
    return rows[0]


async def _participant(session_id: int, column: str, ident: int) -> dict | None:
    rows = await raw(f"SELECT * FROM video_petition_participant WHERE session = {{}} AND {column} = {{}}", session_id, ident)
    return rows[0] if rows else None


async def _add(session_id: int, kind: str, *, staff: int | None = None, citizen: int | None = None,
               department: int | None = None, name: str, state: str) -> dict:
    column, ident = ("staff", staff) if staff is not None else ("citizen", citizen)
    await raw(
        "INSERT INTO video_petition_participant (session, kind, staff, citizen, department, display_name, state, "
        "consent_recording, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {}, false, {}) ON CONFLICT DO NOTHING",
        session_id, kind, staff, citizen, department, name[:100], state, clock.now(),
    )
    return await _participant(session_id, column, ident)


async def staff_seat(user, session_id: int, *, enter: bool = False) -> Seat:
    """The staff member's seat in the session's room, or 404.

    In the room: the host; anyone already given a seat; an officer of the summoned department;
    window staff, center admins and leaders of the session's own center. ``enter`` (the room page)
    creates the seat and re-admits a returning host.
    """
    session = await load_session(session_id)
    if session["status"] not in OPEN:
        raise NotFoundException()
    existing = await _participant(session_id, "staff", user.user_id)
    if existing is not None and not enter:
        return Seat(session, existing)
    if session["host"] == user.user_id:
        kind, department = "host", None
    elif existing is not None:
        kind, department = existing["kind"], existing["department"]
    elif session["department"] and user.department_id == session["department"]:
        kind, department = "department", session["department"]
    elif user.center_id == session["center"] and user.department_id is None and user.has_role(*STAFF_ROLES):
        kind, department = "staff", None
    else:
        raise NotFoundException()
    if not enter:
        raise NotFoundException()  # a seat is taken on the room page, not by an API call
    label = user.display_name
    if department:
        rows = await raw("SELECT name FROM department WHERE id = {}", department)
        label = f"{rows[0]['name']} {user.display_name}" if rows else label
    async with write_transaction():
        seat = await _add(session_id, kind, staff=user.user_id, department=department, name=label,
                          state="admitted" if kind == "host" else "waiting")
        seat = await _reenter(session, seat)
    return Seat(session, seat)


async def citizen_seat(citizen, session_id: int, center_id: int, *, enter: bool = False) -> Seat:
    """The citizen's seat (the session's own citizen, or a representative given a seat), or 404."""
    session = await load_session(session_id)
    if session["center"] != center_id or session["status"] not in OPEN:
        raise NotFoundException()
    existing = await _participant(session_id, "citizen", citizen.citizen_id)
    if existing is None and session["citizen"] != citizen.citizen_id:
        raise NotFoundException()
    if not enter:
        if existing is None:
            raise NotFoundException()
        return Seat(session, existing)
    async with write_transaction():
        seat = existing or await _add(session_id, "citizen", citizen=citizen.citizen_id,
                                      name=session["name"] or "信访人", state="waiting")
        seat = await _reenter(session, seat)
    return Seat(session, seat)


async def _reenter(session: dict, seat: dict) -> dict:
    """Opening the room page again. The host is admitted (host rights survive a reload); someone
    who left waits again; a removed participant stays out. An admitted participant's old peer
    connections are dead (the page was reloaded): their peers get ``bye`` with reason ``rejoin``
    and build a new connection (the lower id offers)."""
    now = clock.now()
    if seat["kind"] == "host" and seat["state"] != "admitted":
        await _write_state(session["id"], seat["id"], "admitted", now)
        seat = {**seat, "state": "admitted"}
        if session["status"] == "approved":
            await raw("UPDATE video_petition_session SET status = 'live', started_at = {}, version = version + 1 "
                      "WHERE id = {} AND status = 'approved'", now, session["id"])
    elif seat["state"] == "left":
        await _write_state(session["id"], seat["id"], "waiting", now)
        seat = {**seat, "state": "waiting"}
    elif seat["state"] == "admitted":
        await _bye_all(session["id"], seat["id"], "rejoin")
        if seat["kind"] == "host" and session["status"] == "approved":
            await raw("UPDATE video_petition_session SET status = 'live', started_at = {}, version = version + 1 "
                      "WHERE id = {} AND status = 'approved'", now, session["id"])
    else:
        await signal(session["id"], None, None, "state", {})
    return seat


async def signal(session_id: int, sender: int | None, recipient: int | None, kind: str, payload: dict) -> int:
    return (await raw(
        "INSERT INTO video_petition_signal (session, sender, recipient, kind, payload, created_at) "
        "VALUES ({}, {}, {}, {}, {}, {}) RETURNING id",
        session_id, sender, recipient, kind, json.dumps(payload, ensure_ascii=False), clock.now(),
    ))[0]["id"]


async def _admitted(session_id: int) -> list[dict]:
    return await raw("SELECT id FROM video_petition_participant WHERE session = {} AND state = 'admitted' ORDER BY id",
                     session_id)


async def _bye_all(session_id: int, sender: int, reason: str) -> None:
    for peer in await _admitted(session_id):
        if peer["id"] != sender:
            await signal(session_id, sender, peer["id"], "bye", {"reason": reason})
    await signal(session_id, None, None, "state", {})


async def _write_state(session_id: int, participant_id: int, state: str, now) -> None:
    await raw("UPDATE video_petition_participant SET state = {}, updated_at = {} WHERE id = {}", state, now, participant_id)
    await signal(session_id, None, None, "state", {})


async def lock_session(session_id: int) -> None:
    """Inside a write transaction: changes of one room queue on its session row (PostgreSQL;
    SQLite's BEGIN IMMEDIATE already runs one writer at a time)."""
    if current_engine().engine_type == "postgres":
        await raw("SELECT id FROM video_petition_session WHERE id = {} FOR UPDATE", session_id)


async def set_state(seat: Seat, target_id: int, action: str, trail) -> dict:
    """The host admits, sends back (to the waiting room) or removes ``target_id``.

    Raises PermissionDeniedException for anyone but the host, NotFoundException for a participant
    of another session, RoomError when the state does not allow it (a 7th admitted).
    """
    if not seat.is_host:
        raise PermissionDeniedException("only the host")
    session_id = seat.session["id"]
    now = clock.now()
    async with write_transaction():
        await lock_session(session_id)  # two admits at once must not both see 5 admitted
        rows = await raw("SELECT * FROM video_petition_participant WHERE id = {} AND session = {}", target_id, session_id)
        if not rows:
            raise NotFoundException()
        target = rows[0]
        if target["kind"] == "host":
            raise RoomError("主持人不能被移出或退回等候室。")
        if action == "admit":
            if target["state"] == "admitted":
                return target
            if target["state"] == "removed":
                raise RoomError("该参会人已被移出本次接访。")
            if target["state"] != "waiting":
                raise RoomError("该参会人不在等候室，不能请其进入。")
            if len(await _admitted(session_id)) >= MAX_ADMITTED:
                raise RoomError(f"视频接访最多 {MAX_ADMITTED} 人同时在线。")
            await raw("UPDATE video_petition_participant SET state = 'admitted', updated_at = {}, "
                      "joined_at = COALESCE(joined_at, {}) WHERE id = {}", now, now, target_id)
            if target["kind"] == "department" and target["checked_in_at"] is None:
                await attendance(seat, target, now, trail)
            await signal(session_id, None, None, "state", {})
        else:
            new_state = "waiting" if action == "send_back" else "removed"
            was_admitted = target["state"] == "admitted"
            await raw("UPDATE video_petition_participant SET state = {}, updated_at = {} WHERE id = {}",
                      new_state, now, target_id)
            if was_admitted:
                await _bye_all(session_id, target_id, new_state)
            else:
                await signal(session_id, None, None, "state", {})
        await trail(f"video_petition.{action}", object_type="video_petition_session", object_id=session_id,
                    center_id=seat.session["center"], fields=("participant",))
        return {**target, "state": "admitted" if action == "admit" else new_state}


async def leave(seat: Seat) -> None:
    """The participant closed the room (or hung up)."""
    if seat.participant["state"] not in ("admitted", "waiting"):
        return
    async with write_transaction():
        rows = await raw("UPDATE video_petition_participant SET state = 'left', updated_at = {} "
                         "WHERE id = {} AND state IN ('admitted', 'waiting') RETURNING id", clock.now(), seat.id)
        if rows:
            await _bye_all(seat.session["id"], seat.id, "left")


async def attendance(seat: Seat, target: dict, now, trail) -> None:
    """A summoned department admitted to the call has reported (报到): recorded on its seat, and
    noted on the matter's timeline through core's public ``act`` — the check-in module (when
    enabled at the center) reads attendance from the matter like any other record; plugins never
    import each other."""
    await raw("UPDATE video_petition_participant SET checked_in_at = {} WHERE id = {}", now, target["id"])
    matter_id = seat.session["matter"]
    if matter_id:
        from plugins.video_petition.sessions import matter_note

        local = clock.local(now).strftime("%Y-%m-%d %H:%M")
        await matter_note(trail, matter_id, f"视频接访：{target['display_name']} 于 {local} 进入视频接访室（视为报到）。")


async def room_state(session_id: int, me: int) -> dict:
    """The ``state`` event's data for participant ``me`` (see signalling.py's contract)."""
    people = await raw(
        "SELECT id, kind, display_name, state, consent_recording FROM video_petition_participant "
        "WHERE session = {} ORDER BY id", session_id,
    )
    session = (await raw("SELECT host, recording_requested, status FROM video_petition_session WHERE id = {}",
                         session_id))[0]
    host = next((p["id"] for p in people if p["kind"] == "host"), None)
    mine = next((p["state"] for p in people if p["id"] == me), "left")
    recording = await raw("SELECT id FROM video_petition_recording WHERE session = {} AND state = 'on' "
                          "ORDER BY id DESC LIMIT 1", session_id)
    if recording:
        rec = {"id": recording[0]["id"], "state": "on"}
    elif session["recording_requested"]:
        rec = {"id": None, "state": "waiting_consent"}
    else:
        rec = {"id": None, "state": "off"}
    return {
        "me": me,
        "my_state": mine,
        "host": host,
        "session_state": session["status"],
        "participants": [
            {"id": p["id"], "name": p["display_name"], "kind": p["kind"], "state": p["state"],
             "consent_recording": bool(p["consent_recording"])}
            for p in people if p["state"] in ("waiting", "admitted")
        ],
        "recording": rec,
    }
