"""The outbox: messages are rows written in the transaction of the change they announce.

Writing (inside the caller's ``write_transaction()``, so the message commits or rolls back with
the change):

* ``queue_sms(phone, body, kind=…)`` → a ``pending`` SMS row;
* ``queue_inapp(body=…, kind=…, citizen=… | staff=…)`` → an in-app message, delivered by existing
  (``sent`` at once; ``read_at`` is set when its reader opens it).

Delivery (after the commit): the handler calls ``deliver_soon(request.app)``, which runs
``deliver_pending`` in a task kept on ``app.state`` (awaited, then cancelled, at shutdown).
``deliver_pending`` claims rows with one conditional UPDATE (``pending`` → ``sending``) in a write
transaction, so two deliverers — two tasks, two processes — never send the same row twice. Then
it tries the app's senders in order (``portal.notify.senders``) and marks the row ``sent``, back
to ``pending`` for a later try, or ``failed`` after ``MAX_ATTEMPTS``. Delivery is at most once: a
row whose deliverer died while sending is not resent (marked ``failed`` an hour later).

Status values: ``pending`` → ``sending`` → ``sent`` | ``pending`` (retry) | ``failed``.
No message may carry an ID number (refused with ``ValueError``); logs show masked phones only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import re
from dataclasses import dataclass
from typing import Any

from portal import clock
from portal.db import current_engine, in_transaction, raw, write_transaction
from portal.notify.senders import configured_senders, mask_phone, mask_phones
from portal.notify.tables import Outbox
from portal.plugin_api import SmsError, SmsSender
from portal.web.forms import normalize_phone

__all__ = [
    "MAX_ATTEMPTS",
    "DeliveryReport",
    "contains_id_number",
    "deliver_pending",
    "deliver_soon",
    "inbox",
    "mark_read",
    "queue_inapp",
    "queue_sms",
    "stop_delivery",
    "unread_count",
    "wait_delivered",
]

log = logging.getLogger("portal.notify")

MAX_ATTEMPTS = 3
BODY_MAX = 500
SEND_TIMEOUT_S = 30.0
STALE_SENDING = dt.timedelta(hours=1)
SIGN_IN_CODE = "sign_in_code"
_TASKS = "delivery_tasks"
_CLOSED = "delivery_closed"

# 18-digit resident ID (6-digit area, birth date, sequence, check digit) and the old 15-digit form.
_ID_18 = r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
_ID_15 = r"[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}"
_ID_NUMBER = re.compile(rf"(?<![0-9A-Za-z])(?:{_ID_18}|{_ID_15})(?![0-9A-Za-z])")


def contains_id_number(text: str) -> bool:
    return bool(_ID_NUMBER.search(text or ""))


def _check_body(body: str) -> None:
    if not body or not body.strip():
        raise ValueError("a message needs a text")
    if len(body) > BODY_MAX:
        raise ValueError(f"a message is at most {BODY_MAX} characters")
    if contains_id_number(body):
        raise ValueError("messages must never contain an ID number")


def _require_transaction() -> None:
    if not in_transaction():
        raise RuntimeError("queue messages inside the write_transaction() of the change they announce")


async def queue_sms(
    phone: str,
    body: str,
    *,
    kind: str,
    citizen: int | None = None,
    center: int | None = None,
    matter: int | None = None,
) -> int:
    """Queue one SMS to a mainland mobile number; returns the outbox id. Call inside write_transaction()."""
    _require_transaction()
    number = normalize_phone(phone)
    if number is None:
        raise ValueError("SMS goes to an 11-digit mainland mobile number only")
    _check_body(body)
    rows = await Outbox.insert(
        Outbox(
            channel="sms",
            phone=number,
            citizen=citizen,
            center=center,
            matter=matter,
            kind=kind[:32],
            body=body,
            status="pending",
            attempts=0,
            created_at=clock.now(),
            sent_at=None,  # Piccolo's Timestamptz defaults to now, even when nullable
            read_at=None,
        )
    ).returning(Outbox.id)
    return rows[0]["id"]


async def queue_inapp(
    *,
    body: str,
    kind: str,
    citizen: int | None = None,
    staff: int | None = None,
    center: int | None = None,
    matter: int | None = None,
) -> int:
    """Store an in-app message for one citizen or one staff member (delivered as it commits)."""
    _require_transaction()
    if (citizen is None) == (staff is None):
        raise ValueError("an in-app message goes to exactly one citizen or one staff member")
    _check_body(body)
    now = clock.now()
    rows = await Outbox.insert(
        Outbox(
            channel="inapp",
            phone="",
            citizen=citizen,
            staff=staff,
            center=center,
            matter=matter,
            kind=kind[:32],
            body=body,
            status="sent",
            attempts=0,
            created_at=now,
            sent_at=now,
            read_at=None,
        )
    ).returning(Outbox.id)
    return rows[0]["id"]


# ------------------------------------------------------------------------- reading


def _recipient(citizen: int | None, staff: int | None):
    if (citizen is None) == (staff is None):
        raise ValueError("name exactly one reader: citizen or staff")
    where = Outbox.channel == "inapp"
    return where & ((Outbox.citizen == citizen) if citizen is not None else (Outbox.staff == staff))


async def inbox(*, citizen: int | None = None, staff: int | None = None, before: int | None = None, limit: int = 50) -> list[dict]:
    """In-app messages of one reader, newest first; ``before`` is the keyset (an outbox id)."""
    query = Outbox.select(
        Outbox.id, Outbox.kind, Outbox.body, Outbox.created_at, Outbox.read_at, Outbox.matter, Outbox.center
    ).where(_recipient(citizen, staff))
    if before is not None:
        query = query.where(Outbox.id < before)
    return await query.order_by(Outbox.id, ascending=False).limit(limit)


async def mark_read(ids: list[int], *, citizen: int | None = None, staff: int | None = None) -> None:
    if not ids:
        return
    await Outbox.update({Outbox.read_at: clock.now()}).where(
        _recipient(citizen, staff) & Outbox.id.is_in(list(ids)) & Outbox.read_at.is_null()
    )


async def unread_count(*, citizen: int | None = None, staff: int | None = None) -> int:
    return await Outbox.count().where(_recipient(citizen, staff) & Outbox.read_at.is_null())


# ------------------------------------------------------------------------ delivery


@dataclass(frozen=True)
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0


def _claim_sql(engine_type: str) -> str:
    # PostgreSQL: SKIP LOCKED lets a second deliverer take other rows instead of waiting; the outer
    # "status = 'pending'" is what guarantees a row is claimed once on both engines.
    skip = " FOR UPDATE SKIP LOCKED" if engine_type == "postgres" else ""
    return (
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1 "
        "WHERE status = 'pending' AND id IN ("
        f"SELECT id FROM outbox WHERE channel = 'sms' AND status = 'pending' ORDER BY id LIMIT {{}}{skip}) "
        "RETURNING id, phone, body, kind, created_at, attempts"
    )


def _as_dt(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def _senders_of(target: Any) -> tuple[Any, tuple[SmsSender, ...]]:
    """(settings, senders) from ``app.state`` (built once by create_app) or a ``PluginRegistry``."""
    senders = getattr(target, "sms_senders", None)
    registry = getattr(target, "registry", target)
    settings = registry.settings
    if senders is None:
        senders = configured_senders(registry, settings)
    return settings, senders


def _reason(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, SmsError) else f"{type(exc).__name__}: {exc}"
    return mask_phones(text)[:120]


async def _send(senders: tuple[SmsSender, ...], phone: str, body: str) -> tuple[str | None, list[str]]:
    errors: list[str] = []
    for sender in senders:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                result = sender.send(phone, body)
                if inspect.isawaitable(result):
                    await result
        except Exception as exc:  # noqa: BLE001 - any failure of a sender is recorded, then the next one tries
            errors.append(f"{sender.name}: {_reason(exc)}")
            continue
        return sender.name, errors
    return None, errors


async def deliver_pending(target: Any, limit: int = 50) -> DeliveryReport:
    """Send up to ``limit`` pending SMS through the configured senders; each row at most once.

    ``target`` is ``app.state`` (or ``request.app.state``) or a ``PluginRegistry``.
    """
    settings, senders = _senders_of(target)
    now = clock.now()
    async with write_transaction():
        await raw(
            "UPDATE outbox SET status = 'failed', last_error = {} WHERE status = 'sending' AND created_at < {}",
            "interrupted while sending; not resent",
            now - STALE_SENDING,
        )
        rows = await raw(_claim_sql(current_engine().engine_type), limit)
    rows.sort(key=lambda r: r["id"])
    code_life = dt.timedelta(minutes=settings.sms_code_minutes)
    sent = retry = failed = 0
    for row in rows:
        if row["kind"] == SIGN_IN_CODE and clock.now() - _as_dt(row["created_at"]) > code_life:
            delivered, errors, final = None, ["expired before it could be sent"], True
        else:
            delivered, errors = await _send(senders, row["phone"], row["body"])
            final = row["attempts"] >= MAX_ATTEMPTS
        error = "; ".join(errors)[:200]
        if delivered:
            values = {Outbox.status: "sent", Outbox.sent_at: clock.now(), Outbox.last_error: error}
            sent += 1
        else:
            values = {Outbox.status: "failed" if final else "pending", Outbox.last_error: error}
            failed, retry = (failed + 1, retry) if final else (failed, retry + 1)
            log.warning("SMS %s to %s not delivered (attempt %s): %s", row["id"], mask_phone(row["phone"]), row["attempts"], error)
        async with write_transaction():
            await Outbox.update(values).where(Outbox.id == row["id"])
    return DeliveryReport(claimed=len(rows), sent=sent, retry=retry, failed=failed)


# ------------------------------------------------------------- background delivery


def _tasks(app) -> set[asyncio.Task]:
    return app.state.setdefault(_TASKS, set())


async def _deliver_all(state: Any, limit: int = 50) -> None:
    try:
        for _round in range(20):  # a burst larger than 1000 rows waits for the next call
            report = await deliver_pending(state, limit=limit)
            if report.claimed < limit:
                return
    except Exception:  # noqa: BLE001 - a background task must log, never raise into the void
        log.exception("outbox delivery failed")


def deliver_soon(app) -> asyncio.Task | None:
    """Deliver pending SMS in the background; call it after the change's transaction committed.

    The task is kept in ``app.state`` until done (so it is not garbage-collected) and awaited or
    cancelled at shutdown. Returns the task, or None once the app is shutting down.
    """
    if app.state.get(_CLOSED):
        return None
    task = asyncio.get_running_loop().create_task(_deliver_all(app.state), name="outbox-delivery")
    tasks = _tasks(app)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


async def wait_delivered(app) -> None:
    """Wait for the delivery tasks running now (tests; a CLI that wants the SMS out before exiting)."""
    while tasks := set(_tasks(app)):
        await asyncio.gather(*tasks, return_exceptions=True)


async def stop_delivery(app, timeout: float = 5.0) -> None:
    """At shutdown: no new tasks; give running ones ``timeout`` seconds, then cancel them."""
    app.state[_CLOSED] = True
    tasks = set(_tasks(app))
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
