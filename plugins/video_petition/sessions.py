"""The reception's life before and after the call: the citizen's request, the ID check, the
decision (a new matter is registered at approval when the citizen named none), and notes on the
matter's timeline through core's public ``act`` (plugins never write matter rows themselves)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal import clock
from portal.db import insert, raw, write_transaction
from portal.notify.outbox import queue_inapp, queue_sms

__all__ = ["ID_METHODS", "SERVICES", "STATUS_LABELS", "Who", "approve", "check_id", "matter_note", "refuse"]

SERVICES = {"leader": "领导视频接访", "department": "部门视频接访"}
STATUS_LABELS = {
    "requested": "待审核", "approved": "已安排", "refused": "未予安排", "live": "接访中",
    "ended": "已结束", "cancelled": "已取消",
}
ID_METHODS = {"id_card": "查验居民身份证", "face": "人脸核验", "video": "视频中核对证件", "known": "工作人员认识本人"}


@dataclass(frozen=True)
class Who:
    trail: Any
    registry: Any = None
    user_id: int | None = None
    label: str = ""
    citizen_id: int | None = None


async def matter_note(trail, matter_id: int, text: str, *, registry=None, user_id: int | None = None,
                      label: str = "", citizen_id: int | None = None) -> None:
    from portal.matters.service import Ctx, MatterError, act

    ctx = Ctx(trail=trail, registry=registry, user_id=user_id, user_label=label, citizen_id=citizen_id)
    try:
        await act(ctx, matter_id, "note", {"note": text, "public": ""})
    except MatterError:
        pass  # the matter was merged away or is gone: the session keeps its own record


async def _tell(session: dict, center: dict, text: str, kind: str) -> None:
    if session["phone"]:
        await queue_sms(session["phone"], f"【{center['name']}】{text}", kind=kind, citizen=session["citizen"],
                        center=center["id"])
    if session["citizen"]:
        link = f"/m/video_petition/c/{center['code']}/sessions/{session['id']}" if session.get("id") else ""
        await queue_inapp(body=text, kind=kind, citizen=session["citizen"], center=center["id"], link=link)


async def create_request(center: dict, citizen_id: int, phone: str, values: dict, matter_id: int | None) -> int:
    """Inside the caller's create_once transaction."""
    session_id = await insert("video_petition_session", {
        "center": center["id"], "service": values["service"], "citizen": citizen_id, "matter": matter_id,
        "name": values["name"], "phone": phone, "description": values["description"],
        "preferred": values["preferred"], "status": "requested", "created_at": clock.now(),
    })
    staff = await raw(
        "SELECT DISTINCT u.id FROM staff_user u JOIN staff_role r ON r.\"user\" = u.id WHERE u.center = {} "
        "AND u.active AND r.role IN ('window_staff', 'center_admin')", center["id"],
    )
    for row in staff:
        await queue_inapp(body=f"新的视频接访申请（{SERVICES[values['service']]}），请核验身份后审核。",
                          kind="video_petition_requested", staff=row["id"], center=center["id"],
                          link=f"/m/video_petition/sessions/{session_id}")
    await _tell({"id": session_id, "phone": phone, "citizen": citizen_id}, center,
                "您的视频接访申请已提交，中心核验身份并审核后将短信通知您。", "video_petition_requested")
    return session_id


async def _tell_staff(session: dict, center: dict, host_id: int, department_id: int | None, when: str) -> None:
    """The host and the summoned department's officers learn the time and get the room's link."""
    link = f"/m/video_petition/room/{session['id']}"
    text = f"{center['name']}视频接访（{SERVICES[session['service']]}）定于 {when}，请按时进入视频接访室。"
    await queue_inapp(body=text, kind="video_petition_scheduled", staff=host_id, center=center["id"], link=link)
    if department_id:
        officers = await raw("SELECT id, phone FROM staff_user WHERE department = {} AND active", department_id)
        for officer in officers:
            await queue_inapp(body=text, kind="video_petition_summoned", staff=officer["id"], center=center["id"], link=link)
            if officer["phone"]:
                await queue_sms(officer["phone"], f"【{center['name']}】{text}", kind="video_petition_summoned",
                                center=center["id"])


MAX_REPRESENTATIVES = 5


async def add_representative(who: Who, session: dict, center: dict, name: str, phone: str) -> str | None:
    """Seat a representative (代表) of the citizen: a citizen account by phone, in the waiting room
    on their first visit. Returns an error message, or None."""
    async with write_transaction():
        reps = await raw("SELECT count(*) AS n FROM video_petition_participant WHERE session = {} AND kind = 'citizen' "
                         "AND (citizen IS NULL OR citizen <> {})", session["id"], session["citizen"] or 0)
        if reps[0]["n"] >= MAX_REPRESENTATIVES:
            return f"代表最多 {MAX_REPRESENTATIVES} 人。"
        rows = await raw("INSERT INTO citizen (phone, created_at, last_sign_in_at) VALUES ({}, {}, NULL) "
                         "ON CONFLICT (phone) DO NOTHING RETURNING id", phone, clock.now())
        citizen_id = rows[0]["id"] if rows else (await raw("SELECT id FROM citizen WHERE phone = {}", phone))[0]["id"]
        if citizen_id == session["citizen"]:
            return "这是申请人本人的手机号。"
        added = await raw("INSERT INTO video_petition_participant (session, kind, citizen, display_name, state, "
                          "consent_recording, updated_at) VALUES ({}, 'citizen', {}, {}, 'left', false, {}) "
                          "ON CONFLICT DO NOTHING RETURNING id", session["id"], citizen_id, f"代表 {name}"[:100], clock.now())
        if not added:
            return "这位代表已经添加过了。"
        url = f"/m/video_petition/c/{center['code']}/room/{session['id']}"
        await queue_sms(phone, f"【{center['name']}】您作为代表参加视频接访，请用本手机号登录网站后进入：{url}",
                        kind="video_petition_representative", citizen=citizen_id, center=center["id"])
        await who.trail("video_petition.representative_added", object_type="video_petition_session",
                        object_id=session["id"], center_id=session["center"], fields=("participant",))
    return None


async def check_id(who: Who, session: dict, method: str) -> None:
    async with write_transaction():
        await raw("UPDATE video_petition_session SET id_checked_by = {}, id_checked_at = {}, id_check_method = {}, "
                  "version = version + 1 WHERE id = {}", who.user_id, clock.now(), method, session["id"])
        await who.trail("video_petition.id_checked", object_type="video_petition_session", object_id=session["id"],
                        center_id=session["center"], fields=("id_check_method",))


async def approve(who: Who, session: dict, center: dict, host_id: int, department_id: int | None,
                  scheduled_at, version: int) -> bool:
    """False when someone else decided first (stale form)."""
    from portal.matters.service import Ctx, NewMatter, register

    async with write_transaction():
        rows = await raw("UPDATE video_petition_session SET status = 'approved', host = {}, department = {}, "
                         "scheduled_at = {}, decided_by = {}, decided_at = {}, version = version + 1 "
                         "WHERE id = {} AND status = 'requested' AND version = {} AND id_checked_at IS NOT NULL "
                         "RETURNING id", host_id, department_id, scheduled_at, who.user_id, clock.now(),
                         session["id"], version)
        if not rows:
            return False
        matter_id = session["matter"]
        if matter_id is None:
            ctx = Ctx(trail=who.trail, registry=who.registry, user_id=who.user_id, user_label=who.label)
            data = NewMatter(
                kind="petition", category="other", channel="video", summary=session["description"][:60] or "视频信访",
                request=session["description"], facts="", place="", place_center=None,
                petitioner_name=session["name"], petitioner_phone=session["phone"], petitioner_address="",
                people_count=1,
            )
            matter_id = (await register(ctx, center, data, citizen_id=session["citizen"], registered_by=who.user_id))["id"]
            await raw("UPDATE video_petition_session SET matter = {} WHERE id = {}", matter_id, session["id"])
        when = clock.local(scheduled_at).strftime("%Y-%m-%d %H:%M")
        await matter_note(who.trail, matter_id, f"视频接访已安排：{SERVICES[session['service']]}，{when}。",
                          registry=who.registry, user_id=who.user_id, label=who.label)
        await _tell(session, center, f"您的视频接访已安排在 {when}，届时请登录网站进入视频接访室。", "video_petition_approved")
        await raw("INSERT INTO video_petition_participant (session, kind, staff, display_name, state, "
                  "consent_recording, updated_at) SELECT {}, 'host', id, display_name, 'waiting', false, {} "
                  "FROM staff_user WHERE id = {} ON CONFLICT DO NOTHING", session["id"], clock.now(), host_id)
        await _tell_staff(session, center, host_id, department_id, when)
        await who.trail("video_petition.approved", object_type="video_petition_session", object_id=session["id"],
                        center_id=session["center"], fields=("host", "scheduled_at"))
    return True


async def refuse(who: Who, session: dict, center: dict, reason: str, version: int) -> bool:
    async with write_transaction():
        rows = await raw("UPDATE video_petition_session SET status = 'refused', decision_reason = {}, decided_by = {}, "
                         "decided_at = {}, version = version + 1 WHERE id = {} AND status = 'requested' AND version = {} "
                         "RETURNING id", reason, who.user_id, clock.now(), session["id"], version)
        if not rows:
            return False
        await _tell(session, center, f"您的视频接访申请未予安排，原因：{reason}", "video_petition_refused")
        await who.trail("video_petition.refused", object_type="video_petition_session", object_id=session["id"],
                        center_id=session["center"], fields=("decision_reason",))
    return True
