"""Recording with consent, chunked upload, assembly, playback and the end of a session.

Consent is per participant and on screen; the host may start only when every admitted participant
has agreed (409 otherwise). The host's browser records and uploads chunks: each chunk is written to
``<data_dir>/video_petition/recordings/<rec>/<seq>.part`` (outside the web root) and recorded by a
row unique on (recording, seq), so a retry after a dropped connection is a no-op and the client can
ask which chunks arrived. ``finish`` checks 0..N-1 are all there, concatenates them in order into
``<rec>.webm``, records its SHA-256 and size, deletes the parts and notes the recording on the
matter. Playback is for the host, the center admins and the leaders of the session's center, and
every playback is audited.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath
from litestar.response import File

from portal import clock
from portal.citizens.guards import citizen_guard
from portal.db import raw, write_transaction
from portal.web.request import principal, trail

from plugins.video_petition import rooms
from plugins.video_petition.rooms import Seat, signal
from plugins.video_petition.routes import _citizen_seat, _staff_seat, body_of, json_error
from plugins.video_petition.signalling import wake_room

__all__ = ["MAX_CHUNK", "ROUTES", "end_session", "recording_dir"]

MAX_CHUNK = 8 * 1024 * 1024
MAX_CHUNKS = 20000
RECORD = {"module_at": "record"}


def recording_dir(settings) -> Path:
    return Path(settings.data_dir) / "video_petition" / "recordings"


async def end_session(seat: Seat, audit) -> None:
    session_id = seat.session["id"]
    now = clock.now()
    async with write_transaction():
        rows = await raw("UPDATE video_petition_session SET status = 'ended', ended_at = {}, recording_requested = false, "
                         "version = version + 1 WHERE id = {} AND status IN ('approved', 'live') RETURNING id", now, session_id)
        if not rows:
            return
        await raw("UPDATE video_petition_recording SET state = 'stopped' WHERE session = {} AND state = 'on'", session_id)
        await raw("UPDATE video_petition_participant SET state = 'left', updated_at = {} "
                  "WHERE session = {} AND state IN ('admitted', 'waiting')", now, session_id)
        await signal(session_id, None, None, "state", {})
        if seat.session["matter"]:
            from plugins.video_petition.sessions import matter_note

            people = await raw("SELECT display_name FROM video_petition_participant WHERE session = {} "
                               "AND joined_at IS NOT NULL ORDER BY id", session_id)
            names = "、".join(p["display_name"] for p in people) or "—"
            start = seat.session["started_at"] or now
            await matter_note(audit, seat.session["matter"],
                              f"视频接访已结束（{clock.local(start).strftime('%Y-%m-%d %H:%M')}—"
                              f"{clock.local(now).strftime('%H:%M')}），参加人员：{names}。")
        await audit("video_petition.ended", object_type="video_petition_session", object_id=session_id,
                    center_id=seat.session["center"])


async def _consent(request: Request, seat: Seat) -> Response:
    data = await body_of(request)
    agree = data.get("agree") in (True, "true", "1", "on", "yes")
    async with write_transaction():
        await raw("UPDATE video_petition_participant SET consent_recording = {}, updated_at = {} WHERE id = {}",
                  agree, clock.now(), seat.id)
        await signal(seat.session["id"], None, None, "state", {})
    wake_room(seat.session["id"])
    return Response(content=None, status_code=204)


@post("/room/{session_id:int}/recording/{action:str}", opt=RECORD)
async def staff_recording(request: Request, session_id: FromPath[int], action: FromPath[str]) -> Response:
    seat = await _staff_seat(request, session_id)
    if action == "consent":
        return await _consent(request, seat)
    if action not in ("request", "start", "stop"):
        raise NotFoundException()
    if not seat.is_host:
        raise PermissionDeniedException("only the host")
    audit = trail(request)
    async with write_transaction():
        if action == "request":
            await raw("UPDATE video_petition_session SET recording_requested = true WHERE id = {}", session_id)
            result: Response = Response(content=None, status_code=204)
        elif action == "stop":
            await raw("UPDATE video_petition_recording SET state = 'stopped' WHERE session = {} AND state = 'on'", session_id)
            await raw("UPDATE video_petition_session SET recording_requested = false WHERE id = {}", session_id)
            result = Response(content=None, status_code=204)
        else:
            await rooms.lock_session(session_id)  # two starts at once make one recording
            people = await raw("SELECT id, consent_recording FROM video_petition_participant "
                               "WHERE session = {} AND state = 'admitted' ORDER BY id", session_id)
            missing = [p["id"] for p in people if not p["consent_recording"]]
            if missing:
                return json_error("全部参会人同意后才能开始录像。", 409, missing=missing)
            running = await raw("SELECT id FROM video_petition_recording WHERE session = {} AND state = 'on'", session_id)
            if running:
                return Response(content={"id": running[0]["id"]}, status_code=201)
            rec_id = (await raw("INSERT INTO video_petition_recording (session, state, started_by, started_at) "
                                "VALUES ({}, 'on', {}, {}) RETURNING id", session_id, seat.participant["staff"],
                                clock.now()))[0]["id"]
            result = Response(content={"id": rec_id}, status_code=201)
        await signal(session_id, None, None, "state", {})
        await audit(f"video_petition.recording_{action}", object_type="video_petition_session", object_id=session_id,
                    center_id=seat.session["center"])
    wake_room(session_id)
    return result


@post("/c/{center_code:str}/room/{session_id:int}/recording/{action:str}", guards=[citizen_guard])
async def citizen_recording(request: Request, center_code: FromPath[str], session_id: FromPath[int],
                            action: FromPath[str]) -> Response:
    seat = await _citizen_seat(request, center_code, session_id)
    if action == "consent":
        return await _consent(request, seat)
    raise PermissionDeniedException("only the host")


# ----------------------------------------------------------------------------- upload


async def _uploader_recording(request: Request, rec_id: int) -> dict:
    """The recording, for the staff member who started it (the host's browser), else 404."""
    rows = await raw("SELECT r.*, s.center, s.matter FROM video_petition_recording r "
                     "JOIN video_petition_session s ON s.id = r.session WHERE r.id = {}", rec_id)
    user = principal(request)
    if not rows or rows[0]["started_by"] != user.user_id:
        raise NotFoundException()
    await rooms.load_session(rows[0]["session"])  # the module is on at the session's center
    return rows[0]


def _part(settings, rec_id: int, seq: int, sha: str) -> Path:
    # Named by content too: two different uploads of one seq racing each other never overwrite the
    # file the database row describes.
    return recording_dir(settings) / str(rec_id) / f"{seq:06d}-{sha[:32]}.part"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@post("/recordings/{rec_id:int}/chunks/{seq:int}", opt=RECORD, request_max_body_size=MAX_CHUNK)
async def upload_chunk(request: Request, rec_id: FromPath[int], seq: FromPath[int]) -> Response:
    rec = await _uploader_recording(request, rec_id)
    if rec["state"] in ("finished", "purged"):
        return json_error("录像已保存，不能再上传。")
    if not 0 <= seq < MAX_CHUNKS:
        return json_error("分片序号不正确。", 400)
    data = await request.body()
    if not data:
        return json_error("分片为空。", 400)
    if len(data) > MAX_CHUNK:
        return json_error("分片过大。", 413)
    digest = hashlib.sha256(data).hexdigest()
    existing = await raw("SELECT sha256 FROM video_petition_chunk WHERE recording = {} AND seq = {}", rec_id, seq)
    if existing:
        if existing[0]["sha256"] == digest:
            return Response(content=None, status_code=204)  # a retry of what already arrived
        return json_error("该分片已收到，内容不同。")
    settings = request.app.state.settings
    await asyncio.to_thread(_write, _part(settings, rec_id, seq, digest), data)
    async with write_transaction():
        rows = await raw("INSERT INTO video_petition_chunk (recording, seq, size, sha256, received_at) "
                         "VALUES ({}, {}, {}, {}, {}) ON CONFLICT (recording, seq) DO NOTHING RETURNING id",
                         rec_id, seq, len(data), digest, clock.now())
        if not rows:
            same = await raw("SELECT sha256 FROM video_petition_chunk WHERE recording = {} AND seq = {}", rec_id, seq)
            if not same or same[0]["sha256"] != digest:
                return json_error("该分片已收到，内容不同。")
    return Response(content=None, status_code=204)


@get("/recordings/{rec_id:int}/chunks", opt=RECORD)
async def list_chunks(request: Request, rec_id: FromPath[int]) -> Response:
    await _uploader_recording(request, rec_id)
    rows = await raw("SELECT seq FROM video_petition_chunk WHERE recording = {} ORDER BY seq", rec_id)
    return Response(content={"received": [row["seq"] for row in rows]}, headers={"Cache-Control": "no-store"})


def _assemble(parts: list[Path], target: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    with tmp.open("wb") as out:
        for part in parts:
            data = part.read_bytes()
            digest.update(data)
            size += len(data)
            out.write(data)
    os.replace(tmp, target)
    return digest.hexdigest(), size


@post("/recordings/{rec_id:int}/finish", opt=RECORD)
async def finish(request: Request, rec_id: FromPath[int]) -> Response:
    rec = await _uploader_recording(request, rec_id)
    if rec["state"] == "finished":
        return Response(content={"sha256": rec["sha256"], "size": rec["size"]}, status_code=200)
    data = await body_of(request)
    try:
        count = int(data.get("chunks"))
    except (TypeError, ValueError):
        return json_error("请给出分片数。", 400)
    if not 0 < count <= MAX_CHUNKS:
        return json_error("分片数不正确。", 400)
    rows = await raw("SELECT seq, sha256 FROM video_petition_chunk WHERE recording = {} ORDER BY seq", rec_id)
    have = {row["seq"]: row["sha256"] for row in rows}
    missing = [seq for seq in range(count) if seq not in have]
    if missing:
        return json_error("还有分片没有收到。", 409, missing=missing[:1000])
    settings = request.app.state.settings
    directory = recording_dir(settings)
    parts = [_part(settings, rec_id, seq, have[seq]) for seq in range(count)]
    target = directory / f"{rec_id}.webm"
    lost = [seq for seq, part in enumerate(parts) if not part.is_file()]
    if lost:
        # The row says it arrived but its file is gone (a disk replaced, a clean-up): ask again.
        for seq in lost:
            await raw("DELETE FROM video_petition_chunk WHERE recording = {} AND seq = {}", rec_id, seq)
        return json_error("还有分片没有收到。", 409, missing=lost[:1000])
    sha, size = await asyncio.to_thread(_assemble, parts, target)
    audit = trail(request)
    async with write_transaction():
        done = await raw("UPDATE video_petition_recording SET state = 'finished', finished_at = {}, chunks = {}, "
                         "size = {}, sha256 = {}, path = {} WHERE id = {} AND state <> 'finished' RETURNING id",
                         clock.now(), count, size, sha, target.name, rec_id)
        if done:
            await raw("UPDATE video_petition_session SET recording_requested = false WHERE id = {}", rec["session"])
            await signal(rec["session"], None, None, "state", {})
            await audit("video_petition.recording_saved", object_type="video_petition_recording", object_id=rec_id,
                        center_id=rec["center"], fields=("sha256",))
            if rec["matter"]:
                from plugins.video_petition.sessions import matter_note

                await matter_note(audit, rec["matter"], f"视频接访录像已保存（经全部参会人同意；{size} 字节，SHA-256 {sha[:16]}…）。")
    for part in (recording_dir(settings) / str(rec_id)).glob("*.part"):
        part.unlink(missing_ok=True)
    wake_room(rec["session"])
    return Response(content={"sha256": sha, "size": size}, status_code=200)


# ----------------------------------------------------------------------------- playback


async def playable(user, rec_id: int) -> dict:
    """The finished recording if ``user`` may play it: the session's host, or a center admin or
    leader of the session's own center. Everyone else: 404."""
    rows = await raw("SELECT r.*, s.center, s.host FROM video_petition_recording r "
                     "JOIN video_petition_session s ON s.id = r.session WHERE r.id = {}", rec_id)
    if not rows or rows[0]["state"] != "finished":
        raise NotFoundException()
    rec = rows[0]
    allowed = user.user_id == rec["host"] or (
        user.center_id == rec["center"] and user.department_id is None and user.has_role("center_admin", "leader"))
    if not allowed:
        raise NotFoundException()
    await rooms.load_session(rec["session"])
    return rec


@get("/recordings/{rec_id:int}/media", opt=RECORD)
async def media(request: Request, rec_id: FromPath[int]) -> Response:
    rec = await playable(principal(request), rec_id)
    path = recording_dir(request.app.state.settings) / rec["path"]
    if not rec["path"] or not path.is_file():
        raise NotFoundException()
    async with write_transaction():
        await trail(request)("video_petition.recording_played", object_type="video_petition_recording", object_id=rec_id,
                             center_id=rec["center"])
    return File(path=path, media_type="video/webm", filename=f"video-petition-{rec_id}.webm",
                content_disposition_type="inline", headers={"Cache-Control": "no-store"})


ROUTES = [staff_recording, citizen_recording, upload_chunk, list_chunks, finish, media]
