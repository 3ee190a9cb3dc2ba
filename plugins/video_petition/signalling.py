"""Signalling of the built-in room: server-sent events down, POST up, the database in between.

CONTRACT FOR THE ROOM'S SCRIPT (V2) — what V1 serves (extends video_common.md's contract):

Staff (signed in):                        Citizen (signed in with phone + SMS code):
  GET  /m/video_petition/room/{sid}         GET  /m/video_petition/c/{center_code}/room/{sid}
  and the same suffixes below under          and the same suffixes below under
  /m/video_petition/room/{sid}/…             /m/video_petition/c/{center_code}/room/{sid}/…
    GET  events              text/event-stream (state + signal events, ``id:`` = signal row id;
                             EventSource's Last-Event-ID resumes after it)
    POST signal              JSON {"to": id, "kind": "offer|answer|ice|bye", "payload": {...}} → 204;
                             409 unless sender and recipient are both admitted
    POST admit|send_back|remove   form or JSON {"participant": id}: host → 204 (JSON) or 303 back to
                             the room (form); another participant → 403; 409 with
                             {"error": "..."} for a 7th admitted or a removed participant
    POST leave               (navigator.sendBeacon with a FormData holding _csrf_token) → 204
    POST recording/consent   {"agree": true|false} → 204
    POST recording/request   host: asks everyone for consent (recording.state = waiting_consent)
    POST recording/start     host → 201 {"id": rec_id}; 409 {"error", "missing": [ids]} until every
                             admitted participant consented
    POST recording/stop      host → 204
    POST end                 host: ends the session (everyone gets state session_state=ended)
  Recordings (host's browser uploads; staff URLs only):
    POST /m/video_petition/recordings/{rec}/chunks/{seq}   raw body ≤ 8 MiB, 204; the same seq again
                             with the same bytes → 204, with other bytes → 409
    GET  /m/video_petition/recordings/{rec}/chunks          {"received": [0, 1, …]}
    POST /m/video_petition/recordings/{rec}/finish          {"chunks": N} → 200 {"sha256", "size"};
                             409 {"missing": [...]} when some seq < N is absent
    GET  /m/video_petition/recordings/{rec}/media           playback (authorised staff only)
  Every POST carries the X-CSRFToken header from <meta name="csrf-token">.

Room page (V2's room.html) is rendered with: title, session_id, me (my participant id), role
(host|citizen|staff|department), ice_servers (list, from PORTAL_VIDEO_ICE_SERVERS), center_phone,
base_url ("/m/video_petition" for staff, "/m/video_petition/c/{center_code}" for citizens), back_url
(the session's page), my_state. With PORTAL_VIDEO_PROVIDER=jitsi the page is external.html instead.
A citizen's representatives (up to 5, seated by staff) use the citizen URLs like the citizen.
Admit is refused (409) unless the participant is in the waiting room; one who left comes back
through it by opening the room page again.

Events: ``state`` data {"me", "my_state", "host", "session_state", "participants": [{"id", "name",
"kind", "state", "consent_recording"}] (waiting and admitted only), "recording": {"id", "state"}};
``signal`` data {"from": id, "kind": "offer|answer|ice|bye", "payload": {...}}. ``bye`` payload
{"reason": "waiting|removed|left|rejoin"}: close the connection with ``from``; on "rejoin" the peer
reloaded its page and, when both stay admitted, the lower id offers again.

Why polling: as portal/notify/live.py explains, the app runs as several processes on one
database (SQLite or PostgreSQL) with no broker; the signal row is the durable fact. Each open
stream polls its room (one indexed range query on (session, id)) every ``POLL_SECONDS``; a POST
in the same process wakes that room's streams at once. Streams end when the app stops (the live
hub's ``closed``, set on SIGTERM/SIGINT and at shutdown) and when the staff or citizen session
ends (a last ``signed-out`` event).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from litestar.response.sse import ServerSentEventMessage

from portal import clock
from portal.db import current_engine, raw, read, write_transaction
from portal.notify.live import KEEPALIVE_SECONDS, RETRY_MS, SESSION_CHECK_SECONDS, session_valid

from plugins.video_petition.rooms import RoomError, Seat, room_state, signal

__all__ = ["POLL_SECONDS", "room_stream", "send_signal", "wake_room"]

POLL_SECONDS = 0.5
HOLD_SECONDS_PG = 10.0
KINDS = ("offer", "answer", "ice", "bye")
MAX_PAYLOAD = 64 * 1024

_waiters: dict[int, set[asyncio.Event]] = {}


def wake_room(session_id: int) -> None:
    """Streams of this room in this process poll now (a POST just committed a signal)."""
    for event in list(_waiters.get(session_id, ())):
        event.set()


async def send_signal(seat: Seat, to: Any, kind: Any, payload: Any) -> None:
    if kind not in KINDS or not isinstance(payload, dict | type(None)):
        raise ValueError("bad signal")
    try:
        to = int(to)
    except (TypeError, ValueError):
        raise ValueError("bad recipient") from None
    body = json.dumps(payload or {}, ensure_ascii=False)
    if len(body) > MAX_PAYLOAD:
        raise ValueError("payload too large")
    session_id = seat.session["id"]
    async with write_transaction():
        rows = await raw(
            "SELECT id, state FROM video_petition_participant WHERE session = {} AND id IN ({}, {})",
            session_id, seat.id, to,
        )
        states = {row["id"]: row["state"] for row in rows}
        if to == seat.id or states.get(seat.id) != "admitted" or states.get(to) != "admitted":
            raise RoomError("只有已进入接访室的参会人之间可以建立连接。")
        await signal(session_id, seat.id, to, kind, payload or {})
    wake_room(session_id)


async def citizen_session_valid(session_id: int) -> bool:
    """The citizen's sign-in still stands (not signed out, not past its absolute limit). Like
    ``live.session_valid``, read-only: an open stream is not activity."""
    rows = await read("SELECT expires_at FROM citizen_session WHERE id = {}", session_id)
    return bool(rows) and clock.now() < _as_dt(rows[0]["expires_at"])


def _as_dt(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


async def _top(session_id: int) -> int:
    rows = await read("SELECT max(id) AS top FROM video_petition_signal WHERE session = {}", session_id)
    return int(rows[0]["top"] or 0)


async def room_stream(
    app: Any, seat: Seat, *, last_event_id: int | None = None, staff_session: int | None = None,
    citizen_session: int | None = None, poll_seconds: float | None = None,
) -> AsyncIterator[ServerSentEventMessage]:
    """The events of one participant's stream until the client leaves or the app stops.

    PostgreSQL commit order: a signal with a lower id may become visible after a higher one, so
    there the watermark trails by ``HOLD_SECONDS_PG`` and ids already sent are skipped (as in live.py).
    """
    hub = app.state.live
    session_id, me = seat.session["id"], seat.id
    poll = poll_seconds or POLL_SECONDS
    hold = HOLD_SECONDS_PG if current_engine().engine_type == "postgres" else 0.0
    top = await _top(session_id)
    mark = last_event_id if last_event_id is not None and 0 <= last_event_id <= top else top
    sent: set[int] = set()
    woken = asyncio.Event()
    _waiters.setdefault(session_id, set()).add(woken)
    try:
        yield ServerSentEventMessage(data=None, comment="room", retry=RETRY_MS)
        state = await room_state(session_id, me)
        yield ServerSentEventMessage(data=json.dumps(state, ensure_ascii=False), event="state", id=mark)
        now = time.monotonic()
        next_ping, next_check = now + KEEPALIVE_SECONDS, now + SESSION_CHECK_SECONDS
        while not hub.closed:
            rows = await read(
                "SELECT id, sender, recipient, kind, payload, created_at FROM video_petition_signal "
                "WHERE session = {} AND id > {} AND (recipient IS NULL OR recipient = {}) ORDER BY id LIMIT 200",
                session_id, mark, me,
            )
            fresh = [row for row in rows if row["id"] not in sent]
            changed = False
            last = None
            for row in fresh:
                sent.add(row["id"])
                last = row["id"]
                if row["kind"] == "state":
                    changed = True
                    continue
                data = {"from": row["sender"], "kind": row["kind"], "payload": json.loads(row["payload"] or "{}")}
                yield ServerSentEventMessage(data=json.dumps(data, ensure_ascii=False), event="signal", id=row["id"])
            if changed:
                state = await room_state(session_id, me)
                yield ServerSentEventMessage(data=json.dumps(state, ensure_ascii=False), event="state", id=last)
            if fresh:
                next_ping = time.monotonic() + KEEPALIVE_SECONDS
            # Advance the watermark past rows that can no longer be overtaken by a late commit.
            cutoff = clock.now() - dt.timedelta(seconds=hold)
            for row in rows:
                if not hold or _as_dt(row["created_at"]) <= cutoff:
                    mark = max(mark, row["id"])
                else:
                    break
            if hold:
                sent = {i for i in sent if i > mark}
            if len(rows) >= 200:
                continue
            try:
                await asyncio.wait_for(woken.wait(), poll)
            except TimeoutError:
                pass
            woken.clear()
            now = time.monotonic()
            if now >= next_check and (staff_session is not None or citizen_session is not None):
                valid = (await session_valid(staff_session, app.state.settings) if staff_session is not None
                         else await citizen_session_valid(citizen_session))
                if not valid:
                    yield ServerSentEventMessage(data="{}", event="signed-out")
                    return
                next_check = now + SESSION_CHECK_SECONDS
            if now >= next_ping:
                yield ServerSentEventMessage(data=None, comment="keep-alive")
                next_ping = now + KEEPALIVE_SECONDS
    finally:
        waiters = _waiters.get(session_id)
        if waiters is not None:
            waiters.discard(woken)
            if not waiters:
                _waiters.pop(session_id, None)
