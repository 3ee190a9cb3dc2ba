"""The minutes (笔录): typed by staff during the call from a template, shown to the citizen at the
end, signed with a 6-digit SMS code. Once signed the text is frozen (its SHA-256 is kept) and put
on the matter's timeline."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal import clock
from portal.citizens.guards import citizen_guard, citizen_of
from portal.db import raw, write_transaction
from portal.notify.outbox import deliver_soon, queue_sms
from portal.web.forms import read_form
from portal.web.render import redirect, render
from portal.web.request import citizen_trail, principal, trail

from plugins.video_petition import sessions as svc
from plugins.video_petition.requests import _citizen_session, local_text, staff_session

__all__ = ["ROUTES", "TEMPLATE", "minutes_of"]

CODE_MINUTES = 10
MAX_ATTEMPTS = 5
MAX_CODES = 5
TEMPLATE = (
    "时间：{when}\n方式：{service}（网上视频）\n主持人：{host}\n信访人：{name}\n"
    "参加人员：\n\n反映的问题：\n\n诉求：\n\n答复意见：\n\n信访人意见：\n"
)


async def minutes_of(session_id: int) -> dict | None:
    rows = await raw("SELECT * FROM video_petition_minutes WHERE session = {}", session_id)
    return rows[0] if rows else None


def _hash(secret: str, session_id: int, code: str) -> str:
    return hmac.new(secret.encode(), f"video_petition.minutes:{session_id}:{code}".encode(), hashlib.sha256).hexdigest()


async def _staff_editor(request: Request, session_id: int) -> dict:
    """Staff of the session's room (host, seated staff) or its managers may write the minutes."""
    user = principal(request)
    session = await staff_session(user, session_id)
    seated = await raw("SELECT 1 FROM video_petition_participant WHERE session = {} AND staff = {}", session_id, user.user_id)
    if not (seated or session["host"] == user.user_id or user.can("video_petition.manage")):
        raise NotFoundException()
    return session


async def _page(request: Request, session: dict, body: str, errors: dict, status: int = 200) -> Response:
    minutes = await minutes_of(session["id"])
    return await render(request, "video_petition/minutes.html", {
        "title": "视频接访笔录", "s": session, "body": body, "errors": errors, "minutes": minutes,
        "signed_when": local_text(minutes["signed_at"]) if minutes else "",
        "version": minutes["version"] if minutes else 0,
    }, status=status)


@get("/sessions/{session_id:int}/minutes", opt={"module_at": "record"})
async def minutes_form(request: Request, session_id: FromPath[int]) -> Response:
    session = await _staff_editor(request, session_id)
    minutes = await minutes_of(session_id)
    if minutes:
        body = minutes["body"]
    else:
        host = await raw("SELECT display_name FROM staff_user WHERE id = {}", session["host"]) if session["host"] else []
        body = TEMPLATE.format(when=local_text(session["started_at"] or session["scheduled_at"]),
                               service=svc.SERVICES.get(session["service"], ""),
                               host=host[0]["display_name"] if host else "", name=session["name"])
    return await _page(request, session, body, {})


@post("/sessions/{session_id:int}/minutes", opt={"module_at": "record"})
async def minutes_save(request: Request, session_id: FromPath[int]) -> Response:
    session = await _staff_editor(request, session_id)
    form = await read_form(request)
    body = form.str("body", 20000)
    version = form.int("version") or 0
    if len(body) < 10:
        return await _page(request, session, body, {"body": "笔录内容太短，请记录接访的主要内容。"}, status=422)
    user = principal(request)
    async with write_transaction():
        minutes = await minutes_of(session_id)
        if minutes and minutes["signed_at"]:
            return await _page(request, session, body, {"body": "信访人已签名确认，笔录不能再修改。"}, status=409)
        if minutes and minutes["version"] != version:
            return await _page(request, session, body, {"body": "别人刚刚修改过笔录，请核对最新内容后再保存。"}, status=409)
        if minutes:
            changed = await raw("UPDATE video_petition_minutes SET body = {}, updated_by = {}, updated_at = {}, code_hash = '', "
                                "version = version + 1 WHERE id = {} AND version = {} AND signed_at IS NULL RETURNING id",
                                body, user.user_id, clock.now(), minutes["id"], version)
            if not changed:
                return await _page(request, session, body, {"body": "别人刚刚修改过笔录，请核对最新内容后再保存。"}, status=409)
        else:
            await raw("INSERT INTO video_petition_minutes (session, body, updated_by, updated_at) VALUES ({}, {}, {}, {}) "
                      "ON CONFLICT (session) DO NOTHING", session_id, body, user.user_id, clock.now())
        await trail(request)("video_petition.minutes_saved", object_type="video_petition_session", object_id=session_id,
                             center_id=session["center"], fields=("body",))
    return redirect(request, f"/m/video_petition/sessions/{session_id}/minutes", "笔录已保存。")


# ----------------------------------------------------------------------------- the citizen's signature


async def _citizen_page(request: Request, center: dict, session: dict, errors: dict, status: int) -> Response:
    minutes = await minutes_of(session["id"])
    return await render(request, "video_petition/citizen_session.html", {
        "title": "我的视频接访", "center": center, "session": session, "base": f"/m/video_petition/c/{center['code']}",
        "service_label": svc.SERVICES.get(session["service"], ""), "status_label": svc.STATUS_LABELS.get(session["status"], ""),
        "when": local_text(session["scheduled_at"]), "minutes": minutes, "errors": errors,
        "signed_when": local_text(minutes["signed_at"]) if minutes else "",
    }, status=status)


def _signable(session: dict, minutes: dict | None) -> bool:
    return session["status"] == "ended" and minutes is not None and not minutes["signed_at"]


@post("/c/{center_code:str}/sessions/{session_id:int}/minutes/code", guards=[citizen_guard])
async def send_code(request: Request, center_code: FromPath[str], session_id: FromPath[int]) -> Response:
    center, session = await _citizen_session(request, center_code, session_id)
    citizen = citizen_of(request)
    url = f"/m/video_petition/c/{center_code}/sessions/{session_id}"
    async with write_transaction():
        minutes = await minutes_of(session_id)
        if not _signable(session, minutes):
            return await _citizen_page(request, center, session, {"code": "现在没有需要签名的笔录。"}, 409)
        if minutes["codes_sent"] >= MAX_CODES:
            return await _citizen_page(request, center, session, {"code": "验证码发送次数过多，请联系中心工作人员。"}, 429)
        code = f"{secrets.randbelow(10**6):06d}"
        await raw("UPDATE video_petition_minutes SET code_hash = {}, code_expires_at = {}, code_attempts = 0, "
                  "codes_sent = codes_sent + 1 WHERE id = {}", _hash(request.app.state.settings.secret_key, session_id, code),
                  clock.now() + dt.timedelta(minutes=CODE_MINUTES), minutes["id"])
        await queue_sms(citizen.phone, f"【{center['name']}】您正在签名确认视频接访笔录，验证码 {code}，{CODE_MINUTES} 分钟内有效。",
                        kind="video_petition_minutes_code", citizen=citizen.citizen_id, center=center["id"])
        await citizen_trail(request, citizen.citizen_id)("video_petition.minutes_code", object_type="video_petition_session",
                                                         object_id=session_id, center_id=center["id"])
    deliver_soon(request.app)
    return redirect(request, url + "#sign", "验证码已发送到您的手机。")


def _as_dt(value):
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


@post("/c/{center_code:str}/sessions/{session_id:int}/minutes/sign", guards=[citizen_guard])
async def sign(request: Request, center_code: FromPath[str], session_id: FromPath[int]) -> Response:
    center, session = await _citizen_session(request, center_code, session_id)
    citizen = citizen_of(request)
    form = await read_form(request)
    code = form.str("code", 12, ascii_fold=True)
    url = f"/m/video_petition/c/{center_code}/sessions/{session_id}"
    audit = citizen_trail(request, citizen.citizen_id)
    error = None
    async with write_transaction():
        minutes = await minutes_of(session_id)
        if minutes and minutes["signed_at"]:
            return redirect(request, url, "笔录已签名确认。")
        if not _signable(session, minutes):
            return await _citizen_page(request, center, session, {"code": "现在没有需要签名的笔录。"}, 409)
        expires = _as_dt(minutes["code_expires_at"])
        if not minutes["code_hash"] or expires is None or expires < clock.now():
            error = "验证码已失效，请重新获取。"
        elif minutes["code_attempts"] >= MAX_ATTEMPTS:
            error = "验证码错误次数过多，请重新获取。"
        elif not (code.isdigit() and len(code) == 6):
            error = "请填写短信中的 6 位数字验证码。"
        elif not hmac.compare_digest(minutes["code_hash"], _hash(request.app.state.settings.secret_key, session_id, code)):
            await raw("UPDATE video_petition_minutes SET code_attempts = code_attempts + 1 WHERE id = {}", minutes["id"])
            error = "验证码不正确，请核对短信后重新填写。"
        else:
            now = clock.now()
            digest = hashlib.sha256(minutes["body"].encode()).hexdigest()
            claimed = await raw("UPDATE video_petition_minutes SET signed_at = {}, signed_text_sha256 = {}, code_hash = '', "
                                "version = version + 1 WHERE id = {} AND signed_at IS NULL AND version = {} RETURNING id",
                                now, digest, minutes["id"], minutes["version"])
            if not claimed:
                # A concurrent submit signed first (or staff changed the text a moment ago).
                return redirect(request, url, "笔录已签名确认。")
            await audit("video_petition.minutes_signed", object_type="video_petition_session", object_id=session_id,
                        center_id=center["id"])
            if session["matter"]:
                # The minutes name the recording they go with (domain §1.9: minutes linked to the recording).
                recordings = await raw("SELECT id, sha256 FROM video_petition_recording WHERE session = {} "
                                       "AND state IN ('finished', 'stopped', 'on') ORDER BY id", session_id)
                linked = "".join(f"\n对应录像 {r['id']}" + (f"（SHA-256 {r['sha256'][:16]}…）" if r["sha256"] else "")
                                 for r in recordings)
                await svc.matter_note(audit, session["matter"],
                                      f"视频接访笔录（信访人于 {local_text(now)} 以短信验证码签名确认）：\n{minutes['body']}{linked}",
                                      registry=request.app.state.registry, label="信访人（短信验证码签名）",
                                      citizen_id=citizen.citizen_id)
    if error:
        return await _citizen_page(request, center, session, {"code": error}, 422)
    return redirect(request, url, "笔录已签名确认，已记入事项。")


ROUTES = [minutes_form, minutes_save, send_code, sign]
