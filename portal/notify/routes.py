"""The development SMS outbox page for staff (development and demo mode only; 404 in production).

In demo mode the page shows full numbers and texts: demo testers read their sign-in code here,
since no SMS leaves the system. In development the numbers are masked and so are the digits
of the texts (the development sender's log line has the code).
"""

from __future__ import annotations

import re

from litestar import Request, Response, get
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.params import FromQuery

from portal.auth.guards import staff_guard
from portal.i18n import _
from portal.notify.senders import mask_phone
from portal.notify.tables import Outbox
from portal.web.render import render

__all__ = ["ROUTES"]

PAGE_SIZE = 50
_DIGITS = re.compile(r"\d{4,}")


async def not_in_production(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Runs before the sign-in check: in production the page does not exist for anyone."""
    if connection.app.state.settings.production:
        raise NotFoundException()


@get("/admin/outbox", guards=[not_in_production, staff_guard], opt={"permission": "outbox.view"})
async def outbox_page(request: Request, before: FromQuery[int | None] = None) -> Response:
    settings = request.app.state.settings
    query = Outbox.select(
        Outbox.id, Outbox.phone, Outbox.kind, Outbox.body, Outbox.status, Outbox.attempts, Outbox.last_error,
        Outbox.created_at, Outbox.sent_at,
    ).where(Outbox.channel == "sms")
    if before is not None:
        query = query.where(Outbox.id < before)
    rows = await query.order_by(Outbox.id, ascending=False).limit(PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    if not settings.demo:
        for row in rows:
            row["phone"] = mask_phone(row["phone"])
            row["body"] = _DIGITS.sub(lambda m: "*" * len(m.group()), row["body"])
    statuses = {"pending": _("Waiting"), "sending": _("Sending"), "sent": _("Sent"), "failed": _("Failed")}
    return await render(
        request,
        "notify/outbox.html",
        {
            "title": _("SMS outbox"),
            "rows": rows,
            "statuses": statuses,
            "full": settings.demo,
            "older": rows[-1]["id"] if more else None,
        },
    )


ROUTES: list = [outbox_page]
