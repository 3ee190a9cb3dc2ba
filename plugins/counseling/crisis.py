"""The crisis path (危机干预): a flag, the alert, the checklist, the closing note.

A flag comes from the self-screening (PHQ-9 item 9 above 0, raised in the transaction that stores
the answers) or from the counselor (on a booking or, from the notes side, on a case: ``case_ref``)
with a reason. In the flag's own transaction every designated crisis contact of the center gets an
SMS and an in-app message linking to the flag (core's live alerts put the in-app message on their
open page within a second once the caller runs ``deliver_soon``); the case's counselor gets the
in-app message too. With no crisis contact designated, the center's supervisors get it instead, so
a flag never goes nowhere.

The counselor's reason, the checklist notes and the closing note describe a person in danger: they
are stored encrypted with the notes key (notes_crypto; each bound to its flag) and decrypted only
for the flag's page (``readable``, ``steps``).

The SMS is neutral: it names neither counseling, nor the person, nor any answer — a phone is read
over shoulders. The in-app message says only that a crisis flag needs attention.

The page shows the checklist (each step timestamped with who took it) and is visible to the
center's crisis contacts, the flag's counselor and the center's supervisors — to nobody else, who
get 404. A flag is resolved only with a closing note; after that it takes no more steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.exceptions import NotFoundException

from portal import clock
from portal.auth.principal import Principal
from portal.db import current_engine, raw, write_transaction
from portal.i18n import _
from portal.notify.outbox import queue_inapp, queue_sms

from plugins.counseling.booking import crisis_contacts, is_crisis_contact, is_supervisor, supervisors

__all__ = ["SOURCES", "STATUS_LABELS", "STEPS", "CrisisError", "add_step", "crisis_link", "raise_flag", "readable", "resolve", "steps",
           "visible", "visible_flags"]

STEPS: dict[str, str] = {
    "accompany": "陪伴当事人（不离开）",
    "family": "联系家属",
    "police": "报警 110",
    "medical": "联系 120 / 送医",
    "referral": "转介医疗机构",
    "other": "其他（说明）",
}
SOURCES: dict[str, str] = {"screening": "自评问卷提示自伤风险", "counselor": "咨询师标记"}
STATUS_LABELS: dict[str, str] = {"open": "处置中", "resolved": "已解除"}
NOTE_MAX = 2000
KIND = "counseling_crisis"


class CrisisError(Exception):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Alerted:
    sms: int
    inapp: int


def crisis_link(crisis_id: int) -> str:
    return f"/m/counseling/crisis/{crisis_id}"


# Associated data of the encrypted texts (also in notes_crypto.ENCRYPTED for rotation).
def _reason_context(crisis_id: int) -> str:
    return f"crisis:{crisis_id}"


def _closing_context(crisis_id: int) -> str:
    return f"crisis-closing:{crisis_id}"


def _step_context(crisis_id: int) -> str:
    return f"crisis-step:{crisis_id}"


def readable(cipher, crisis: dict) -> dict:
    """The flag with its reason and closing note decrypted (a wrong key raises CounselingKeyError)."""
    return {**crisis, "reason": cipher.decrypt(crisis["reason"], _reason_context(crisis["id"])),
            "closing_note": cipher.decrypt(crisis["closing_note"], _closing_context(crisis["id"]))}


async def raise_flag(trail, *, center_id: int, counselor_id: int | None, source: str, reason: str = "",
                     raised_by: int | None = None, booking_id: int | None = None, case_ref: int | None = None,
                     cipher=None) -> dict:
    """Create the flag and queue its alerts, in one transaction (joins the caller's). A ``reason``
    needs the notes ``cipher``: it is never stored in the clear."""
    if source not in SOURCES:
        raise ValueError("unknown crisis source")
    reason = reason[:NOTE_MAX]
    if reason and cipher is None:
        raise ValueError("a crisis reason is stored encrypted: pass the notes cipher")
    async with write_transaction():
        rows = await raw(
            "INSERT INTO counseling_crisis (center, booking, case_ref, counselor, source, reason, status, raised_by, raised_at, "
            "resolved_by, resolved_at, closing_note, version) VALUES ({}, {}, {}, {}, {}, {}, 'open', {}, {}, NULL, NULL, '', 1) "
            "RETURNING *",
            center_id, booking_id, case_ref, counselor_id, source, "", raised_by, clock.now(),
        )
        crisis = dict(rows[0])
        if reason:
            # The ciphertext names the flag's id, which exists only now.
            crisis["reason"] = cipher.encrypt(reason, _reason_context(crisis["id"]))
            await raw("UPDATE counseling_crisis SET reason = {} WHERE id = {}", crisis["reason"], crisis["id"])
        await trail("counseling.crisis_raised", object_type="counseling_crisis", object_id=crisis["id"], center_id=center_id,
                    fields=(source,))
        await _alert(crisis, raised_by)
        return crisis


async def _alert(crisis: dict, raised_by: int | None) -> Alerted:
    center = (await raw("SELECT name FROM center WHERE id = {}", crisis["center"]))[0]
    link = crisis_link(crisis["id"])
    body = _("Crisis flag at %(center)s: someone needs attention now. Open it and follow the checklist.", center=center["name"])
    sms_text = "【%s】%s" % (center["name"], _("An urgent matter needs you now. Please sign in to the portal and read your messages."))
    told: set[int] = set()
    sms = 0
    contacts = await crisis_contacts(crisis["center"])
    for contact in contacts:
        if contact["phone"]:
            await queue_sms(contact["phone"], sms_text, kind=KIND, center=crisis["center"])
            sms += 1
        await queue_inapp(body=body, kind=KIND, staff=contact["staff"], center=crisis["center"], link=link)
        told.add(contact["staff"])
    others = [crisis["counselor"]] if crisis["counselor"] else []
    if not contacts:
        others += [row["staff"] for row in await supervisors(crisis["center"])]
    for staff_id in others:
        if staff_id in told or staff_id == raised_by:
            continue
        await queue_inapp(body=body, kind=KIND, staff=staff_id, center=crisis["center"], link=link)
        told.add(staff_id)
    return Alerted(sms=sms, inapp=len(told))


async def visible(user: Principal, crisis_id: int) -> dict:
    """The flag if the user is one of the center's crisis contacts, its counselor or one of the
    center's supervisors; else 404."""
    rows = await raw("SELECT x.*, c.name AS center_name, c.path AS center_path FROM counseling_crisis x "
                     "JOIN center c ON c.id = x.center WHERE x.id = {}", crisis_id)
    if not rows:
        raise NotFoundException()
    crisis = rows[0]
    if crisis["counselor"] == user.user_id and user.can("counseling.counsel"):
        return crisis
    if await is_crisis_contact(user, crisis["center"]) or await is_supervisor(user, crisis["center"]):
        return crisis
    raise NotFoundException()


async def visible_flags(user: Principal, status: str | None = None, limit: int = 100) -> list[dict]:
    """Flags the user may see (same rule as ``visible``), open ones first."""
    where = "" if status is None else " AND x.status = {}"
    supervise = await is_supervisor(user)
    counsel = user.can("counseling.counsel")
    sql = (
        "SELECT x.*, c.name AS center_name, s.display_name AS counselor_name, b.starts_at AS booking_starts_at "
        "FROM counseling_crisis x JOIN center c ON c.id = x.center LEFT JOIN staff_user s ON s.id = x.counselor "
        "LEFT JOIN booking b ON b.id = x.booking "
        f"WHERE ({'x.counselor = {} OR ' if counsel else ''}x.center IN (SELECT k.center FROM counseling_crisis_contact k WHERE k.staff = {{}})"
        f"{' OR x.center = {}' if supervise else ''}){where} "
        "ORDER BY CASE WHEN x.status = 'open' THEN 0 ELSE 1 END, x.raised_at DESC LIMIT {}"
    )
    args: list = ([user.user_id] if counsel else []) + [user.user_id] + ([user.center_id] if supervise else [])
    if status is not None:
        args.append(status)
    args.append(limit)
    return await raw(sql, *args)


async def _lock(crisis_id: int) -> dict:
    suffix = " FOR UPDATE" if current_engine().engine_type == "postgres" else ""
    return (await raw(f"SELECT * FROM counseling_crisis WHERE id = {{}}{suffix}", crisis_id))[0]


async def add_step(trail, crisis: dict, step: str, note: str, actor: int, cipher) -> dict:
    """Record one checklist step (who, when); "other" needs a note. Refused once resolved."""
    if step not in STEPS:
        raise CrisisError(_("Choose a step from the list."), "step")
    note = (note or "").strip()[:NOTE_MAX]
    if step == "other" and not note:
        raise CrisisError(_("Describe what was done."), "note")
    async with write_transaction():
        current = await _lock(crisis["id"])
        if current["status"] != "open":
            raise CrisisError(_("This crisis flag is already resolved."), "step")
        rows = await raw("INSERT INTO counseling_crisis_step (crisis, step, note, actor, at) VALUES ({}, {}, {}, {}, {}) RETURNING *",
                         crisis["id"], step, cipher.encrypt(note, _step_context(crisis["id"])), actor, clock.now())
        await trail("counseling.crisis_step", object_type="counseling_crisis", object_id=crisis["id"],
                    center_id=crisis["center"], fields=(step,))
        return rows[0]


async def resolve(trail, crisis: dict, note: str, actor: int, cipher) -> dict:
    note = (note or "").strip()[:NOTE_MAX]
    if len(note) < 5:
        raise CrisisError(_("Write a closing note: what was done and where the person is now (at least 5 characters)."), "closing_note")
    async with write_transaction():
        rows = await raw(
            "UPDATE counseling_crisis SET status = 'resolved', resolved_by = {}, resolved_at = {}, closing_note = {}, "
            "version = version + 1 WHERE id = {} AND status = 'open' RETURNING *",
            actor, clock.now(), cipher.encrypt(note, _closing_context(crisis["id"])), crisis["id"],
        )
        if not rows:
            raise CrisisError(_("This crisis flag is already resolved."), "closing_note")
        await trail("counseling.crisis_resolved", object_type="counseling_crisis", object_id=crisis["id"],
                    center_id=crisis["center"], fields=("closing_note",))
        return rows[0]


async def steps(crisis_id: int, cipher) -> list[dict]:
    rows = await raw(
        "SELECT t.*, s.display_name AS actor_name FROM counseling_crisis_step t LEFT JOIN staff_user s ON s.id = t.actor "
        "WHERE t.crisis = {} ORDER BY t.id", crisis_id,
    )
    return [{**row, "note": cipher.decrypt(row["note"], _step_context(crisis_id))} for row in rows]
