"""The life of a matter: registration and every transition, each in one write transaction.

Every transition follows the same steps (``_Change``): lock the matter, check the state allows
the action, change the row and its clock, append the timeline event, bump the counters, issue
the notice, queue the citizen's messages, write the audit row, tell the enabled modules
(``matter_event``). If any step fails, none of it happened.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from portal import clock as wallclock
from portal.audit.chain import AuditTrail
from portal.centers.modules import enabled_modules
from portal.db import current_engine, insert, raw, write_transaction
from portal.i18n import _
from portal.matters import notices, stats
from portal.matters.clock import deadline, limits_for, paused_days_between
from portal.matters.calendar import load_calendar
from portal.matters.codes import format_code, new_code
from portal.matters.tables import FollowUp, Matter, MatterEvent, Supervision
from portal.matters.vocab import OUTCOMES, RATINGS
from portal.notify.outbox import queue_inapp, queue_sms
from portal.plugin_api import CenterRef
from portal.tables import Center, Department

__all__ = ["Ctx", "MatterError", "register", "act", "ACTIONS"]


class MatterError(Exception):
    """A transition the matter's state does not allow; the message is shown to the user."""


@dataclass(frozen=True)
class Ctx:
    """Who acts: the audit trail, the plugin registry (for events) and the staff member if any."""

    trail: AuditTrail
    registry: Any = None
    user_id: int | None = None
    user_label: str = ""
    center_id: int | None = None
    citizen_id: int | None = None


# ----------------------------------------------------------------------------- clock

async def _clock_fields(matter: dict, rule: str, started_at: dt.datetime, *, center_id: int | None = None) -> dict:
    """Start ``rule``'s clock at ``started_at`` for the matter's (new) handling center."""
    if not rule:
        return {"clock": "", "clock_started_at": None, "due_at": None, "paused_at": None, "paused_days": 0}
    limits = await limits_for(center_id or matter["center"])
    due = deadline(started_at, limits[rule], await load_calendar(), extension_days=0)
    return {"clock": rule, "clock_started_at": started_at, "due_at": due, "paused_at": None, "paused_days": 0}


async def _recomputed_due(matter: dict) -> dt.datetime | None:
    if not matter["clock"] or matter["clock_started_at"] is None:
        return None
    limits = await limits_for(matter["center"])
    extension = matter["extension_days"] if matter["clock"] == "handling" else 0
    return deadline(
        matter["clock_started_at"], limits[matter["clock"]], await load_calendar(),
        paused_days=matter["paused_days"], extension_days=extension,
    )


# ----------------------------------------------------------------------------- registration

@dataclass
class NewMatter:
    kind: str
    category: str
    channel: str
    summary: str
    request: str
    facts: str
    place: str
    place_center: int | None
    petitioner_name: str
    petitioner_phone: str
    petitioner_address: str
    people_count: int
    representatives: list[dict] = field(default_factory=list)
    parties: list[dict] = field(default_factory=list)


def matter_row(data: NewMatter, center: dict, code: str, **fields: Any) -> dict[str, Any]:
    """The new matter's row at ``center`` for ``db.insert`` (the one place that maps the form onto
    the table); ``fields`` are the status, times and clock. Columns left out take the table's
    defaults, except the row's own timestamps, which are set here: SQLite's ``current_timestamp``
    default has no time zone. Used by registration and the ledger import."""
    at = wallclock.now()
    return {"created_at": at, "updated_at": at} | dict(
        code=code,
        kind=data.kind,
        category=data.category,
        channel=data.channel,
        summary=data.summary,
        request=data.request,
        facts=data.facts,
        place=data.place,
        place_center=data.place_center,
        center=center["id"],
        center_path=center["path"],
        origin_center=center["id"],
        petitioner_name=data.petitioner_name,
        petitioner_phone=data.petitioner_phone,
        phone_last4=data.petitioner_phone[-4:],
        petitioner_address=data.petitioner_address,
        people_count=data.people_count,
        representatives=json.dumps(data.representatives, ensure_ascii=False),
        parties=json.dumps(data.parties, ensure_ascii=False),
    ) | fields


async def _repeat_of(data: NewMatter) -> dict | None:
    """The most recent earlier matter of the same person (phone) and category, if any."""
    if not data.petitioner_phone:
        return None
    rows = await raw(
        "SELECT id, code, final, status FROM matter WHERE petitioner_phone = {} AND category = {} "
        "ORDER BY id DESC LIMIT 1",
        data.petitioner_phone, data.category,
    )
    return rows[0] if rows else None


async def register(
    ctx: Ctx, center: dict, data: NewMatter, *, citizen_id: int | None = None, registered_by: int | None = None,
    consent_version: str = "",
) -> dict:
    """Register a matter at ``center``; the acceptance clock starts now. Returns {id, code}."""
    at = wallclock.now()
    async with write_transaction():
        earlier = await _repeat_of(data)
        matter = {
            "center": center["id"],
            "center_path": center["path"],
            "received_at": at,
        }
        clock_fields = await _clock_fields(matter, "acceptance", at)
        for _attempt in range(5):
            # A new code that some matter already has (~1 in 10^15) inserts nothing: draw again.
            code = new_code()
            matter_id = await insert("matter", matter_row(
                data, center, code,
                citizen=citizen_id,
                registered_by=registered_by,
                status="registered",
                received_at=at,
                repeat_of=earlier["id"] if earlier else None,
                **clock_fields,
            ), on_conflict="code")
            if matter_id is not None:
                break
        else:
            raise RuntimeError("no free tracking code after 5 draws")
        event_data = {"channel": data.channel}
        if consent_version:
            event_data["consent"] = consent_version  # which consent text the citizen agreed to
        await _event(matter_id, "registered", ctx, center["id"], at, note="", data=event_data)
        if earlier:
            note = (
                _("The same person raised a matter of this category before (%(code)s).", code=format_code(earlier["code"]))
            )
            await _event(matter_id, "repeat_detected", ctx, center["id"], at, note=note, public=False,
                         data={"earlier": earlier["id"]})
        await stats.bump(center["id"], "received", at)
        await ctx.trail("matter.registered", object_type="matter", object_id=matter_id, center_id=center["id"])
        if data.petitioner_phone:
            await queue_sms(
                data.petitioner_phone,
                f"【{center['name']}】您的事项已登记，查询码 {format_code(code)}，凭查询码和手机号后四位可在网上查询进度。",
                kind="matter_registered", citizen=citizen_id, center=center["id"], matter=matter_id,
            )
        if _listened(ctx):
            row = dict((await raw("SELECT * FROM matter WHERE id = {}", matter_id))[0])
            await _emit(ctx, "registered", row, center)
        return {"id": matter_id, "code": code}


# ----------------------------------------------------------------------------- shared steps

async def _event(
    matter_id: int, kind: str, ctx: Ctx, center_id: int | None, at: dt.datetime, *,
    note: str = "", public: bool = True, data: dict | None = None,
) -> None:
    await insert("matter_event", {
        "matter": matter_id, "at": at, "kind": kind, "actor": ctx.user_id, "actor_label": ctx.user_label[:100],
        "center": center_id, "note": note, "public": public, "data": json.dumps(data or {}, ensure_ascii=False),
    })


def _listened(ctx: Ctx) -> bool:
    """Whether any plugin listens to matter events (else nothing is read or sent for them)."""
    return ctx.registry is not None and ctx.registry.implemented("matter_event")


async def _emit(ctx: Ctx, event: str, matter: dict, center: dict) -> None:
    if not _listened(ctx):
        return
    await ctx.registry.emit(
        "matter_event", await enabled_modules(center["id"]),
        event=event, matter=matter, center=CenterRef.from_row(center), actor=ctx.trail.actor,
    )


async def _lock(matter_id: int) -> dict:
    """Read the matter for a change: on PostgreSQL lock its row; SQLite's IMMEDIATE lock covers it."""
    if current_engine().engine_type == "postgres":
        await raw("SELECT id FROM matter WHERE id = {} FOR UPDATE", matter_id)
    row = await Matter.select().where(Matter.id == matter_id).first()
    if row is None:
        raise MatterError(_("This matter no longer exists."))
    return row


async def _center(center_id: int) -> dict:
    return await Center.select().where(Center.id == center_id).first()


def _in_time(at: dt.datetime, due: dt.datetime | None) -> bool:
    return due is None or at <= due


async def _tell_citizen(matter: dict, center: dict, text: str, kind: str, sms_text: str = "") -> None:
    """Both an SMS and an in-app message (if the citizen has an account).

    The SMS follows ux.md C5: the center's name as 【signature】, the tracking code, at most about
    70 characters, nothing personal; ``sms_text`` replaces ``text`` when the in-app text says more.
    """
    if matter["petitioner_phone"]:
        await queue_sms(matter["petitioner_phone"], f"【{center['name']}】{sms_text or text}", kind=kind,
                        citizen=matter["citizen"], center=center["id"], matter=matter["id"])
    if matter["citizen"]:
        await queue_inapp(body=text, kind=kind, citizen=matter["citizen"], center=center["id"], matter=matter["id"])


# ----------------------------------------------------------------------------- transitions

@dataclass
class Step:
    """What a transition decided; ``act`` applies it."""

    event: str
    changes: dict = field(default_factory=dict)
    note: str = ""
    public: bool = True
    data: dict = field(default_factory=dict)
    notice: tuple[str, dict] | None = None  # (kind, template values)
    metrics: tuple[str, ...] = ()
    citizen_text: str = ""
    citizen_sms: str = ""  # a shorter SMS when citizen_text carries details an SMS must not
    audit_fields: tuple[str, ...] = ()
    notice_center: int | None = None  # the center issuing the notice (default: the handling one)


def _need(matter: dict, *statuses: str) -> None:
    if matter["status"] not in statuses:
        raise MatterError(_("This action is not possible in the matter's current state. The page has been refreshed."))


def _text(values: dict, name: str, message: str, max_length: int = 2000) -> str:
    value = (values.get(name) or "").strip()
    if not value:
        raise MatterError(message)
    return value[:max_length]


async def _accept(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    _need(m, "registered")
    if m["repeat_of"]:
        earlier = await Matter.select(Matter.final).where(Matter.id == m["repeat_of"]).first()
        if earlier and earlier["final"]:
            raise MatterError(_(
                "The same matter was closed after re-review and may not be accepted again; issue a decline notice instead."
            ))
    clock_fields = await _clock_fields(m, "handling", at)
    in_time = _in_time(at, m["due_at"])
    return Step(
        event="accepted",
        changes={"status": "accepted", "accepted_at": at, **clock_fields},
        notice=("accept", {"due": notices.cn_date(clock_fields["due_at"])}),
        metrics=("decided", "accepted") + (("decided_in_time",) if in_time else ()),
        citizen_text=f"您的事项（查询码 {format_code(m['code'])}）已受理，将于{notices.cn_date(clock_fields['due_at'])}前答复。",
    )


async def _decline(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    from portal.matters.vocab import DECLINE_ROUTES

    _need(m, "registered")
    reason = _text(values, "reason", _("Enter the reasons for not accepting the matter."))
    route = values.get("route") or ""
    if route not in DECLINE_ROUTES:
        raise MatterError(_("Choose where the citizen should take the matter instead."))
    in_time = _in_time(at, m["due_at"])
    return Step(
        event="declined",
        changes={"status": "declined", "closed_at": at, "clock": "", "due_at": None, "paused_at": None},
        note=reason,
        data={"route": route},
        notice=("decline", {"reason": reason.rstrip("。") + "。", "route": DECLINE_ROUTES[route]}),
        metrics=("decided", "declined") + (("decided_in_time",) if in_time else ()),
        citizen_text=f"您的事项（查询码 {format_code(m['code'])}）不予受理，请查看不予受理告知书。",
    )


async def _forward(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    """转送: to another center of the portal (it gets a fresh acceptance clock) or to an outside organ."""
    _need(m, "registered")
    reason = _text(values, "reason", _("Enter why the matter is forwarded."))
    target_id = values.get("target_center")
    organ = (values.get("organ") or "").strip()[:100]
    in_time = _in_time(at, m["due_at"])
    metrics = ("decided", "forwarded") + (("decided_in_time",) if in_time else ())
    if target_id:
        target = await _center(int(target_id))
        if target is None or target["id"] == m["center"]:
            raise MatterError(_("Choose the center to forward the matter to."))
        clock_fields = await _clock_fields(m, "acceptance", at, center_id=target["id"])
        return Step(
            event="forwarded",
            changes={"center": target["id"], "center_path": target["path"], "department": None, **clock_fields},
            note=reason, data={"to_center": target["id"], "to": target["name"]},
            notice=("forward", {"target": target["name"], "reason": reason}),
            metrics=metrics, notice_center=m["center"],
            citizen_text=f"您的事项（查询码 {format_code(m['code'])}）已转送{target['name']}办理。",
        )
    if not organ:
        raise MatterError(_("Choose a center or name the organ the matter is forwarded to."))
    return Step(
        event="forwarded",
        changes={"status": "forwarded", "closed_at": at, "clock": "", "due_at": None, "paused_at": None},
        note=reason, data={"to": organ},
        notice=("forward", {"target": organ, "reason": reason}),
        metrics=metrics,
        citizen_text=f"您的事项（查询码 {format_code(m['code'])}）已转送{organ}办理。",
    )


async def _assign(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    """交办 to a department with a due date; from triage it also accepts the matter."""
    _need(m, "registered", "accepted")
    department = await Department.select(Department.id, Department.name, Department.active).where(
        Department.id == int(values.get("department") or 0)
    ).first()
    if department is None or not department["active"]:
        raise MatterError(_("Choose the department the matter is assigned to."))
    due = values.get("due_date")
    if not isinstance(due, dt.date):
        raise MatterError(_("Enter the date by which the department must report, for example 2026-12-31."))
    due_at = dt.datetime.combine(due, dt.time(23, 59, 59), wallclock.TZ_CN).astimezone(dt.timezone.utc)
    if due_at <= at:
        raise MatterError(_("The report date must be in the future."))
    changes: dict = {"status": "assigned", "department": department["id"], "assigned_at": at, "department_due_at": due_at}
    metrics: tuple[str, ...] = ()
    notice = None
    if m["status"] == "registered":
        clock_fields = await _clock_fields(m, "handling", at)
        if due_at > clock_fields["due_at"]:
            raise MatterError(_("The report date may not be later than the reply deadline."))
        changes.update({"accepted_at": at, **clock_fields})
        in_time = _in_time(at, m["due_at"])
        metrics = ("decided", "accepted") + (("decided_in_time",) if in_time else ())
        notice = ("accept", {"due": notices.cn_date(clock_fields["due_at"])})
    elif m["due_at"] and due_at > m["due_at"]:
        raise MatterError(_("The report date may not be later than the reply deadline."))
    return Step(
        event="assigned", changes=changes, note=(values.get("instruction") or "").strip()[:2000],
        data={"department": department["id"], "to": department["name"], "due": due.isoformat()},
        notice=notice, metrics=metrics,
        citizen_text=f"您的事项（查询码 {format_code(m['code'])}）已交由{department['name']}办理。",
    )


async def _object(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    """退回: the department objects within 5 working days; the matter goes back to the center's triage."""
    _need(m, "assigned")
    reason = _text(values, "reason", _("Enter the reasons why the matter is not the department's to handle."))
    limits = await limits_for(m["center"])
    window_end = deadline(m["assigned_at"], limits["objection"], await load_calendar())
    if at > window_end:
        raise MatterError(_("The 5-working-day period for objecting has passed; the department must handle the matter."))
    return Step(
        event="objected",
        changes={"status": "accepted", "department": None, "assigned_at": None, "department_due_at": None},
        note=reason, public=False,
    )


async def _note(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    text = _text(values, "note", _("Write the note before saving it."))
    return Step(event="note", note=text, public=bool(values.get("public")))


async def _pause(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    _need(m, "registered", "accepted", "assigned", "review", "rereview")
    if m["paused_at"] is not None:
        raise MatterError(_("The clock is already stopped."))
    reason = _text(values, "reason", _("Say which materials the citizen must provide."))
    return Step(
        event="paused", changes={"paused_at": at}, note=reason,
        citizen_text=f"您的事项（查询码 {format_code(m['code'])}）需要补充材料：{reason[:60]}。办理期限在补充期间暂停计算。",
        citizen_sms=f"您的事项（查询码 {format_code(m['code'])}）需要补充材料，期限暂停计算。请凭查询码查看所需材料。",
    )


async def _resume(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    if m["paused_at"] is None:
        raise MatterError(_("The clock is running."))
    days = paused_days_between(m["paused_at"], at)
    updated = {**m, "paused_days": m["paused_days"] + days, "paused_at": None}
    return Step(
        event="resumed",
        changes={"paused_at": None, "paused_days": updated["paused_days"], "due_at": await _recomputed_due(updated)},
        note=_("Materials received; the clock runs again (%(days)s days paused).", days=days),
    )


async def _request_extension(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    _need(m, "accepted", "assigned")
    reason = _text(values, "reason", _("Enter why the matter needs more time."))
    days = values.get("days")
    if not isinstance(days, int) or days < 1:
        raise MatterError(_("Enter the number of days, from 1 to 30."))
    limits = await limits_for(m["center"])
    if m["extension_days"] + days > limits["extension_max"].days:
        raise MatterError(_("The extension may not exceed %(max)s days in total.", max=limits["extension_max"].days))
    if await _pending_extension(m["id"]):
        raise MatterError(_("An extension is already waiting for the leader's approval."))
    return Step(event="extension_requested", note=reason, public=False, data={"days": days})


async def _pending_extension(matter_id: int) -> dict | None:
    rows = await MatterEvent.select(MatterEvent.id, MatterEvent.kind, MatterEvent.note, MatterEvent.data).where(
        (MatterEvent.matter == matter_id) & MatterEvent.kind.is_in(["extension_requested", "extension_decided"])
    ).order_by(MatterEvent.id, ascending=False).limit(1)
    if rows and rows[0]["kind"] == "extension_requested":
        row = rows[0]
        return {"id": row["id"], "reason": row["note"], "days": json.loads(row["data"])["days"]}
    return None


async def _decide_extension(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    _need(m, "accepted", "assigned")
    pending = await _pending_extension(m["id"])
    if pending is None:
        raise MatterError(_("There is no extension waiting for approval."))
    if values.get("decision") != "approve":
        return Step(event="extension_decided", note=(values.get("note") or "").strip()[:500], public=False,
                    data={"approved": False, "days": pending["days"]})
    updated = {**m, "extension_days": m["extension_days"] + pending["days"]}
    due = await _recomputed_due(updated)
    return Step(
        event="extension_decided",
        changes={"extension_days": updated["extension_days"], "due_at": due},
        note=pending["reason"], data={"approved": True, "days": pending["days"]},
        notice=("extension", {"reason": pending["reason"].rstrip("。"), "days": str(pending["days"]), "due": notices.cn_date(due)}),
        citizen_text=f"您的事项（查询码 {format_code(m['code'])}）经批准延期{pending['days']}日，答复期限为{notices.cn_date(due)}。",
    )


_NEXT_STEP = {
    0: "如对本处理意见不服，可以自收到本意见书之日起30日内，向本机关的上一级机关请求复查。",
    1: "如对本复查意见不服，可以自收到本意见书之日起30日内，向复查机关的上一级机关请求复核。",
}


async def _reply(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    """处理意见书 (or the 复查/复核 opinion when the matter is under review)."""
    _need(m, "accepted", "assigned", "review", "rereview")
    if m["paused_at"] is not None:
        raise MatterError(_("Resume the clock before replying: the citizen's materials are still awaited."))
    outcome = values.get("outcome") or ""
    if outcome not in OUTCOMES:
        raise MatterError(_("Choose the outcome: support, explain or not support."))
    opinion = _text(values, "opinion", _("Write the handling opinion."), 5000)
    basis = _text(values, "basis", _("Enter the basis (law, policy or facts) of the opinion."), 2000)
    resolution = values.get("resolution") or ""
    if resolution not in ("", "on_spot", "joint"):
        resolution = ""
    level = m["review_level"]
    kind = {0: "reply", 1: "review", 2: "rereview"}[level]
    template_values = {"opinion": opinion, "basis": basis, "outcome": OUTCOMES[outcome], "next_step": _NEXT_STEP.get(level, "")}
    metrics: tuple[str, ...] = ()
    if level == 0:
        metrics = ("replied",) + (("replied_in_time",) if _in_time(at, m["due_at"]) else ())
        metrics += (resolution,) if resolution else ()
    if level == 2:
        changes = {"status": "closed", "final": True, "closed_at": at, "outcome": outcome, "replied_at": at,
                   "clock": "", "due_at": None}
        metrics += ("closed",)
    else:
        next_rule = "review_request" if level == 0 else "rereview_request"
        clock_fields = await _clock_fields(m, next_rule, at)
        changes = {"status": "replied", "outcome": outcome, "replied_at": at, "resolution": resolution or m["resolution"],
                   **clock_fields}
    return Step(
        event={0: "replied", 1: "review_replied", 2: "rereview_replied"}[level],
        changes=changes, note=opinion, data={"outcome": outcome, "resolution": resolution},
        notice=(kind, template_values), metrics=metrics,
        citizen_text=f"您的事项（查询码 {format_code(m['code'])}）已答复，处理结果：{OUTCOMES[outcome]}。请登录查看意见书并评价。",
    )


async def _rate(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    if m["rating"]:
        raise MatterError(_("You have already rated this matter."))
    if m["replied_at"] is None or m["status"] not in ("replied", "closed"):
        raise MatterError(_("You can rate the matter once it has been answered."))
    rating = values.get("rating") or ""
    if rating not in RATINGS:
        raise MatterError(_("Choose how satisfied you are."))
    reason = (values.get("reason") or "").strip()[:1000]
    if rating == "unsatisfied" and not reason:
        raise MatterError(_("Tell us why you are not satisfied, so that the center can follow up."))
    metrics = ("rated",) + (("satisfied",) if rating in ("satisfied", "basically") else ())
    return Step(
        event="rated", changes={"rating": rating, "rating_reason": reason, "rated_at": at},
        note=reason, data={"rating": rating}, metrics=metrics,
    )


async def _request_review(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    """复查 (after the reply) or 复核 (after the review opinion): the matter goes one level up."""
    _need(m, "replied")
    if m["review_level"] >= 2 or m["final"]:
        raise MatterError(_("This matter is final and cannot be reviewed again."))
    if m["due_at"] and at > m["due_at"]:
        raise MatterError(_("The 30 days for requesting a review have passed."))
    reason = _text(values, "reason", _("Say why you disagree with the opinion."))
    current = await _center(m["center"])
    if not current["parent"]:
        raise MatterError(_("This center has no upper center in the portal; send the request to the upper organ in writing."))
    upper = await _center(current["parent"])
    level = m["review_level"] + 1
    clock_fields = await _clock_fields(m, "review" if level == 1 else "rereview", at, center_id=upper["id"])
    return Step(
        event="review_requested" if level == 1 else "rereview_requested",
        changes={"status": "review" if level == 1 else "rereview", "review_level": level, "center": upper["id"],
                 "center_path": upper["path"], "department": None, **clock_fields},
        note=reason, data={"to_center": upper["id"], "to": upper["name"]},
    )


async def _escalate(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    """上报 to the parent center; the clock keeps running (the statutory limit does not restart)."""
    _need(m, "registered", "accepted")
    reason = _text(values, "reason", _("Enter why the matter goes to the upper center."))
    current = await _center(m["center"])
    if not current["parent"]:
        raise MatterError(_("The district center has no upper center in the portal."))
    upper = await _center(current["parent"])
    return Step(event="escalated", changes={"center": upper["id"], "center_path": upper["path"], "department": None},
                note=reason, data={"to_center": upper["id"], "to": upper["name"]})


async def _hand_down(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    """下交 to a child center of the handling center."""
    _need(m, "registered", "accepted")
    reason = _text(values, "reason", _("Enter why the matter is handed down."))
    child = await _center(int(values.get("target_center") or 0))
    if child is None or child["parent"] != m["center"]:
        raise MatterError(_("Choose one of the centers directly below."))
    return Step(event="handed_down", changes={"center": child["id"], "center_path": child["path"], "department": None},
                note=reason, data={"to_center": child["id"], "to": child["name"]})


async def _supervise(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    """督办 from an upper center: an order with its own due date."""
    _need(m, "registered", "accepted", "assigned", "review", "rereview")
    if ctx.center_id == m["center"]:
        raise MatterError(_("Supervision comes from an upper center, not from the handling center."))
    instruction = _text(values, "instruction", _("Write the supervision instruction."))
    due = values.get("due_date")
    if not isinstance(due, dt.date):
        raise MatterError(_("Enter the date by which the center must report, for example 2026-12-31."))
    due_at = dt.datetime.combine(due, dt.time(23, 59, 59), wallclock.TZ_CN).astimezone(dt.timezone.utc)
    if due_at <= at:
        raise MatterError(_("The report date must be in the future."))
    await Supervision.insert(Supervision(matter=m["id"], from_center=ctx.center_id, instruction=instruction,
                                         due_at=due_at, created_at=at, created_by=ctx.user_id))
    return Step(event="supervised", note=instruction, public=False, data={"due": due.isoformat()})


async def _answer_supervision(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    answer = _text(values, "answer", _("Write the report for the supervising center."))
    open_order = await Supervision.select(Supervision.id).where(
        (Supervision.matter == m["id"]) & Supervision.answered_at.is_null()
    ).order_by(Supervision.id).first()
    if open_order is None:
        raise MatterError(_("There is no open supervision order."))
    await Supervision.update({Supervision.answered_at: at, Supervision.answer: answer}).where(Supervision.id == open_order["id"])
    return Step(event="supervision_answered", note=answer, public=False)


async def _close(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    """办结: after the reply, once the citizen rated it or the review period ran out."""
    _need(m, "replied")
    if not m["rating"] and m["due_at"] and at <= m["due_at"]:
        raise MatterError(_("The citizen may still rate the matter or request a review until %(date)s.",
                            date=notices.cn_date(m["due_at"])))
    if await FollowUp.exists().where((FollowUp.matter == m["id"]) & FollowUp.closed_at.is_null()):
        raise MatterError(_("Record the follow-up visit first."))
    return Step(event="closed", changes={"status": "closed", "closed_at": at, "clock": "", "due_at": None},
                metrics=("closed",), citizen_text=f"您的事项（查询码 {format_code(m['code'])}）已办结。感谢您的理解与支持。")


async def _merge(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    """A repeat petition is merged into the earlier matter (same person, same matter)."""
    _need(m, "registered")
    if not m["repeat_of"]:
        raise MatterError(_("No earlier matter of the same person was found."))
    earlier = await Matter.select(Matter.code).where(Matter.id == m["repeat_of"]).first()
    return Step(event="merged", changes={"status": "merged", "closed_at": at, "clock": "", "due_at": None},
                note=_("Merged into %(code)s.", code=format_code(earlier["code"])), data={"into": m["repeat_of"]},
                citizen_text=f"您的事项与此前提出的事项（查询码 {format_code(earlier['code'])}）相同，已合并办理。")


async def _follow_up(ctx: Ctx, m: dict, values: dict, at: dt.datetime) -> Step:
    record = _text(values, "record", _("Write down what the follow-up visit found."))
    row = await FollowUp.select(FollowUp.id).where((FollowUp.matter == m["id"]) & FollowUp.closed_at.is_null()).first()
    if row is None:
        raise MatterError(_("There is no open follow-up visit."))
    await FollowUp.update({FollowUp.closed_at: at, FollowUp.record: record, FollowUp.closed_by: ctx.user_id}).where(
        FollowUp.id == row["id"]
    )
    return Step(event="followed_up", note=record, public=False)


# action name -> (function, who may do it: "staff" permission or "citizen")
ACTIONS = {
    "accept": (_accept, "matters.triage"),
    "decline": (_decline, "matters.triage"),
    "forward": (_forward, "matters.triage"),
    "assign": (_assign, "matters.triage"),
    "object": (_object, "matters.handle"),
    "note": (_note, "matters.handle"),
    "pause": (_pause, "matters.handle"),
    "resume": (_resume, "matters.handle"),
    "request_extension": (_request_extension, "matters.handle"),
    "decide_extension": (_decide_extension, "matters.approve"),
    "reply": (_reply, "matters.handle"),
    "escalate": (_escalate, "matters.triage"),
    "hand_down": (_hand_down, "matters.triage"),
    "supervise": (_supervise, "matters.supervise"),
    "answer_supervision": (_answer_supervision, "matters.handle"),
    "close": (_close, "matters.handle"),
    "merge": (_merge, "matters.triage"),
    "follow_up": (_follow_up, "matters.handle"),
    "rate": (_rate, "citizen"),
    "request_review": (_request_review, "citizen"),
}


async def act(ctx: Ctx, matter_id: int, action: str, values: dict, *, version: int | None = None) -> dict:
    """Apply one action to a matter in one transaction; raises MatterError with a message to show.

    ``version`` (from the form the user saw) turns a stale double submit into a clear message
    instead of a second change.
    """
    func, _who = ACTIONS[action]
    at = wallclock.now()
    async with write_transaction():
        m = await _lock(matter_id)
        if version is not None and version != m["version"]:
            raise MatterError(_("Someone else changed this matter a moment ago. Check its current state and try again."))
        step = await func(ctx, m, values, at)
        changes = {**step.changes, "version": m["version"] + 1, "updated_at": at}
        await Matter.update(changes).where(Matter.id == matter_id)
        m = {**m, **changes}
        handling_center = await _center(m["center"])
        await _event(matter_id, step.event, ctx, ctx.center_id or m["center"], at, note=step.note, public=step.public,
                     data=step.data)
        stat_center = step.notice_center or m["center"]
        for metric in step.metrics:
            await stats.bump(stat_center, metric, at)
        if step.notice:
            kind, template_values = step.notice
            issuer = await _center(step.notice_center) if step.notice_center else handling_center
            notice = await notices.issue(matter=m, center=issuer, kind=kind, values=template_values, issued_by=ctx.user_id)
            await _event(matter_id, "notice", ctx, issuer["id"], at, note=notice["number"],
                         data={"notice": notice["id"], "title": notice["title"]})
        if action == "rate" and m["rating"] == "unsatisfied":
            await FollowUp.insert(FollowUp(matter=matter_id, center=m["center"], opened_at=at))
        if step.citizen_text:
            await _tell_citizen(m, handling_center, step.citizen_text, f"matter_{step.event}", step.citizen_sms)
        await ctx.trail(f"matter.{step.event}", object_type="matter", object_id=matter_id, center_id=m["center"],
                        fields=tuple(sorted(step.changes)))
        await _emit(ctx, step.event, m, handling_center)
        return m
