"""The life of a whistle: blow, approve or reject, notify, check in, handle jointly, close, rate.

Every change runs in one ``write_transaction()`` with its timeline event, its audit row and the
messages it sends (outbox rows), so none of them happens without the others. Transitions are
conditional UPDATEs on the state they start from (``… WHERE status = 'open'``, ``… WHERE
checked_in_at IS NULL``): a double click or two officers at once change a row once, and the
second gets a message instead of a second change.

Rules carried from incident response (../shared/reference/peers.md §2.4, §8):

* acknowledge ≠ resolve — checking in (报到) is the acknowledgement; the whistle closes only when
  every summoned department reported a result and the center confirms (事不完、人不撤);
* every summoned department acknowledges for itself (one summons row each, its own clock);
* the policy in force when the whistle is blown is copied onto it (``policy``), so a later change
  of the center's policy never moves a running whistle's limits or chain;
* once a department checked in, nothing more is sent to it for this whistle (the escalation job
  only touches summonses with ``checked_in_at IS NULL``, and claims each step with a conditional
  UPDATE that re-checks it).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from litestar.exceptions import NotFoundException

from portal import clock
from portal.audit.chain import AuditTrail
from portal.centers.modules import enabled_modules
from portal.centers.scope import in_scope
from portal.db import current_engine, insert, raw
from portal.i18n import _
from portal.notify.outbox import contains_id_number, queue_inapp, queue_sms
from portal.web.forms import normalize_phone

from plugins.checkin.tables import DEFAULT_REASONS
from plugins.checkin.vocab import GRADES, METHODS

__all__ = [
    "CHAIN",
    "CODE_ALPHABET",
    "CheckinError",
    "NewWhistle",
    "Who",
    "add_minutes",
    "approve",
    "blow",
    "cancel",
    "check_in",
    "close",
    "ensure_policy",
    "is_department_member",
    "load_policy",
    "parse_code",
    "rate",
    "reject",
    "report_result",
    "set_task",
    "summons_of",
    "summonses",
    "visible",
    "whistle_by_code",
    "whistle_in_scope",
]

MODULE = "checkin"
# The tracking codes' alphabet (portal/matters/codes.py): no 0/O, no 1/I.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 6
CENTER_ROLES = frozenset({"center_admin", "window_staff"})
POLICY_FIELDS = (
    "require_approval", "ack_minutes_emergency", "ack_minutes_urgent", "ack_minutes_ordinary",
    "renotify_after", "leader_after", "upper_after", "reasons",
)
DEFAULT_POLICY: dict[str, Any] = {
    "require_approval": False,
    "ack_minutes_emergency": 30,
    "ack_minutes_urgent": 120,
    "ack_minutes_ordinary": 1440,
    "renotify_after": 0,
    "leader_after": 30,
    "upper_after": 60,
    "reasons": DEFAULT_REASONS,
}
# The escalation chain: (step number, policy field, timeline event).
CHAIN = ((1, "renotify_after", "renotified"), (2, "leader_after", "leader_alerted"), (3, "upper_after", "upper_alerted"))


class CheckinError(Exception):
    """A change the whistle's state does not allow; the message is shown to the user."""


@dataclass(frozen=True)
class Who:
    """Who acts: the audit writer and the staff member (None: the escalation job)."""

    trail: AuditTrail
    user_id: int | None = None
    label: str = ""
    registry: Any = None


# ----------------------------------------------------------------------------- helpers


def as_dt(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def local_text(value: Any) -> str:
    """A time as China time, "2026-11-27 14:30"."""
    value = as_dt(value)
    return clock.local(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _safe(text: str) -> str:
    """Free text (a place, a reason) goes into a message only when it carries no ID number."""
    return "" if contains_id_number(text) else text


def is_department_member(user) -> bool:
    """Someone who works for a department (an officer, or a department's own leader): sees only
    the whistles that summon the department. Center window staff and admins see their subtree."""
    return user.department_id is not None and not (user.roles & CENTER_ROLES)


def parse_code(value: str) -> str | None:
    """What a person typed (full-width, lower case, spaces, dashes) as a code, or None."""
    text = unicodedata.normalize("NFKC", value or "").upper()
    text = "".join(ch for ch in text if ch.isalnum())
    if len(text) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in text):
        return None
    return text


async def _new_code() -> str:
    # 32**6 ≈ 10**9 codes for a few thousand whistles: a collision is rare; the UNIQUE index is
    # the backstop, the look-up keeps a collision from aborting the transaction.
    for _attempt in range(10):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if not await raw("SELECT id FROM checkin_whistle WHERE code = {}", code):
            return code
    raise RuntimeError("no free check-in code")


async def _event(whistle_id: int, kind: str, who: Who, at: dt.datetime, note: str = "", summons: int | None = None) -> None:
    await insert("checkin_event", {
        "whistle": whistle_id, "summons": summons, "kind": kind, "note": note, "actor": who.user_id, "at": at,
    })


async def _lock(whistle_id: int) -> dict:
    """Read the whistle for a change: on PostgreSQL lock its row; SQLite's IMMEDIATE lock covers it."""
    if current_engine().engine_type == "postgres":
        await raw("SELECT id FROM checkin_whistle WHERE id = {} FOR UPDATE", whistle_id)
    rows = await raw(
        "SELECT w.*, c.name AS center_name, c.parent AS center_parent FROM checkin_whistle w "
        "JOIN center c ON c.id = w.center WHERE w.id = {}", whistle_id,
    )
    if not rows:
        raise NotFoundException()
    return rows[0]


async def summonses(whistle_id: int) -> list[dict]:
    # Plain dicts: pages add their own keys (asyncpg's records are read-only).
    return [dict(row) for row in await raw(
        "SELECT s.*, d.name AS department_name, d.phone AS department_phone FROM checkin_summons s "
        "JOIN department d ON d.id = s.department WHERE s.whistle = {} ORDER BY d.name, s.id", whistle_id,
    )]


# ----------------------------------------------------------------------------- policy


async def load_policy(center_id: int) -> dict:
    """The center's policy, or the defaults when it has none yet (reading never writes)."""
    rows = await raw("SELECT * FROM checkin_policy WHERE center = {}", center_id)
    return dict(rows[0]) if rows else {**DEFAULT_POLICY, "center": center_id, "id": None, "updated_at": None}


async def ensure_policy(center_id: int) -> dict:
    """The center's policy row, created with the defaults if missing (inside a write transaction)."""
    await raw(
        "INSERT INTO checkin_policy (center, require_approval, ack_minutes_emergency, ack_minutes_urgent, "
        "ack_minutes_ordinary, renotify_after, leader_after, upper_after, reasons, updated_at) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (center) DO NOTHING",
        center_id, *(DEFAULT_POLICY[name] for name in POLICY_FIELDS), clock.now(),
    )
    return (await raw("SELECT * FROM checkin_policy WHERE center = {}", center_id))[0]


def reasons_of(policy: dict) -> list[str]:
    return [line.strip() for line in (policy.get("reasons") or "").splitlines() if line.strip()]


def snapshot(policy: dict) -> dict:
    """What a whistle keeps of the policy in force when it is blown."""
    return {
        "require_approval": bool(policy["require_approval"]),
        "ack_minutes": {grade: int(policy[f"ack_minutes_{grade}"]) for grade in GRADES},
        "chain": {field: policy[field] for _step, field, _kind in CHAIN},
    }


def whistle_policy(whistle: dict) -> dict:
    return json.loads(whistle["policy"] or "{}")


# ----------------------------------------------------------------------------- scope


async def summons_of(whistle_id: int, department_id: int) -> dict | None:
    rows = await raw("SELECT * FROM checkin_summons WHERE whistle = {} AND department = {}", whistle_id, department_id)
    return rows[0] if rows else None


async def visible(user, whistle: dict) -> bool:
    """May ``user`` see this whistle? (Its center must have the module; see module_guard's
    ``module_at: record``.)"""
    if MODULE not in await enabled_modules(whistle["center"]):
        return False
    if is_department_member(user):
        if whistle["status"] in ("pending_approval", "rejected"):
            return False  # not addressed to anyone yet
        return await summons_of(whistle["id"], user.department_id) is not None
    return MODULE in user.modules and in_scope(user, whistle["center_path"])


async def whistle_in_scope(user, whistle_id: int) -> dict:
    """The whistle with its center's name and path, or 404 (forged ids, other departments, other
    centers, a center where the module is off)."""
    rows = await raw(
        "SELECT w.*, c.path AS center_path, c.name AS center_name, c.parent AS center_parent "
        "FROM checkin_whistle w JOIN center c ON c.id = w.center WHERE w.id = {}", whistle_id,
    )
    if not rows or not await visible(user, rows[0]):
        raise NotFoundException()
    return rows[0]


async def whistle_by_code(user, code: str) -> dict | None:
    """The open (or closed) whistle with this code that summons the user's department, else None."""
    if user.department_id is None:
        return None
    rows = await raw(
        "SELECT w.*, c.path AS center_path, c.name AS center_name, c.parent AS center_parent "
        "FROM checkin_whistle w JOIN center c ON c.id = w.center WHERE w.code = {}", code,
    )
    if not rows or rows[0]["status"] not in ("open", "closed") or not await visible(user, rows[0]):
        return None
    return rows[0]


# ----------------------------------------------------------------------------- recipients


async def department_staff(department_id: int) -> list[dict]:
    """Every active account of the department, whatever its role (staff_user.department)."""
    return await raw(
        "SELECT id, display_name, phone FROM staff_user WHERE department = {} AND active ORDER BY id", department_id,
    )


async def department_leaders(department_id: int) -> list[dict]:
    return await raw(
        "SELECT DISTINCT u.id, u.display_name, u.phone FROM staff_user u JOIN staff_role r ON r.\"user\" = u.id "
        "WHERE u.department = {} AND u.active AND r.role = 'leader' ORDER BY u.id", department_id,
    )


async def center_leaders(center_id: int, roles: tuple[str, ...] = ("leader", "center_admin")) -> list[dict]:
    """The center's own leaders and admins (not departments' people sitting at that center)."""
    marks = ", ".join("{}" for _ in roles)
    return await raw(
        "SELECT DISTINCT u.id, u.display_name, u.phone FROM staff_user u JOIN staff_role r ON r.\"user\" = u.id "
        f"WHERE u.center = {{}} AND u.active AND u.department IS NULL AND r.role IN ({marks}) ORDER BY u.id",
        center_id, *roles,
    )


def link_of(whistle_id: int) -> str:
    return f"/m/checkin/w/{whistle_id}"


async def _tell(people: list[dict], whistle: dict, inapp: str, sms: str, kind: str) -> tuple[int, int]:
    """In-app message to each person, and an SMS to those with a mobile number. Returns (in-app, SMS)."""
    inapps = smses = 0
    for person in people:
        await queue_inapp(body=inapp, kind=kind, staff=person["id"], center=whistle["center"], matter=whistle["matter"],
                          link=link_of(whistle["id"]))
        inapps += 1
        phone = normalize_phone(person["phone"] or "")
        if phone and sms:
            await queue_sms(phone, sms, kind=kind, center=whistle["center"], matter=whistle["matter"])
            smses += 1
    return inapps, smses


def _where(whistle: dict) -> str:
    when = local_text(whistle["report_at"])
    if whistle["mode"] == "online":
        return _("Attend online at %(time)s.", time=when)
    return _("Report on site at %(place)s at %(time)s.", place=_safe(whistle["place"]) or "—", time=when)


def summons_texts(whistle: dict, department: str, due: dt.datetime, again: bool = False) -> tuple[str, str]:
    """(in-app text, SMS text) of a summons. The SMS names no person and carries no free text
    beyond the place (checked for ID numbers); the check-in code is never sent: it is shown at the
    meeting place, so checking in by code proves presence."""
    values = dict(center=whistle["center_name"], department=department, due=local_text(due),
                  grade=GRADES.get(whistle["grade"], ""), reason=_safe(whistle["reason"]) or "—", where=_where(whistle))
    if again:
        inapp = _("Reminder: %(department)s has not checked in for the whistle of %(center)s (%(grade)s); the time "
                  "limit was %(due)s. Check in now. %(where)s", **values)
        sms = _("[%(center)s] Reminder: %(department)s has not checked in (limit %(due)s). Please check in now. %(where)s",
                **values)
    else:
        inapp = _("Whistle from %(center)s: %(department)s is summoned (%(grade)s). Reason: %(reason)s. Check in by "
                  "%(due)s. %(where)s", **values)
        sms = _("[%(center)s] Whistle: %(department)s is summoned. Check in by %(due)s. %(where)s Details are in the "
                "portal.", **values)
    return inapp, sms


# ----------------------------------------------------------------------------- blow


@dataclass
class NewWhistle:
    source: str
    reason: str
    grade: str
    mode: str
    place: str
    report_at: dt.datetime
    instruction: str
    departments: list[int]
    matter: int | None = None


async def blow(who: Who, center: dict, data: NewWhistle, policy: dict) -> dict:
    """Create the whistle (inside the caller's write transaction: ``create_once``).

    With approval required it waits (``pending_approval``) and the center's leaders and admins
    are told; otherwise it goes out at once (``_open``).
    """
    now = clock.now()
    snap = snapshot(policy)
    status = "pending_approval" if snap["require_approval"] else "open"
    code = await _new_code()
    whistle_id = await insert("checkin_whistle", {
        "center": center["id"], "matter": data.matter, "code": code, "source": data.source, "reason": data.reason,
        "grade": data.grade, "mode": data.mode, "place": data.place, "report_at": data.report_at,
        "instruction": data.instruction, "status": status, "policy": json.dumps(snap, ensure_ascii=False),
        "created_by": who.user_id, "created_at": now, "approved_by": None, "approved_at": None, "approval_note": "",
        "closed_by": None, "closed_at": None, "close_note": "", "version": 1,
    })
    for department in data.departments:
        await insert("checkin_summons", {"whistle": whistle_id, "department": department})
    names = [row["name"] for row in await raw(
        "SELECT name FROM department WHERE id IN (" + ", ".join("{}" for _ in data.departments) + ") ORDER BY name",
        *data.departments,
    )]
    await _event(whistle_id, "blown", who, now, _("Summoned: %(departments)s.", departments="、".join(names)))
    await who.trail("checkin.blown", object_type="checkin_whistle", object_id=whistle_id, center_id=center["id"],
                    fields=("departments", "grade", "mode", "reason"))
    whistle = await _lock(whistle_id)
    if status == "pending_approval":
        for person in await center_leaders(center["id"]):
            await queue_inapp(
                body=_("A whistle of %(center)s waits for your approval: %(departments)s (%(grade)s).",
                       center=center["name"], departments="、".join(names), grade=GRADES[data.grade]),
                kind="checkin_approval", staff=person["id"], center=center["id"], matter=data.matter,
                link=link_of(whistle_id),
            )
    else:
        await _open(who, whistle, now)
    if data.matter is not None:
        if status == "pending_approval":
            text = _("Whistle blown, waiting for a leader's approval: %(departments)s.", departments="、".join(names))
        else:
            text = _("Whistle blown: %(departments)s are summoned to check in.", departments="、".join(names))
        await _matter_note(who, data.matter, text)
    return {"id": whistle_id, "code": code, "status": status}


async def _open(who: Who, whistle: dict, at: dt.datetime) -> None:
    """The whistle goes out: every summons gets its limit, and every department is told."""
    limit = dt.timedelta(minutes=int(whistle_policy(whistle)["ack_minutes"][whistle["grade"]]))
    due = at + limit
    await raw("UPDATE checkin_summons SET summoned_at = {}, ack_due_at = {} WHERE whistle = {}", at, due, whistle["id"])
    for summons in await summonses(whistle["id"]):
        people = await department_staff(summons["department"])
        inapp, sms = summons_texts(whistle, summons["department_name"], due)
        inapps, smses = await _tell(people, whistle, inapp, sms, "checkin_summons")
        note = (_("Notified %(people)s people (%(sms)s by SMS).", people=inapps, sms=smses) if inapps
                else _("Nobody to notify: the department has no active account."))
        await _event(whistle["id"], "notified", who, at, f"{summons['department_name']}：{note}", summons=summons["id"])


async def _matter_note(who: Who, matter_id: int, text: str) -> None:
    """An internal note on the matter's timeline through core's public transition (``act``)."""
    from portal.matters.service import Ctx, MatterError, act

    ctx = Ctx(trail=who.trail, registry=who.registry, user_id=who.user_id, user_label=who.label)
    try:
        await act(ctx, matter_id, "note", {"note": text, "public": ""})
    except MatterError:
        pass  # the matter is gone: the whistle stands on its own


# ----------------------------------------------------------------------------- approval


async def approve(who: Who, whistle_id: int, note: str) -> dict:
    now = clock.now()
    whistle = await _lock(whistle_id)
    if whistle["status"] != "pending_approval":
        raise CheckinError(_("This whistle has already been decided."))
    await raw(
        "UPDATE checkin_whistle SET status = 'open', approved_by = {}, approved_at = {}, approval_note = {}, "
        "version = version + 1 WHERE id = {} AND status = 'pending_approval'", who.user_id, now, note, whistle_id,
    )
    await _event(whistle_id, "approved", who, now, note)
    await who.trail("checkin.approved", object_type="checkin_whistle", object_id=whistle_id, center_id=whistle["center"],
                    fields=("status",))
    whistle = await _lock(whistle_id)
    await _open(who, whistle, now)
    return whistle


async def reject(who: Who, whistle_id: int, note: str) -> dict:
    if not note:
        raise CheckinError(_("Give the reason for not approving the whistle."))
    now = clock.now()
    whistle = await _lock(whistle_id)
    if whistle["status"] != "pending_approval":
        raise CheckinError(_("This whistle has already been decided."))
    await raw(
        "UPDATE checkin_whistle SET status = 'rejected', approved_by = {}, approved_at = {}, approval_note = {}, "
        "version = version + 1 WHERE id = {} AND status = 'pending_approval'", who.user_id, now, note, whistle_id,
    )
    await _event(whistle_id, "rejected", who, now, note)
    await who.trail("checkin.rejected", object_type="checkin_whistle", object_id=whistle_id, center_id=whistle["center"],
                    fields=("status", "approval_note"))
    if whistle["created_by"]:
        await queue_inapp(body=_("Your whistle was not approved: %(reason)s", reason=_safe(note) or "—"),
                          kind="checkin_rejected", staff=whistle["created_by"], center=whistle["center"],
                          matter=whistle["matter"], link=link_of(whistle_id))
    return whistle


# ----------------------------------------------------------------------------- check-in


async def check_in(who: Who, whistle_id: int, department_id: int, method: str, attendees: str) -> dict:
    """The department reports (报到). Once per department: a second attempt gets a message."""
    if method not in METHODS:
        raise ValueError(method)
    if not attendees:
        raise CheckinError(_("Write the names of who came."))
    now = clock.now()
    whistle = await _lock(whistle_id)
    if whistle["status"] != "open":
        raise CheckinError(_("This whistle is no longer open for check-in."))
    if method == "online" and whistle["mode"] != "online":
        raise CheckinError(_("This whistle asks for check-in on site: scan the QR code there or type its check-in code."))
    summons = await summons_of(whistle_id, department_id)
    if summons is None:
        raise NotFoundException()
    # Once recorded late (by the escalation job, whose process clock may run ahead of this one's),
    # a department stays late: it was escalated, so it cannot have checked in on time.
    rows = await raw(
        "UPDATE checkin_summons SET checked_in_at = {}, checkin_method = {}, checked_in_by = {}, attendees = {}, "
        "late = (late OR (ack_due_at IS NOT NULL AND ack_due_at < {})) "
        "WHERE id = {} AND checked_in_at IS NULL RETURNING id, late",
        now, method, who.user_id, attendees, now, summons["id"],
    )
    if not rows:
        raise CheckinError(_("Your department already checked in at %(time)s.", time=local_text(summons["checked_in_at"])))
    late = bool(rows[0]["late"])
    name = (await raw("SELECT name FROM department WHERE id = {}", department_id))[0]["name"]
    note = _("%(department)s checked in (%(method)s). Present: %(attendees)s.", department=name,
             method=METHODS[method], attendees=attendees)
    if late:
        note += _(" Late: the limit was %(due)s.", due=local_text(summons["ack_due_at"]))
    await _event(whistle_id, "checked_in", who, now, note, summons=summons["id"])
    await who.trail("checkin.checked_in", object_type="checkin_summons", object_id=summons["id"],
                    center_id=whistle["center"], fields=("checked_in_at", "checkin_method", "attendees"))
    return {"late": late, "whistle": whistle}


# ----------------------------------------------------------------------------- joint handling


async def add_minutes(who: Who, whistle_id: int, text: str) -> None:
    if not text:
        raise CheckinError(_("Write the minutes before saving them."))
    whistle = await _lock(whistle_id)
    if whistle["status"] != "open":
        raise CheckinError(_("Minutes can be added only while the whistle is open."))
    await _event(whistle_id, "minutes", who, clock.now(), text)
    await who.trail("checkin.minutes", object_type="checkin_whistle", object_id=whistle_id, center_id=whistle["center"],
                    fields=("minutes",))


async def _open_summons(whistle_id: int, department_id: int | None, action_text: str) -> tuple[dict, dict]:
    whistle = await _lock(whistle_id)
    if whistle["status"] != "open":
        raise CheckinError(action_text)
    summons = await summons_of(whistle_id, department_id) if department_id else None
    if summons is None:
        raise CheckinError(_("Choose one of the summoned departments."))
    return whistle, summons


async def set_task(who: Who, whistle_id: int, department_id: int | None, text: str) -> None:
    if not text:
        raise CheckinError(_("Write the department's task."))
    whistle, summons = await _open_summons(whistle_id, department_id, _("Tasks can be set only while the whistle is open."))
    now = clock.now()
    await raw("UPDATE checkin_summons SET task = {}, task_at = {} WHERE id = {}", text, now, summons["id"])
    name = (await raw("SELECT name FROM department WHERE id = {}", summons["department"]))[0]["name"]
    await _event(whistle_id, "task", who, now, f"{name}：{text}", summons=summons["id"])
    # No message: the department reads its task on the whistle page (nothing is pushed at a
    # department for this whistle but the summons and, while it has not checked in, the chain).
    await who.trail("checkin.task", object_type="checkin_summons", object_id=summons["id"], center_id=whistle["center"],
                    fields=("task",))


async def report_result(who: Who, whistle_id: int, department_id: int | None, text: str, *, on_behalf: bool) -> None:
    """The department's result report (by its officer, or entered by the center on its behalf)."""
    if not text:
        raise CheckinError(_("Write the result of the department's handling."))
    whistle, summons = await _open_summons(whistle_id, department_id, _("Results can be reported only while the whistle is open."))
    now = clock.now()
    await raw(
        "UPDATE checkin_summons SET result = {}, result_at = {}, result_by = {}, result_on_behalf = {} WHERE id = {}",
        text, now, who.user_id, on_behalf, summons["id"],
    )
    name = (await raw("SELECT name FROM department WHERE id = {}", summons["department"]))[0]["name"]
    note = f"{name}：{text}"
    if on_behalf:
        note += _(" (entered by the center on the department's behalf)")
    await _event(whistle_id, "result", who, now, note, summons=summons["id"])
    await who.trail("checkin.result", object_type="checkin_summons", object_id=summons["id"], center_id=whistle["center"],
                    fields=("result",))
    if not on_behalf and whistle["created_by"]:
        await queue_inapp(body=_("%(department)s reported its result for the whistle.", department=name),
                          kind="checkin_result", staff=whistle["created_by"], center=whistle["center"],
                          matter=whistle["matter"], link=link_of(whistle_id))


async def close(who: Who, whistle_id: int, note: str) -> None:
    """Close the whistle (事不完、人不撤): only when every summons has a result (the refusal names
    the departments that have not reported) and the center confirms with a note. Departments that
    never checked in are marked absent (and late)."""
    whistle = await _lock(whistle_id)
    if whistle["status"] != "open":
        raise CheckinError(_("Only an open whistle can be closed."))
    missing = [s["department_name"] for s in await summonses(whistle_id) if not (s["result"] or "").strip()]
    if missing:
        raise CheckinError(_("Not every department has reported its result yet: %(departments)s.",
                             departments="、".join(missing)))
    if not note:
        raise CheckinError(_("Write the center's confirmation before closing the whistle."))
    now = clock.now()
    await raw(
        "UPDATE checkin_whistle SET status = 'closed', closed_by = {}, closed_at = {}, close_note = {}, "
        "version = version + 1 WHERE id = {} AND status = 'open'", who.user_id, now, note, whistle_id,
    )
    await raw("UPDATE checkin_summons SET absent = {}, late = {} WHERE whistle = {} AND checked_in_at IS NULL",
              True, True, whistle_id)
    await _event(whistle_id, "closed", who, now, note)
    await who.trail("checkin.closed", object_type="checkin_whistle", object_id=whistle_id, center_id=whistle["center"],
                    fields=("status", "close_note"))
    if whistle["matter"] is not None:
        await _matter_note(who, whistle["matter"], _("Whistle closed: every summoned department reported its result."))


async def cancel(who: Who, whistle_id: int, reason: str) -> None:
    """Withdraw a whistle blown by mistake: only before any department checked in."""
    if not reason:
        raise CheckinError(_("Give the reason for withdrawing the whistle."))
    whistle = await _lock(whistle_id)
    if whistle["status"] not in ("open", "pending_approval"):
        raise CheckinError(_("This whistle can no longer be withdrawn."))
    if await raw("SELECT id FROM checkin_summons WHERE whistle = {} AND checked_in_at IS NOT NULL LIMIT 1", whistle_id):
        raise CheckinError(_("A department has already checked in: the whistle can no longer be withdrawn."))
    now = clock.now()
    await raw(
        "UPDATE checkin_whistle SET status = 'cancelled', closed_by = {}, closed_at = {}, close_note = {}, "
        "version = version + 1 WHERE id = {}", who.user_id, now, reason, whistle_id,
    )
    await _event(whistle_id, "cancelled", who, now, reason)
    await who.trail("checkin.cancelled", object_type="checkin_whistle", object_id=whistle_id, center_id=whistle["center"],
                    fields=("status", "close_note"))
    if whistle["status"] == "open":
        # Those already summoned learn that they need not come (in-app only: no SMS for a withdrawal).
        for summons in await summonses(whistle_id):
            for person in await department_staff(summons["department"]):
                await queue_inapp(body=_("The whistle of %(center)s that summoned %(department)s was withdrawn.",
                                         center=whistle["center_name"], department=summons["department_name"]),
                                  kind="checkin_cancelled", staff=person["id"], center=whistle["center"],
                                  matter=whistle["matter"], link=link_of(whistle_id))


async def rate(who: Who, whistle_id: int, department_id: int | None, timeliness: int | None,
               effectiveness: int | None, note: str) -> None:
    """评哨: once per department, after the close."""
    if timeliness not in range(1, 6) or effectiveness not in range(1, 6):
        raise CheckinError(_("Choose a score from 1 to 5 for both timeliness and effectiveness."))
    whistle = await _lock(whistle_id)
    if whistle["status"] != "closed":
        raise CheckinError(_("Departments are rated after the whistle is closed."))
    summons = await summons_of(whistle_id, department_id) if department_id else None
    if summons is None:
        raise CheckinError(_("Choose one of the summoned departments."))
    now = clock.now()
    rows = await raw(
        "UPDATE checkin_summons SET rating_timeliness = {}, rating_effectiveness = {}, rating_note = {}, rated_at = {}, "
        "rated_by = {} WHERE id = {} AND rated_at IS NULL RETURNING id",
        timeliness, effectiveness, note, now, who.user_id, summons["id"],
    )
    if not rows:
        raise CheckinError(_("This department has already been rated for this whistle."))
    name = (await raw("SELECT name FROM department WHERE id = {}", summons["department"]))[0]["name"]
    text = _("%(department)s: timeliness %(t)s, effectiveness %(e)s.", department=name, t=timeliness, e=effectiveness)
    await _event(whistle_id, "rated", who, now, f"{text} {note}".strip(), summons=summons["id"])
    await who.trail("checkin.rated", object_type="checkin_summons", object_id=summons["id"], center_id=whistle["center"],
                    fields=("rating_timeliness", "rating_effectiveness", "rating_note"))
