"""The outbox: messages are rows written in the transaction of the change they announce.

Writing (inside the caller's ``write_transaction()``, so the message commits or rolls back with
the change):

* ``queue_sms(phone, body, kind=…)`` → a ``pending`` SMS row;
* ``queue_email(address, subject, body, kind=…)`` → a ``pending`` email row (sent over SMTP,
  ``PORTAL_SMTP_*``);
* ``queue_inapp(body=…, kind=…, citizen=… | staff=…, link=…)`` → an in-app message, delivered by
  existing (``sent`` at once; ``read_at`` is set when its reader opens it); ``link`` is an optional
  site-relative path shown as "查看". A staff member's in-app messages also reach their open pages
  at once as live alerts (``portal.notify.live``).

Delivery (after the commit): the handler calls ``deliver_soon(request.app)``. One delivery task
runs per app: a call while it runs only asks it for one more pass (a burst of 32 requests costs
at most two passes, not 32 tasks contending for the write lock). A pass is ``deliver_pending``:
it claims due rows with one conditional UPDATE (``pending`` → ``sending``) in a write
transaction, so two deliverers — two tasks, two processes — never send the same row twice. Then
it sends each row (SMS through the app's senders in order, ``portal.notify.senders``; email
through SMTP, ``portal.notify.email``) and marks it ``sent``, or back to ``pending`` with
``next_attempt_at`` after a back-off (``RETRY_DELAYS``: 1, 5, 30 minutes), or ``failed`` after
``MAX_ATTEMPTS``. The scheduler job ``notify.retry`` delivers rows whose back-off has passed.
Delivery is at most once: a row whose deliverer died while sending is not resent (marked
``failed`` an hour later).

Status values: ``pending`` → ``sending`` → ``sent`` | ``pending`` (retry) | ``failed``.
No message may carry an ID number (refused with ``ValueError``); logs show masked phones only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from portal import clock
from portal.db import current_engine, in_transaction, insert, raw, read, write_transaction
from portal.i18n import _
from portal.notify.email import EmailError, email_sender_for, mask_email
from portal.notify.senders import configured_senders, mask_phone, mask_phones
from portal.notify.tables import Outbox
from portal.plugin_api import Job, SmsError, SmsSender
from portal.web.forms import normalize_phone

__all__ = [
    "MAX_ATTEMPTS",
    "DeliveryReport",
    "contains_id_number",
    "deliver_all",
    "deliver_pending",
    "deliver_soon",
    "inbox",
    "open_inbox",
    "mark_read",
    "queue_email",
    "queue_inapp",
    "queue_sms",
    "stop_delivery",
    "unread_count",
    "wait_delivered",
]

log = logging.getLogger("portal.notify")

MAX_ATTEMPTS = 4
# Wait after the 1st, 2nd and 3rd failed attempt; the 4th failure is final.
RETRY_DELAYS = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30))
BODY_MAX = 500
EMAIL_BODY_MAX = 20000
SUBJECT_MAX = 200
RECORD_EVERY_S = 1.0  # deliver_pending writes the outcomes of a batch at least this often
SEND_TIMEOUT_S = 30.0
STALE_SENDING = dt.timedelta(hours=1)
SIGN_IN_CODE = "sign_in_code"
_TASKS = "delivery_tasks"
_AGAIN = "delivery_again"
_CLOSED = "delivery_closed"
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")

# 18-digit resident ID (6-digit area, birth date, sequence, check digit) and the old 15-digit form.
_ID_18 = r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
_ID_15 = r"[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}"
_ID_NUMBER = re.compile(rf"(?<![0-9A-Za-z])(?:{_ID_18}|{_ID_15})(?![0-9A-Za-z])")


def contains_id_number(text: str) -> bool:
    return bool(_ID_NUMBER.search(text or ""))


def _check_body(body: str, limit: int = BODY_MAX) -> None:
    if not body or not body.strip():
        raise ValueError("a message needs a text")
    if len(body) > limit:
        raise ValueError(f"a message is at most {limit} characters")
    if contains_id_number(body):
        raise ValueError("messages must never contain an ID number")


LINK_MAX = 200


def _check_link(link: str) -> None:
    if not link:
        return
    if (len(link) > LINK_MAX or not link.startswith("/") or link.startswith("//") or "\\" in link
            or any(ch.isspace() or ord(ch) < 32 for ch in link)):
        raise ValueError(f"a message link is a site-relative path starting with '/' (at most {LINK_MAX} characters)")


def _require_transaction() -> None:
    if not in_transaction():
        raise RuntimeError("queue messages inside the write_transaction() of the change they announce")


_EMPTY = {"phone": "", "email": "", "subject": "", "link": "", "citizen": None, "staff": None, "center": None, "matter": None,
          "last_error": "", "sent_at": None, "read_at": None, "next_attempt_at": None}


async def _store(row: dict) -> int:
    """Insert one outbox row (every column given: no ORM defaults, which for a nullable Timestamptz
    would be "now"); ``db.insert`` because every registration and decision queues messages."""
    return await insert("outbox", _EMPTY | row)


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
    return await _store({
        "channel": "sms",
        "phone": number,
        "citizen": citizen,
        "center": center,
        "matter": matter,
        "kind": kind[:32],
        "body": body,
        "status": "pending",
        "attempts": 0,
        "created_at": clock.now(),
    })


async def queue_email(
    address: str,
    subject: str,
    body: str,
    *,
    kind: str,
    citizen: int | None = None,
    staff: int | None = None,
    center: int | None = None,
    matter: int | None = None,
) -> int:
    """Queue one plain-text email; returns the outbox id. Call inside write_transaction()."""
    _require_transaction()
    address = (address or "").strip()
    if len(address) > 120 or not _EMAIL.match(address):
        raise ValueError("an email needs one valid address")
    subject = (subject or "").strip()
    if not subject or len(subject) > SUBJECT_MAX or "\n" in subject or "\r" in subject:
        raise ValueError(f"an email needs a one-line subject of at most {SUBJECT_MAX} characters")
    if contains_id_number(subject):
        raise ValueError("messages must never contain an ID number")
    _check_body(body, EMAIL_BODY_MAX)
    return await _store({
        "channel": "email",
        "email": address,
        "subject": subject,
        "citizen": citizen,
        "staff": staff,
        "center": center,
        "matter": matter,
        "kind": kind[:32],
        "body": body,
        "status": "pending",
        "attempts": 0,
        "created_at": clock.now(),
    })


async def queue_inapp(
    *,
    body: str,
    kind: str,
    citizen: int | None = None,
    staff: int | None = None,
    center: int | None = None,
    matter: int | None = None,
    link: str = "",
) -> int:
    """Store an in-app message for one citizen or one staff member (delivered as it commits).

    ``link``: where "查看" leads, a path on this site ("/matters/12"); anything else (a full URL,
    "//host", "javascript:") is refused, since the link is rendered to its reader as is.
    """
    _require_transaction()
    if (citizen is None) == (staff is None):
        raise ValueError("an in-app message goes to exactly one citizen or one staff member")
    _check_body(body)
    _check_link(link)
    now = clock.now()
    return await _store({
        "channel": "inapp",
        "phone": "",
        "citizen": citizen,
        "staff": staff,
        "center": center,
        "matter": matter,
        "kind": kind[:32],
        "body": body,
        "link": link or "",
        "status": "sent",
        "attempts": 0,
        "created_at": now,
        "sent_at": now,
    })


# ------------------------------------------------------------------------- reading


def _recipient(citizen: int | None, staff: int | None):
    if (citizen is None) == (staff is None):
        raise ValueError("name exactly one reader: citizen or staff")
    where = Outbox.channel == "inapp"
    return where & ((Outbox.citizen == citizen) if citizen is not None else (Outbox.staff == staff))


async def inbox(*, citizen: int | None = None, staff: int | None = None, before: int | None = None, limit: int = 50) -> list[dict]:
    """In-app messages of one reader, newest first; ``before`` is the keyset (an outbox id)."""
    query = Outbox.select(
        Outbox.id, Outbox.kind, Outbox.body, Outbox.link, Outbox.created_at, Outbox.read_at, Outbox.matter,
        Outbox.center
    ).where(_recipient(citizen, staff))
    if before is not None:
        query = query.where(Outbox.id < before)
    return await query.order_by(Outbox.id, ascending=False).limit(limit)


async def open_inbox(*, citizen: int | None = None, staff: int | None = None, before: int | None = None,
                     page_size: int = 50) -> tuple[list[dict], int | None]:
    """One page of a reader's inbox as its page shows it: the messages (marked read, since they are
    now seen) and the keyset of the next older page, if any."""
    rows = await inbox(citizen=citizen, staff=staff, before=before, limit=page_size + 1)
    older = rows[page_size - 1]["id"] if len(rows) > page_size else None
    rows = rows[:page_size]
    await mark_read([row["id"] for row in rows if row["read_at"] is None], citizen=citizen, staff=staff)
    return rows, older


async def mark_read(ids: list[int], *, citizen: int | None = None, staff: int | None = None) -> None:
    if not ids:
        return
    await Outbox.update({Outbox.read_at: clock.now()}).where(
        _recipient(citizen, staff) & Outbox.id.is_in(list(ids)) & Outbox.read_at.is_null()
    )


async def unread_count(*, citizen: int | None = None, staff: int | None = None) -> int:
    """Shown in the nav of every staff page: one indexed count through ``read`` (no ORM, no thread hop)."""
    if (citizen is None) == (staff is None):
        raise ValueError("name exactly one reader: citizen or staff")
    column, reader = ("citizen", citizen) if citizen is not None else ("staff", staff)
    rows = await read(
        f"SELECT count(*) AS n FROM outbox WHERE {column} = {{}} AND read_at IS NULL AND channel = 'inapp'", reader
    )
    return rows[0]["n"]


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
        "SELECT id FROM outbox WHERE status = 'pending' AND channel IN ('sms', 'email') "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= {}) "
        f"ORDER BY id LIMIT {{}}{skip}) "
        "RETURNING id, channel, phone, email, subject, body, kind, created_at, attempts"
    )


def _as_dt(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def _senders_of(target: Any) -> tuple[Any, tuple[SmsSender, ...], Any]:
    """(settings, SMS senders, email sender) from ``app.state`` (built once by create_app), a
    ``JobContext`` or a ``PluginRegistry``."""
    senders = getattr(target, "sms_senders", None)
    registry = getattr(target, "registry", target)
    settings = registry.settings
    if senders is None:
        senders = configured_senders(registry, settings)
    email = getattr(target, "email_sender", None) or email_sender_for(settings)
    return settings, senders, email


def _reason(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, (SmsError, EmailError)) else f"{type(exc).__name__}: {exc}"
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


async def _send_email(sender: Any, row: dict) -> tuple[str | None, list[str]]:
    if sender is None:
        return None, ["email: no SMTP server configured (PORTAL_SMTP_HOST)"]
    try:
        async with asyncio.timeout(SEND_TIMEOUT_S + 5):
            await sender.send(row["email"], row["subject"], row["body"], reference=f"outbox-{row['id']}")
    except Exception as exc:  # noqa: BLE001 - recorded on the row, retried after the back-off
        return None, [f"{sender.name}: {_reason(exc)}"]
    return sender.name, []


def retry_delay(attempts: int) -> dt.timedelta:
    """How long a row waits after its ``attempts``-th failed attempt."""
    return RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]


async def deliver_pending(target: Any, limit: int = 50) -> DeliveryReport:
    """Send up to ``limit`` due SMS and emails; each row at most once.

    ``target`` is ``app.state`` (or ``request.app.state``), a ``JobContext`` or a ``PluginRegistry``.
    """
    settings, senders, email_sender = _senders_of(target)
    now = clock.now()
    async with write_transaction():
        await raw(
            "UPDATE outbox SET status = 'failed', last_error = {} WHERE status = 'sending' AND created_at < {}",
            "interrupted while sending; not resent",
            now - STALE_SENDING,
        )
        rows = await raw(_claim_sql(current_engine().engine_type), now, limit)
    rows.sort(key=lambda r: r["id"])
    code_life = dt.timedelta(minutes=settings.sms_code_minutes)
    clean: list[int] = []  # sent by the first sender: one UPDATE for all of them
    others: list[tuple[int, dict]] = []  # everything else keeps its own error text or retry time
    sent = retry = failed = 0

    async def record() -> None:
        # Outcomes are written together: under load every writer turn counts (each is a commit
        # the registrations queue behind). Written at least every RECORD_EVERY_S, so a crash
        # leaves few rows 'sending' (the sweep above marks them failed, never resent).
        if clean or others:
            async with write_transaction():
                if clean:
                    marks = ", ".join("{}" for _ in clean)
                    await raw(
                        "UPDATE outbox SET status = 'sent', sent_at = {}, last_error = '', next_attempt_at = NULL "
                        f"WHERE id IN ({marks})",
                        clock.now(), *clean,
                    )
                for row_id, values in others:
                    await Outbox.update(values).where(Outbox.id == row_id)
            clean.clear()
            others.clear()

    recorded = time.monotonic()
    for row in rows:
        if time.monotonic() - recorded > RECORD_EVERY_S:
            await record()
            recorded = time.monotonic()
        if row["kind"] == SIGN_IN_CODE and clock.now() - _as_dt(row["created_at"]) > code_life:
            delivered, errors, final = None, ["expired before it could be sent"], True
        else:
            if row["channel"] == "email":
                delivered, errors = await _send_email(email_sender, row)
            else:
                delivered, errors = await _send(senders, row["phone"], row["body"])
            final = row["attempts"] >= MAX_ATTEMPTS
        error = "; ".join(errors)[:200]
        if delivered:
            sent += 1
            if not error:
                clean.append(row["id"])
                continue
            values = {Outbox.status: "sent", Outbox.sent_at: clock.now(), Outbox.last_error: error,
                      Outbox.next_attempt_at: None}
        elif final:
            values = {Outbox.status: "failed", Outbox.last_error: error, Outbox.next_attempt_at: None}
            failed += 1
        else:
            values = {Outbox.status: "pending", Outbox.last_error: error,
                      Outbox.next_attempt_at: clock.now() + retry_delay(row["attempts"])}
            retry += 1
        if not delivered:
            to = mask_phone(row["phone"]) if row["channel"] == "sms" else mask_email(row["email"])
            log.warning("%s %s to %s not delivered (attempt %s): %s", row["channel"], row["id"], to, row["attempts"], error)
        others.append((row["id"], values))
    await record()
    return DeliveryReport(claimed=len(rows), sent=sent, retry=retry, failed=failed)


async def deliver_all(target: Any, limit: int = 50, rounds: int = 20) -> DeliveryReport:
    """``deliver_pending`` until nothing due is left (at most ``rounds`` × ``limit`` rows)."""
    total = DeliveryReport()
    for _round in range(rounds):
        report = await deliver_pending(target, limit=limit)
        total = DeliveryReport(*(a + b for a, b in zip(
            (total.claimed, total.sent, total.retry, total.failed),
            (report.claimed, report.sent, report.retry, report.failed),
        )))
        if report.claimed < limit:
            break
    return total


# ------------------------------------------------------------- background delivery


def _tasks(app) -> set[asyncio.Task]:
    return app.state.setdefault(_TASKS, set())


async def _delivery_loop(app) -> None:
    state = app.state
    while True:
        state[_AGAIN] = False  # a deliver_soon() from now on asks for one more pass
        try:
            await deliver_all(state)
        except Exception:  # noqa: BLE001 - a background task must log, never raise into the void
            log.exception("outbox delivery failed")
        if not state.get(_AGAIN) or state.get(_CLOSED):
            return


def deliver_soon(app) -> asyncio.Task | None:
    """Deliver pending messages in the background; call it after the change's transaction committed.

    At most one delivery task runs per app. While it runs, a call only asks it for one more pass
    (whatever this request queued is picked up by that pass) and returns the running task.
    The task is kept in ``app.state`` until done and awaited or cancelled at shutdown.
    Returns the task, or None once the app is shutting down.
    Also pushes the in-app messages just committed to their readers' open pages (live alerts).
    """
    from portal.notify.live import wake  # live imports this module

    wake(app)
    if app.state.get(_CLOSED):
        return None
    tasks = _tasks(app)
    for task in tasks:
        if not task.done():
            app.state[_AGAIN] = True
            return task
    task = asyncio.get_running_loop().create_task(_delivery_loop(app), name="outbox-delivery")
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


async def wait_delivered(app) -> None:
    """Wait for the delivery task running now (tests; a CLI that wants the messages out before exiting)."""
    while tasks := set(_tasks(app)):
        await asyncio.gather(*tasks, return_exceptions=True)


async def stop_delivery(app, timeout: float = 5.0) -> None:
    """At shutdown: no new tasks; give the running one ``timeout`` seconds, then cancel it."""
    app.state[_CLOSED] = True
    tasks = set(_tasks(app))
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


# ------------------------------------------------------------------------- the job


async def retry_job(ctx) -> DeliveryReport:
    """``notify.retry``: deliver rows whose back-off has passed (and anything a crash left pending)."""
    return await deliver_all(ctx)


JOBS = [Job(name="notify.retry", interval_seconds=60, run=retry_job, label=_("Retry of failed SMS and emails"))]
