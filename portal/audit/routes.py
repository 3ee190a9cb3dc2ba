"""The audit viewer: read-only, audit-viewer role only, filters as GET parameters, keyset pages."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from litestar import Request, Response, get

from portal import clock
from portal.auth.guards import staff_guard
from portal.db import text_match
from portal.i18n import _
from portal.tables import AuditLog, Center
from portal.web.render import render
from portal.web.request import principal

__all__ = ["ROUTES"]

PAGE_SIZE = 50
RESULTS = ("success", "denied", "error")


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _cn_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=clock.TZ_CN).astimezone(dt.timezone.utc)


@get("/audit", guards=[staff_guard], opt={"permission": "audit.view"})
async def audit_list(request: Request) -> Response:
    user = principal(request)
    params = request.query_params
    filters = {name: (params.get(name) or "").strip()[:64] for name in ("actor", "action", "result", "center", "from", "to", "object_id")}
    errors: dict[str, str] = {}
    centers = await Center.select(Center.id, Center.name).where(Center.path.like(f"{user.center_path}%")).order_by(Center.path)
    center_ids = [c["id"] for c in centers]
    scope = AuditLog.center_id.is_in(center_ids)
    if user.center_level == "district":
        # Events with no center (sign-in attempts for unknown names) belong to the top of the tree.
        scope = scope | AuditLog.center_id.is_null()
    query = AuditLog.select().where(scope)
    if filters["actor"]:
        query = query.where(text_match(AuditLog.actor, f"%{filters['actor']}%"))
    if filters["action"]:
        query = query.where(text_match(AuditLog.action, f"{filters['action']}%"))
    if filters["result"] in RESULTS:
        query = query.where(AuditLog.result == filters["result"])
    if filters["object_id"]:
        query = query.where(AuditLog.object_id == filters["object_id"])
    if filters["center"].isdigit() and int(filters["center"]) in center_ids:
        query = query.where(AuditLog.center_id == int(filters["center"]))
    for name in ("from", "to"):
        if filters[name]:
            day = _day(filters[name])
            if day is None:
                errors[name] = _("Enter a date like 2026-11-26.")
            elif name == "from":
                query = query.where(AuditLog.created_at >= _cn_midnight(day))
            else:
                query = query.where(AuditLog.created_at < _cn_midnight(day + dt.timedelta(days=1)))
    before = params.get("before") or ""
    if before.isdigit():
        query = query.where(AuditLog.seq < int(before))
    rows = await query.order_by(AuditLog.seq, ascending=False).limit(PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    names = {c["id"]: c["name"] for c in centers}
    next_query = None
    if more:
        next_query = urlencode({**{k: v for k, v in filters.items() if v}, "before": rows[-1]["seq"]})
    return await render(
        request,
        "audit/list.html",
        {
            "title": _("Audit log"),
            "rows": rows,
            "filters": filters,
            "errors": errors,
            "center_options": [(c["id"], c["name"]) for c in centers],
            "center_names": names,
            "results": RESULTS,
            "next_query": next_query,
        },
        status=422 if errors else 200,
    )


ROUTES = [audit_list]
