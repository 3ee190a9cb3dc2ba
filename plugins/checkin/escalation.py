"""The escalation job ``checkin.escalate``: departments that have not checked in by their limit.

For every open whistle at a center where the module is enabled, each summons not checked in walks
the chain copied onto the whistle when it was blown (never the center's current policy):

1. ``renotify_after`` minutes after the limit: the department's staff are told again;
2. ``leader_after``: the department's leaders (its staff with the leader role; without one, the
   department's own phone by SMS if it is a mobile number);
3. ``upper_after``: the upper center's leaders and admins (for a district whistle, the district's
   own leaders).

A step whose offset is NULL is off and passed over. Each step fires at most once: it is claimed
with ``UPDATE … SET escalation_step = n WHERE id = … AND escalation_step = <previous> AND
checked_in_at IS NULL`` in the transaction that queues its messages and writes its timeline
event, so two processes running the job at the same moment send each step once, and a department
that checks in meanwhile gets nothing more (the check-in and the claim update the same row).
Once the limit has passed (strictly: a check-in at the limit is in time), each run first marks the
summonses still waiting ``late``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from portal import clock
from portal.audit.chain import SYSTEM, AuditTrail
from portal.crypto import audit_key
from portal.db import raw, write_transaction
from portal.i18n import _
from portal.notify.outbox import queue_sms
from portal.web.forms import normalize_phone

from plugins.checkin.service import (
    CHAIN, Who, _event, _tell, as_dt, center_leaders, department_leaders, department_staff, local_text,
    summons_texts, whistle_policy,
)

__all__ = ["ESCALATE", "EscalationReport", "escalate"]

ESCALATE = "checkin.escalate"
BATCH = 500


@dataclass(frozen=True)
class EscalationReport:
    late: int = 0
    renotified: int = 0
    leader_alerted: int = 0
    upper_alerted: int = 0


def due_steps(whistle: dict, summons: dict, now: dt.datetime) -> list[tuple[int, str]]:
    """The chain's steps (number, event kind) whose time has come, in order, from the snapshot."""
    chain = whistle_policy(whistle).get("chain", {})
    due = as_dt(summons["ack_due_at"])
    steps = []
    for number, field, kind in CHAIN:
        offset = chain.get(field)
        if offset is None or number <= summons["escalation_step"]:
            continue
        if due + dt.timedelta(minutes=int(offset)) <= now:
            steps.append((number, kind))
    return steps


async def _candidates(center_ids: list[int], now: dt.datetime, after: int) -> list[dict]:
    """Waiting summonses past their limit, by id from ``after`` (keyset: a summons whose remaining
    steps are all switched off stays a candidate, and must not crowd the others out of a batch)."""
    marks = ", ".join("{}" for _ in center_ids)
    return await raw(
        "SELECT s.id, s.whistle, s.department, s.ack_due_at, s.escalation_step, d.name AS department_name, "
        "d.phone AS department_phone FROM checkin_summons s JOIN checkin_whistle w ON w.id = s.whistle "
        "JOIN department d ON d.id = s.department "
        f"WHERE w.status = 'open' AND w.center IN ({marks}) AND s.checked_in_at IS NULL "
        "AND s.ack_due_at IS NOT NULL AND s.ack_due_at <= {} AND s.escalation_step < 3 AND s.id > {} "
        f"ORDER BY s.id LIMIT {BATCH}",
        *center_ids, now, after,
    )


async def _whistle(whistle_id: int) -> dict:
    rows = await raw(
        "SELECT w.*, c.name AS center_name, c.parent AS center_parent FROM checkin_whistle w "
        "JOIN center c ON c.id = w.center WHERE w.id = {}", whistle_id,
    )
    return rows[0]


async def _fire(who: Who, whistle: dict, summons: dict, number: int, kind: str, previous: int, now: dt.datetime) -> bool:
    """Claim step ``number`` and send it, in one transaction. False when someone else claimed it
    first or the department checked in meanwhile."""
    async with write_transaction():
        claimed = await raw(
            "UPDATE checkin_summons SET escalation_step = {} "
            "WHERE id = {} AND escalation_step = {} AND checked_in_at IS NULL RETURNING id",
            number, summons["id"], previous,
        )
        if not claimed:
            return False
        name = summons["department_name"]
        due = as_dt(summons["ack_due_at"])
        if kind == "renotified":
            inapp, sms = summons_texts(whistle, name, due, again=True)
            people = await department_staff(summons["department"])
            inapps, smses = await _tell(people, whistle, inapp, sms, "checkin_renotify")
            note = (_("%(department)s: notified again, %(people)s people (%(sms)s by SMS).", department=name,
                      people=inapps, sms=smses) if inapps
                    else _("%(department)s: nobody to notify again (no active account).", department=name))
        elif kind == "leader_alerted":
            note = await _alert_leader(whistle, summons, due)
        else:
            note = await _alert_upper(whistle, summons, due)
        await _event(whistle["id"], kind, who, now, note, summons=summons["id"])
        await who.trail(f"checkin.{kind}", object_type="checkin_summons", object_id=summons["id"],
                        center_id=whistle["center"], fields=("escalation_step",))
    return True


async def _alert_leader(whistle: dict, summons: dict, due: dt.datetime) -> str:
    name = summons["department_name"]
    values = dict(center=whistle["center_name"], department=name, due=local_text(due))
    inapp = _("%(department)s has not checked in for the whistle of %(center)s (limit %(due)s). As its leader, "
              "please make sure it reports now.", **values)
    sms = _("[%(center)s] %(department)s has not checked in for a whistle (limit %(due)s). Please make sure it "
            "reports now.", **values)
    leaders = await department_leaders(summons["department"])
    if leaders:
        await _tell(leaders, whistle, inapp, sms, "checkin_leader")
        return _("%(department)s: its leaders were alerted: %(names)s.", department=name,
                 names="、".join(person["display_name"] for person in leaders))
    phone = normalize_phone(summons["department_phone"] or "")
    if phone:
        await queue_sms(phone, sms, kind="checkin_leader", center=whistle["center"], matter=whistle["matter"])
        return _("%(department)s has no leader account: the department's phone was alerted by SMS.", department=name)
    return _("%(department)s has no leader account and no mobile phone: nobody could be alerted.", department=name)


async def _alert_upper(whistle: dict, summons: dict, due: dt.datetime) -> str:
    name = summons["department_name"]
    upper_id = whistle["center_parent"] or whistle["center"]
    roles = ("leader", "center_admin") if whistle["center_parent"] else ("leader",)
    upper = (await raw("SELECT name FROM center WHERE id = {}", upper_id))[0]["name"]
    values = dict(center=whistle["center_name"], department=name, due=local_text(due))
    inapp = _("%(department)s has still not checked in for the whistle of %(center)s (limit %(due)s). "
              "Please supervise.", **values)
    sms = _("[%(center)s] %(department)s has still not checked in for a whistle (limit %(due)s). Please supervise.",
            **values)
    people = await center_leaders(upper_id, roles)
    if people:
        await _tell(people, whistle, inapp, sms, "checkin_upper")
        return _("%(department)s: %(upper)s was alerted: %(names)s.", department=name, upper=upper,
                 names="、".join(person["display_name"] for person in people))
    return _("%(department)s: %(upper)s has no leader account to alert.", department=name, upper=upper)


async def escalate(ctx) -> EscalationReport:
    """One run of the job (``ctx``: the scheduler's ``JobContext``; ``ctx.now`` is the clock)."""
    now = getattr(ctx, "now", None) or clock.now()
    center_ids = [center.id for center in await ctx.enabled_centers()]
    who = Who(trail=AuditTrail(audit_key(ctx.settings), SYSTEM), registry=ctx.registry)
    counts = {"late": 0, "renotified": 0, "leader_alerted": 0, "upper_alerted": 0}
    if center_ids:
        marks = ", ".join("{}" for _ in center_ids)
        async with write_transaction():
            marked = await raw(
                "UPDATE checkin_summons SET late = {} WHERE late = {} AND checked_in_at IS NULL "
                "AND ack_due_at IS NOT NULL AND ack_due_at < {} AND whistle IN "
                f"(SELECT id FROM checkin_whistle WHERE status = 'open' AND center IN ({marks})) RETURNING id",
                True, False, now, *center_ids,
            )
        counts["late"] = len(marked)
    whistles: dict[int, dict] = {}
    after = 0
    while center_ids:
        batch = await _candidates(center_ids, now, after)
        for summons in batch:
            whistle = whistles.get(summons["whistle"]) or await _whistle(summons["whistle"])
            whistles[whistle["id"]] = whistle
            previous = summons["escalation_step"]
            for number, kind in due_steps(whistle, summons, now):
                if not await _fire(who, whistle, summons, number, kind, previous, now):
                    break  # another run took it, or the department checked in: stop here
                counts[kind] += 1
                previous = number
        if len(batch) < BATCH:
            break
        after = batch[-1]["id"]
    if any(counts[kind] for kind in ("renotified", "leader_alerted", "upper_alerted")):
        # SMS out before the run ends; in-app messages reach open pages through the live alerts'
        # polling of the outbox (the job may run in another process than the pages' server).
        from portal.notify.outbox import deliver_all

        await deliver_all(ctx)
    return EscalationReport(**counts)
