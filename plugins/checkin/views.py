"""What the dashboard cards and the matter panel show (read-only, indexed queries)."""

from __future__ import annotations

import datetime as dt

from portal import clock
from portal.centers.scope import prefix_range
from portal.db import raw, read

from plugins.checkin import service as svc
from plugins.checkin.vocab import STATUS_LABELS

__all__ = ["center_widget", "leader_widget", "matter_whistles", "officer_widget", "summons_state"]

LIST_LIMIT = 10


def _month_start(now: dt.datetime) -> dt.datetime:
    local = clock.local(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(dt.timezone.utc)


async def center_widget(user) -> dict:
    """Open whistles of the member's subtree and the check-ins overdue in them."""
    low, high = prefix_range(user.center_path)
    now = clock.now()
    open_count = (await read(
        "SELECT count(*) AS n FROM checkin_whistle w JOIN center c ON c.id = w.center "
        "WHERE w.status = 'open' AND c.path >= {} AND c.path < {}", low, high,
    ))[0]["n"]
    overdue = await read(
        "SELECT w.id, w.reason, d.name AS department_name, s.ack_due_at FROM checkin_summons s "
        "JOIN checkin_whistle w ON w.id = s.whistle JOIN center c ON c.id = w.center "
        "JOIN department d ON d.id = s.department WHERE w.status = 'open' AND c.path >= {} AND c.path < {} "
        f"AND s.checked_in_at IS NULL AND s.ack_due_at < {{}} ORDER BY s.ack_due_at LIMIT {LIST_LIMIT + 1}",
        low, high, now,
    )
    return {"open": open_count, "overdue": overdue[:LIST_LIMIT], "more": len(overdue) > LIST_LIMIT}


async def officer_widget(user) -> dict:
    """待报到: the department's summonses not checked in, with their limits."""
    rows = await read(
        "SELECT w.id, w.reason, w.mode, w.place, c.name AS center_name, s.ack_due_at FROM checkin_summons s "
        "JOIN checkin_whistle w ON w.id = s.whistle JOIN center c ON c.id = w.center "
        "WHERE s.department = {} AND s.checked_in_at IS NULL AND w.status = 'open' AND s.ack_due_at IS NOT NULL "
        "AND w.center IN (SELECT center FROM center_module WHERE module = 'checkin' AND allowed AND enabled) "
        f"ORDER BY s.ack_due_at LIMIT {LIST_LIMIT + 1}",
        user.department_id,
    )
    now = clock.now()
    rows = [{**row, "overdue": svc.as_dt(row["ack_due_at"]) < now} for row in rows]
    return {"waiting": rows[:LIST_LIMIT], "more": len(rows) > LIST_LIMIT}


async def leader_widget(user) -> dict:
    """Whistles waiting for approval in the member's subtree, and this month's whistle count."""
    low, high = prefix_range(user.center_path)
    pending = await read(
        "SELECT w.id, w.reason, w.grade, w.created_at, c.name AS center_name FROM checkin_whistle w "
        "JOIN center c ON c.id = w.center WHERE w.status = 'pending_approval' AND c.path >= {} AND c.path < {} "
        f"ORDER BY w.id LIMIT {LIST_LIMIT + 1}", low, high,
    )
    month = (await read(
        "SELECT count(*) AS n FROM checkin_whistle w JOIN center c ON c.id = w.center "
        "WHERE c.path >= {} AND c.path < {} AND w.created_at >= {} AND w.status IN ('open', 'closed')",
        low, high, _month_start(clock.now()),
    ))[0]["n"]
    return {"pending": pending[:LIST_LIMIT], "more": len(pending) > LIST_LIMIT, "month": month}


async def matter_whistles(user, matter_id: int) -> list[dict]:
    """The whistles of a matter with each department's live state (what this member may see)."""
    rows = await raw(
        "SELECT w.*, c.path AS center_path, c.name AS center_name, c.parent AS center_parent FROM checkin_whistle w "
        "JOIN center c ON c.id = w.center WHERE w.matter = {} ORDER BY w.id", matter_id,
    )
    now = clock.now()
    out = []
    for whistle in rows:
        if not await svc.visible(user, whistle):
            continue
        departments = []
        for s in await svc.summonses(whistle["id"]):
            label, tag = summons_state(s, now)
            departments.append({"name": s["department_name"], "state": label, "tag": tag,
                                "result": bool((s["result"] or "").strip())})
        out.append({"id": whistle["id"], "reason": whistle["reason"], "status": STATUS_LABELS[whistle["status"]],
                    "created_at": whistle["created_at"], "departments": departments})
    return out


def summons_state(s: dict, now: dt.datetime) -> tuple[str, str]:
    """(label, tag class) of a summons as the whistle page and the matter panel show it."""
    if s["checked_in_at"] is not None:
        return ("迟到报到" if s["late"] else "已报到"), ("warn" if s["late"] else "ok")
    if s["absent"]:
        return "缺席", "bad"
    if s["ack_due_at"] is None:
        return "待通知", "off"
    # Lateness the escalation job recorded counts too: its clock (another process) decided it.
    if s["late"] or svc.as_dt(s["ack_due_at"]) < now:
        return "超时未报到", "bad"
    return "等待报到", "off"
