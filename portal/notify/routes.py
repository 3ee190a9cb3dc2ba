"""Staff pages of the outbox: the delivery state of every message, and a staff member's own inbox.

``/admin/outbox`` shows SMS and emails with their status, attempts, last error and next attempt,
filtered by status and channel (GET parameters, keyset pages by id):

* production: administrators (``outbox.delivery``) see the messages of their own center and the
  centers below; messages tied to no center (sign-in codes) only system administrators. Numbers,
  addresses and every run of 4+ digits in the texts are masked (a sign-in code must never be
  readable by staff).
* demonstration: full numbers and texts, every message — no SMS leaves the system, so demo
  testers read their sign-in code here.
* development: every message, masked as in production.

``/messages`` is the signed-in staff member's in-app inbox (the nav shows the unread count).

``/live`` is the same member's stream of new in-app messages (server-sent events) for the page
script's live alerts; the hub behind it is ``portal.notify.live``.
"""

from __future__ import annotations

import re

from litestar import Request, Response, Router, get
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.params import FromQuery
from litestar.response import ServerSentEvent

from portal.auth.guards import staff_guard
from portal.centers.scope import prefix_range
from portal.db import raw
from portal.i18n import _
from portal.notify.email import mask_email
from portal.notify.live import event_stream
from portal.notify.outbox import open_inbox
from portal.notify.senders import mask_phone
from portal.plugin_api import Permission
from portal.web.render import render
from portal.web.request import principal

__all__ = ["PERMISSIONS", "ROUTES"]

PERMISSIONS = (Permission("outbox.delivery", "查看消息投递状态", frozenset({"system_admin", "center_admin"})),)
PAGE_SIZE = 50
_DIGITS = re.compile(r"\d{4,}")
STATUSES = ("pending", "sending", "sent", "failed")
CHANNELS = ("sms", "email")


def _labels() -> tuple[dict, dict]:
    statuses = {"pending": _("Waiting"), "sending": _("Sending"), "sent": _("Sent"), "failed": _("Failed")}
    channels = {"sms": _("SMS"), "email": _("Email")}
    return statuses, channels


def _may_see(request: Request, user) -> bool:
    if request.app.state.settings.production:
        return user.can("outbox.delivery")
    return user.can("outbox.view") or user.can("outbox.delivery")


@get("/admin/outbox")
async def outbox_page(
    request: Request,
    status: FromQuery[str | None] = None,
    channel: FromQuery[str | None] = None,
    before: FromQuery[int | None] = None,
) -> Response:
    user = principal(request)
    if not _may_see(request, user):
        raise PermissionDeniedException("missing permission")
    settings = request.app.state.settings
    status = status if status in STATUSES else ""
    channel = channel if channel in CHANNELS else ""
    clauses = ["o.channel IN ('sms', 'email')"]
    args: list = []
    if settings.production and not user.has_role("system_admin"):
        low, high = prefix_range(user.center_path)
        clauses.append("o.center IN (SELECT id FROM center WHERE path >= {} AND path < {})")
        args += [low, high]
    if status:
        clauses.append("o.status = {}")
        args.append(status)
    if channel:
        clauses.append("o.channel = {}")
        args.append(channel)
    if before is not None:
        clauses.append("o.id < {}")
        args.append(before)
    rows = await raw(
        "SELECT o.id, o.channel, o.phone, o.email, o.subject, o.kind, o.body, o.status, o.attempts, o.last_error, "
        "o.created_at, o.sent_at, o.next_attempt_at FROM outbox o WHERE " + " AND ".join(clauses)
        + f" ORDER BY o.id DESC LIMIT {PAGE_SIZE + 1}",
        *args,
    )
    more = len(rows) > PAGE_SIZE
    rows = [dict(row) for row in rows[:PAGE_SIZE]]
    full = settings.demo
    for row in rows:
        row["to"] = row["phone"] if row["channel"] == "sms" else row["email"]
        if not full:
            row["to"] = mask_phone(row["phone"]) if row["channel"] == "sms" else mask_email(row["email"])
            row["body"] = _DIGITS.sub(lambda m: "*" * len(m.group()), row["body"])
            row["subject"] = _DIGITS.sub(lambda m: "*" * len(m.group()), row["subject"] or "")
    statuses, channels = _labels()
    query = "&".join(f"{k}={v}" for k, v in (("status", status), ("channel", channel)) if v)
    title = _("Message delivery") if settings.production else _("SMS outbox")
    return await render(
        request,
        "notify/outbox.html",
        {
            "title": title,
            "rows": rows,
            "statuses": statuses,
            "channels": channels,
            "status": status,
            "channel": channel,
            "full": full,
            "production": settings.production,
            "older": f"/admin/outbox?{query + '&' if query else ''}before={rows[-1]['id']}" if more else None,
        },
    )


@get("/messages")
async def staff_messages(request: Request, before: FromQuery[int | None] = None) -> Response:
    user = principal(request)
    rows, older = await open_inbox(staff=user.user_id, before=before, page_size=PAGE_SIZE)
    return await render(
        request,
        "notify/inbox.html",
        {"title": _("My messages"), "messages": rows, "older": older},
        headers={"Cache-Control": "no-store"},
    )


def _last_event_id(request: Request, after: str | None) -> int | None:
    """Where a reconnecting stream resumes: the ``Last-Event-ID`` EventSource sends by itself,
    or ``?after=`` when the page script opens a new EventSource after a failed one."""
    for value in (request.headers.get("last-event-id"), after):
        if value and value.isdigit() and len(value) <= 18:
            return int(value)
    return None


@get("/live")
async def live_stream(request: Request, after: FromQuery[str | None] = None) -> ServerSentEvent:
    # Only EventSource asks for an event stream; anything else (a tab opening the address, a crawler,
    # a client that reads to the end) gets an error page instead of a response that never ends.
    if "text/event-stream" not in request.headers.get("accept", ""):
        raise HTTPException(status_code=406, detail="event stream only")
    user = principal(request)
    stream = event_stream(
        request.app.state.live,
        staff=user.user_id,
        session_id=user.session_id,
        settings=request.app.state.settings,
        last_event_id=_last_event_id(request, after),
    )
    return ServerSentEvent(stream, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


ROUTES: list = [Router(path="/", guards=[staff_guard], route_handlers=[outbox_page, staff_messages, live_stream])]
