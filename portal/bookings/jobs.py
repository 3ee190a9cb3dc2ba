"""The booking jobs the scheduler runs (``register_jobs``): reminders, offer expiry, no-shows.

Each is idempotent through per-row conditional claims in ``portal.bookings.service``, so several
app processes may run them at once. They take the scheduler's ``JobContext`` or, in tests that
call them directly, the app (for the audit key and the plugin registry).
"""

from __future__ import annotations

from typing import Any

from portal.audit.chain import SYSTEM, AuditTrail
from portal.bookings import service as svc
from portal.crypto import audit_key
from portal.notify.outbox import deliver_pending, deliver_soon
from portal.plugin_api import Job

__all__ = ["JOBS", "expire_offers", "mark_no_shows", "send_reminders"]


def _ctx(target: Any) -> svc.Ctx:
    """``target``: the scheduler's JobContext (registry, settings) or an app."""
    if hasattr(target, "state"):
        return svc.Ctx(trail=AuditTrail(target.state.audit_key, SYSTEM), registry=target.state.registry)
    return svc.Ctx(trail=AuditTrail(audit_key(target.settings), SYSTEM), registry=target.registry)


async def _deliver(target: Any) -> None:
    """Send the queued SMS now rather than at the next delivery run."""
    if hasattr(target, "state"):
        deliver_soon(target)
    elif getattr(target, "sms_senders", None) is not None:
        await deliver_pending(target)


async def send_reminders(ctx: Any) -> int:
    sent = await svc.send_reminders(_ctx(ctx))
    if sent:
        await _deliver(ctx)
    return sent


async def expire_offers(ctx: Any) -> int:
    ended = await svc.expire_offers(_ctx(ctx))
    if ended:
        await _deliver(ctx)
    return ended


async def mark_no_shows(ctx: Any) -> int:
    return await svc.mark_no_shows(_ctx(ctx))


JOBS = [
    Job(name="bookings.reminders", interval_seconds=600, run=send_reminders),
    Job(name="bookings.offer_expiry", interval_seconds=60, run=expire_offers),
    Job(name="bookings.no_shows", interval_seconds=300, run=mark_no_shows),
]
