"""Live alerts: a staff member's new in-app messages reach their open pages within a second.

Any code that queues an in-app message for a staff member (``queue_inapp(staff=…)``) gets a live
alert for free: the page script (static/js/live.js) keeps an ``EventSource`` on ``GET /live``
(portal/notify/routes.py), and each new message arrives there as an SSE event, shown as an alert
box at the top of whatever page is open. Without JavaScript nothing happens; ``/messages`` lists
everything anyway.

How a message gets there: one ``LiveHub`` per app (``app.state.live``). Each open stream is a
``Subscription`` (the staff id, and the outbox ids already handled). While at least one stream is
open, one task per process polls the outbox::

    SELECT id, staff FROM outbox WHERE channel = 'inapp' AND staff IS NOT NULL AND id > :last ORDER BY id

every ``POLL_SECONDS`` and wakes the subscriptions of the staff members it found; each then loads
its own new rows (``staff = me AND id > mine``, at most ``BATCH``) and pushes them. ``wake(app)``
makes the poll run at once: ``deliver_soon(app)``, which every handler calls after committing its
messages, calls it, so a message queued by a request of this process is on screen immediately;
one queued by another process (another app worker, the job scheduler, the CLI) within one poll.
Nobody connected: no task, no query.

Why polling rather than Litestar channels (ARCHITECTURE §8 suggests channels with Redis): the app
must run as several processes on one database, on SQLite as well as PostgreSQL, with no other
infrastructure. Channels fan out only within one process unless a broker (Redis) joins them, and
an in-process publish would still miss messages written by another process (the scheduler's
deadline warnings). The outbox row is already the durable fact, so polling it needs no broker,
works for any number of processes on one database, and costs one indexed query (a range on the
primary key) about once a second per process, and only while someone is connected.

Ids and commit order: on SQLite one writer at a time commits, so ids become visible in order. On
PostgreSQL a transaction holding a lower id may commit after a higher one was seen; so there the
watermark (``floor``) trails the newest id seen by ``HOLD_SECONDS_PG``, the last few seconds are
re-read on each poll, and ids already handled are skipped. A message whose transaction stayed open
longer than that is not shown live (it is in ``/messages``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from litestar.response.sse import ServerSentEventMessage

from portal import clock
from portal.db import current_engine, read
from portal.notify.outbox import unread_count

__all__ = [
    "BATCH",
    "KEEPALIVE_SECONDS",
    "POLL_SECONDS",
    "SESSION_CHECK_SECONDS",
    "LiveHub",
    "Subscription",
    "event_stream",
    "wake",
]

log = logging.getLogger("portal.notify.live")

POLL_SECONDS = 0.75
BATCH = 20  # rows one load pushes; also the most a reconnect resends
KEEPALIVE_SECONDS = 15.0  # proxies close idle connections after 30-60 s
SESSION_CHECK_SECONDS = 60.0
RETRY_MS = 3000  # how soon EventSource reconnects after the stream ended
HOLD_SECONDS_PG = 10.0

_POLL_SQL = (
    "SELECT id, staff FROM outbox WHERE channel = 'inapp' AND staff IS NOT NULL AND id > {} ORDER BY id"
)
_MAX_SQL = "SELECT max(id) AS top FROM outbox"
_ROWS_SQL = (
    "SELECT id, kind, body, link, created_at FROM outbox "
    "WHERE staff = {} AND channel = 'inapp' AND id > {} ORDER BY id LIMIT {}"
)
_NEWEST_SQL = (
    "SELECT id, kind, body, link, created_at FROM outbox "
    "WHERE staff = {} AND channel = 'inapp' AND id > {} ORDER BY id DESC LIMIT {}"
)
_SESSION_SQL = (
    "SELECT s.stage, s.last_seen_at, s.expires_at, u.active FROM auth_session s "
    'JOIN staff_user u ON u.id = s."user" WHERE s.id = {}'
)


async def _top_id() -> int:
    rows = await read(_MAX_SQL)
    return int(rows[0]["top"] or 0)


class Subscription:
    """One open stream of one staff member: which outbox ids it has handled, and its wake-up."""

    def __init__(self, hub: LiveHub, staff: int, start: int) -> None:
        self.hub = hub
        self.staff = staff
        self.start = start  # ids <= start are never pushed (old, or already handled)
        self.sent: set[int] = set()  # ids > start already pushed
        self.more = False  # the last load was full: load again before waiting
        self.pending: list[dict] = []  # rows found at subscription (a reconnect's backlog)
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def wait(self, timeout: float) -> bool:
        """Until woken (True) or ``timeout`` seconds passed (False)."""
        try:
            await asyncio.wait_for(self._woken.wait(), max(timeout, 0.0))
        except TimeoutError:
            return False
        finally:
            self._woken.clear()
        return True

    async def load(self) -> list[dict]:
        """This member's rows not pushed yet, oldest first, at most ``BATCH``."""
        if self.pending:
            rows, self.pending = self.pending, []
            self.sent.update(row["id"] for row in rows)
            return rows
        stable = self.hub.floor  # before the query: every row at or below it is visible to it
        limit = BATCH + len(self.sent)
        rows = await read(_ROWS_SQL, self.staff, self.start, limit)
        new = [row for row in rows if row["id"] not in self.sent]
        self.more = len(rows) >= limit or len(new) > BATCH
        new = new[:BATCH]
        self.sent.update(row["id"] for row in new)
        if not self.more and stable > self.start:
            # Everything visible above start has been pushed, and nothing at or below ``stable``
            # can still appear: forget those ids.
            self.start = stable
            self.sent = {i for i in self.sent if i > stable}
        return new


class LiveHub:
    """The app's open streams and the one polling task that wakes them (see the module docstring)."""

    def __init__(self, *, poll_seconds: float = POLL_SECONDS, hold_seconds: float | None = None) -> None:
        self.poll_seconds = poll_seconds
        self._hold = hold_seconds  # None: by engine (PostgreSQL: HOLD_SECONDS_PG, SQLite: 0)
        self._subs: dict[int, set[Subscription]] = {}
        self._task: asyncio.Task | None = None
        self._kick = asyncio.Event()
        self.closed = False
        self.polls = 0  # poll queries run (tests, diagnostics)
        self.floor = 0  # ids at or below it that will ever be visible are visible
        self._marks: deque[tuple[float, int]] = deque()
        self._seen: set[int] = set()
        self._previous_handlers: dict[int, Any] = {}
        self._signal_handler: Any = None

    # ------------------------------------------------------------------ streams

    @property
    def polling(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def subscribers(self) -> int:
        return sum(len(subs) for subs in self._subs.values())

    async def subscribe(self, staff: int, last_event_id: int | None = None) -> Subscription:
        """A new stream of ``staff``. Fresh (``last_event_id`` None): from now on. A reconnect:
        the newest ``BATCH`` messages after ``last_event_id`` first (older ones are in /messages)."""
        top = await _top_id()
        if last_event_id is None or last_event_id < 0 or last_event_id >= top:
            subscription = Subscription(self, staff, top)
        else:
            newest = await read(_NEWEST_SQL, staff, last_event_id, BATCH)
            newest.reverse()
            start = last_event_id if len(newest) < BATCH else newest[0]["id"] - 1
            subscription = Subscription(self, staff, start)
            subscription.pending = newest
        if self.closed:
            return subscription  # the stream ends at once
        self._subs.setdefault(staff, set()).add(subscription)
        if not self.polling:
            self._start_polling(top)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subs = self._subs.get(subscription.staff)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._subs[subscription.staff]
        if not self._subs:
            self._kick.set()  # the poller sees nobody is left and ends now, not after its sleep

    def wake(self) -> None:
        """Poll now (a request of this process just committed in-app messages)."""
        if self._subs:
            self._kick.set()

    def close_streams(self) -> None:
        """Every open stream ends now and new ones end at once (the server is stopping)."""
        self.closed = True
        for subs in list(self._subs.values()):
            for subscription in list(subs):
                subscription.wake()
        self._kick.set()

    def watch_signals(self) -> None:
        """Close the streams as soon as the process is told to stop (SIGTERM, SIGINT).

        Why: granian (and uvicorn) first stop accepting and wait for the open connections to end,
        and only then run the app's shutdown; a stream never ends by itself, so without this a
        restart would hang for as long as any staff page is open. Our handler is put in front of
        whatever handler the server installed and calls it; asyncio's own signal dispatch (the
        wake-up fd) is untouched. The browser's EventSource reconnects to the next process and
        resumes from its Last-Event-ID.
        """
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        loop = asyncio.get_running_loop()

        def handler(signum, frame):
            try:
                loop.call_soon_threadsafe(self.close_streams)
            except RuntimeError:  # that loop is closed: nothing left to close
                pass
            previous = self._previous_handlers.get(signum)
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)

        self._signal_handler = handler
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if previous is None:  # set outside Python: leave it alone
                continue
            self._previous_handlers[signum] = previous
            signal.signal(signum, handler)

    def _restore_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in self._previous_handlers.items():
            if signal.getsignal(signum) is self._signal_handler:
                signal.signal(signum, previous)
        self._previous_handlers.clear()

    async def stop(self, timeout: float = 2.0) -> None:
        """At shutdown: every open stream ends, the poller stops; new streams end at once."""
        self.close_streams()
        self._restore_signals()
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    # ------------------------------------------------------------------ polling

    def _start_polling(self, top: int) -> None:
        if self._hold is None:
            self._hold = HOLD_SECONDS_PG if current_engine().engine_type == "postgres" else 0.0
        # A poller that stopped (nobody connected) starts over from now: streams load their own
        # backlog, the poller only needs to notice what is new.
        self.floor = max(self.floor, top)
        self._marks.clear()
        self._seen.clear()
        self._kick.clear()
        self._task = asyncio.get_running_loop().create_task(self._poll_loop(), name="live-poll")

    async def _poll_loop(self) -> None:
        while self._subs and not self.closed:
            self._kick.clear()  # a wake() from now on asks for another poll
            try:
                await self._poll_once()
            except Exception:  # noqa: BLE001 - a failed poll is retried on the next tick
                log.exception("live alerts: polling the outbox failed")
            if not self._subs or self.closed:
                break
            try:
                await asyncio.wait_for(self._kick.wait(), self.poll_seconds)
            except TimeoutError:
                pass

    async def _poll_once(self) -> None:
        rows = await read(_POLL_SQL, self.floor)
        self.polls += 1
        top = self.floor
        for row in rows:
            ident = row["id"]
            top = max(top, ident)
            if ident in self._seen:
                continue
            self._seen.add(ident)
            for subscription in self._subs.get(row["staff"], ()):
                subscription.wake()
        if not self._hold:
            floor = top
        else:
            now = time.monotonic()
            self._marks.append((now, top))
            floor = self.floor
            while self._marks and now - self._marks[0][0] >= self._hold:
                floor = max(floor, self._marks.popleft()[1])
        if floor != self.floor:
            self.floor = floor
            self._seen = {i for i in self._seen if i > floor}


def wake(app: Any) -> None:
    """Push now what this process just committed (``deliver_soon`` calls it after every change)."""
    hub = app.state.get("live")
    if hub is not None:
        hub.wake()


# ------------------------------------------------------------------------- the stream


def _as_dt(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


async def session_valid(session_id: int, settings: Any) -> bool:
    """The session behind a stream still stands: not signed out, revoked, idle, over age or disabled.

    Read-only on purpose: an open stream is not activity, so it must not keep the session alive
    past its idle limit (the pages' requests do that, ``portal.auth.sessions.load``).
    """
    rows = await read(_SESSION_SQL, session_id)
    if not rows:
        return False
    row = rows[0]
    now = clock.now()
    idle = dt.timedelta(minutes=settings.session_idle_minutes)
    return (
        row["stage"] == "full"
        and bool(row["active"])
        and now < _as_dt(row["expires_at"])
        and now - _as_dt(row["last_seen_at"]) <= idle
    )


def _event(row: dict, unread: int) -> ServerSentEventMessage:
    data = {
        "id": row["id"],
        "body": row["body"],
        "link": row["link"] or "",
        "kind": row["kind"] or "",
        "created_at": clock.local(_as_dt(row["created_at"])).strftime("%Y-%m-%d %H:%M"),
        "unread": unread,
    }
    return ServerSentEventMessage(data=json.dumps(data, ensure_ascii=False), event="message", id=row["id"])


async def event_stream(
    hub: LiveHub,
    *,
    staff: int,
    session_id: int,
    settings: Any,
    last_event_id: int | None = None,
    keepalive_seconds: float | None = None,
    session_check_seconds: float | None = None,
) -> AsyncIterator[ServerSentEventMessage]:
    """The SSE events of one staff member's stream, until the client leaves, the session ends
    (a last ``signed-out`` event, so the page stops reconnecting) or the app shuts down."""
    keepalive_seconds = keepalive_seconds or KEEPALIVE_SECONDS
    session_check_seconds = session_check_seconds or SESSION_CHECK_SECONDS
    subscription = await hub.subscribe(staff, last_event_id)
    try:
        # Sent at once so the client knows the stream is open (and how soon to come back).
        yield ServerSentEventMessage(data=None, comment="live", retry=RETRY_MS)
        now = time.monotonic()
        next_ping, next_check = now + keepalive_seconds, now + session_check_seconds
        while not hub.closed:
            rows = await subscription.load()
            if rows:
                unread = await unread_count(staff=staff)
                for row in rows:
                    yield _event(row, unread)
                next_ping = time.monotonic() + keepalive_seconds
                if subscription.more:
                    continue
            await subscription.wait(min(next_ping, next_check) - time.monotonic())
            if hub.closed:
                break
            now = time.monotonic()
            if now >= next_check:
                if not await session_valid(session_id, settings):
                    # Data is required: EventSource drops an event whose data is empty.
                    yield ServerSentEventMessage(data="{}", event="signed-out")
                    return
                next_check = now + session_check_seconds
            if now >= next_ping:
                yield ServerSentEventMessage(data=None, comment="keep-alive")
                next_ping = now + keepalive_seconds
    finally:
        hub.unsubscribe(subscription)
