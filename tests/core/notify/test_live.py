"""Live alerts for staff: the link of in-app messages, the hub that polls the outbox, the /live stream."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from portal import clock
from portal.app import create_app
from portal.db import write_transaction
from portal.demo import DEMO_PASSWORD
from portal.notify import live as live_module
from portal.notify.live import BATCH, POLL_SECONDS, Subscription
from portal.notify.outbox import deliver_soon, queue_inapp
from portal.notify.tables import Outbox
from portal.tables import StaffUser
from tests.conftest import ROOT, Client, html_text
from tests.core.citizens.helpers import citizen_id, sign_in


async def staff_id(username: str) -> int:
    return (await StaffUser.select(StaffUser.id).where(StaffUser.username == username).first())["id"]


async def send(staff: int, body: str = "区人社局：请到甘州区综治中心报到。", *, kind: str = "whistle", link: str = "") -> int:
    async with write_transaction():
        return await queue_inapp(body=body, kind=kind, staff=staff, link=link)


# ------------------------------------------------------------------------------ the link


@pytest.mark.parametrize("link", ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "matters/1",
                                  "javascript:alert(1)", "/a b", "/x\n", "/" + "a" * 200])
async def test_a_link_must_be_a_path_on_this_site(app, link):
    officer = await staff_id("rsj_officer")
    with pytest.raises(ValueError, match="site-relative"):
        await send(officer, link=link)
    assert await Outbox.count() == 0


async def test_staff_inbox_shows_the_link_of_a_message(app, client):
    officer = await staff_id("rsj_officer")
    await send(officer, "请查看新的吹哨。", link="/matters/7")
    await send(officer, "没有链接的消息。")
    await client.login("rsj_officer")
    page = await client.get("/messages")
    assert page.status_code == 200
    assert '<a href="/matters/7">查看' in page.text
    assert page.text.count(">查看<") == 1
    assert "没有链接的消息。" in html_text(page)


async def test_citizen_messages_show_the_link(app, client):
    await sign_in(client)
    me = await citizen_id()
    async with write_transaction():
        await queue_inapp(body="您的预约已确认。", kind="booking", citizen=me, link="/my/bookings")
    page = await client.get("/my/messages")
    assert page.status_code == 200
    assert '<a href="/my/bookings">查看' in page.text


# ------------------------------------------------------------------------ the hub


async def _arrives(subscription: Subscription, within: float) -> tuple[list[dict], float]:
    """Wait up to ``within`` seconds for the hub to wake the subscription with new rows: the rows
    and the time it took (a stream loads only when woken, or at its keep-alive)."""
    began = time.monotonic()
    deadline = began + within
    while time.monotonic() < deadline:
        if await subscription.wait(deadline - time.monotonic()):
            rows = await subscription.load()
            if rows:
                return rows, time.monotonic() - began
    return [], time.monotonic() - began


async def test_a_subscriber_gets_its_own_messages_and_not_another_members(app):
    hub = app.state.live
    officer, window = await staff_id("rsj_officer"), await staff_id("gzq_window")
    mine = await hub.subscribe(officer)
    theirs = await hub.subscribe(window)
    try:
        await send(window, "给受理员的消息。")
        sent = await send(officer, "请到甘州区综治中心报到。", link="/matters/3")
        rows, _took = await _arrives(mine, 2.0)
        assert [(r["id"], r["body"], r["link"]) for r in rows] == [(sent, "请到甘州区综治中心报到。", "/matters/3")]
        other, _took = await _arrives(theirs, 2.0)
        assert [r["body"] for r in other] == ["给受理员的消息。"]
        assert await mine.load() == [] and await theirs.load() == []  # each message once
    finally:
        hub.unsubscribe(mine)
        hub.unsubscribe(theirs)


async def test_deliver_soon_pushes_at_once_and_the_poll_finds_the_rest_within_a_second(app):
    hub = app.state.live
    hub.poll_seconds = 30  # so only a wake can be fast
    officer = await staff_id("rsj_officer")
    subscription = await hub.subscribe(officer)
    try:
        await asyncio.sleep(0.05)  # the poller's first pass is done: from now on it sleeps 30 s
        await send(officer, "第一条。")
        assert (await _arrives(subscription, 0.5))[0] == []  # committed, but nobody told the hub
        deliver_soon(app)  # what every handler calls after its commit
        rows, took = await _arrives(subscription, 1.0)
        assert [r["body"] for r in rows] == ["第一条。"] and took < 0.3
    finally:
        hub.unsubscribe(subscription)
    await asyncio.sleep(0.1)
    assert not hub.polling
    hub.poll_seconds = POLL_SECONDS  # the default poll, nobody wakes it (another process wrote)
    subscription = await hub.subscribe(officer)
    try:
        await send(officer, "第二条。")
        rows, took = await _arrives(subscription, 3.0)
        assert [r["body"] for r in rows] == ["第二条。"] and took < 1.5
    finally:
        hub.unsubscribe(subscription)


async def test_a_fresh_subscriber_starts_from_now(app):
    officer = await staff_id("rsj_officer")
    await send(officer, "旧消息。")
    subscription = await app.state.live.subscribe(officer)
    try:
        await send(officer, "新消息。")
        rows, _took = await _arrives(subscription, 2.0)
        assert [r["body"] for r in rows] == ["新消息。"]
    finally:
        app.state.live.unsubscribe(subscription)


async def test_a_reconnect_gets_only_what_came_after_its_last_event_and_at_most_twenty(app):
    hub = app.state.live
    officer = await staff_id("rsj_officer")
    seen = await send(officer, "已看过。")
    later = [await send(officer, f"未看过 {i}。") for i in range(3)]
    subscription = await hub.subscribe(officer, last_event_id=seen)
    try:
        assert [r["id"] for r in await subscription.load()] == later
        assert await subscription.load() == []
    finally:
        hub.unsubscribe(subscription)
    many = [await send(officer, f"离线时的消息 {i}。") for i in range(BATCH + 5)]
    subscription = await hub.subscribe(officer, last_event_id=later[-1])
    try:
        assert [r["id"] for r in await subscription.load()] == many[-BATCH:]  # the newest 20, oldest first
        assert await subscription.load() == []
    finally:
        hub.unsubscribe(subscription)


async def test_a_burst_arrives_in_batches_of_twenty_without_loss(app):
    hub = app.state.live
    officer = await staff_id("rsj_officer")
    subscription = await hub.subscribe(officer)
    try:
        async with write_transaction():
            ids = [await queue_inapp(body=f"批量 {i}。", kind="t", staff=officer) for i in range(45)]
        got: list[int] = []
        for _round in range(5):
            got += [r["id"] for r in (await _arrives(subscription, 2.0))[0]]
            while subscription.more:
                got += [r["id"] for r in await subscription.load()]
            if len(got) >= 45:
                break
        assert got == ids
    finally:
        hub.unsubscribe(subscription)


async def test_nobody_connected_means_no_polling(app):
    hub = app.state.live
    officer = await staff_id("rsj_officer")
    await asyncio.sleep(1.0)
    assert not hub.polling and hub.polls == 0
    subscription = await hub.subscribe(officer)
    await asyncio.sleep(1.0)
    assert hub.polling and hub.polls >= 2
    hub.unsubscribe(subscription)
    await asyncio.sleep(0.1)
    assert not hub.polling
    polls = hub.polls
    await asyncio.sleep(1.0)
    assert hub.polls == polls


@pytest.mark.postgres_only
async def test_a_message_committed_after_a_later_one_still_arrives(app):
    """PostgreSQL hands out ids before commit: id n may become visible after id n+1 was pushed."""
    hub = app.state.live
    officer = await staff_id("rsj_officer")
    subscription = await hub.subscribe(officer)
    queued, release = asyncio.Event(), asyncio.Event()

    async def slow() -> int:
        async with write_transaction():
            ident = await queue_inapp(body="先编号、后提交。", kind="t", staff=officer)
            queued.set()
            await release.wait()
        return ident

    try:
        slow_task = asyncio.create_task(slow())
        await queued.wait()
        fast = await send(officer, "后编号、先提交。")
        rows, _took = await _arrives(subscription, 2.0)
        assert [r["id"] for r in rows] == [fast]
        await asyncio.sleep(1.0)  # the poller has moved past ``fast`` meanwhile
        release.set()
        first = await slow_task
        assert first < fast
        rows, _took = await _arrives(subscription, 2.0)
        assert [r["id"] for r in rows] == [first]
    finally:
        hub.unsubscribe(subscription)


# ------------------------------------------------------------------------- GET /live


class LiveClient:
    """Reads ``GET /live`` as EventSource would, by calling the app directly (ASGI): httpx's test
    transport returns a response only when it has ended, and this one never ends by itself."""

    def __init__(self, app, cookies: dict[str, str], headers: dict[str, str] | None = None, query: str = ""):
        self.app = app
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        sent = {"accept": "text/event-stream", "cookie": cookie, **(headers or {})}
        self.scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": "/live", "raw_path": b"/live", "query_string": query.encode(),
            "root_path": "", "headers": [(k.encode(), v.encode()) for k, v in sent.items()],
            "client": ("198.51.100.7", 40000), "server": ("testserver.local", 80),
        }
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.ended = asyncio.Event()
        self._started = asyncio.Event()
        self._gone = asyncio.Event()
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self._buffer = ""
        self._task: asyncio.Task | None = None
        self._requested = False

    async def _receive(self):
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message):
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            self._started.set()
        elif message["type"] == "http.response.body":
            if message.get("body"):
                await self._chunks.put(message["body"])
            if not message.get("more_body"):
                self.ended.set()
                self._gone.set()  # as servers do: once the answer is complete, receive() says so

    async def __aenter__(self) -> LiveClient:
        self._task = asyncio.create_task(self.app(self.scope, self._receive, self._send))
        await asyncio.wait_for(self._started.wait(), 5)
        return self

    async def __aexit__(self, *exc) -> None:
        self._gone.set()  # the browser closed the page
        await asyncio.wait_for(self._task, 5)

    async def next_event(self, within: float = 3.0) -> dict | None:
        """The next dispatched event (``event``, ``id``, ``data``) or comment (``comment``); None at the end or timeout."""
        deadline = time.monotonic() + within
        while "\r\n\r\n" not in self._buffer:
            if self.ended.is_set() and self._chunks.empty():
                return None
            try:
                chunk = await asyncio.wait_for(self._chunks.get(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return None
            self._buffer += chunk.decode()
        block, self._buffer = self._buffer.split("\r\n\r\n", 1)
        event: dict = {}
        for line in block.split("\r\n"):
            name, _sep, value = line.partition(": ")
            event[name or "comment"] = value
        return event

    async def next_message(self, within: float = 3.0) -> dict | None:
        deadline = time.monotonic() + within
        while (event := await self.next_event(max(0.0, deadline - time.monotonic()))) is not None:
            if event.get("event") == "message":
                return {**event, "data": json.loads(event["data"])}
        return None


async def signed_in(client, username: str = "rsj_officer") -> dict[str, str]:
    await client.login(username)
    return dict(client.cookies.items())


async def test_live_needs_a_staff_session(app, client):
    response = await client.get("/live", headers={"accept": "text/event-stream"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/live"
    await sign_in(client)  # a citizen is not staff
    response = await client.get("/live", headers={"accept": "text/event-stream"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_live_opened_as_a_page_is_an_error_page_not_an_endless_answer(app, client):
    await client.login("rsj_officer")
    response = await client.get("/live")
    assert response.status_code == 406
    assert response.headers["content-type"].startswith("text/html")


async def test_the_stream_pushes_the_members_new_message_with_its_link_and_unread_count(app, client):
    cookies = await signed_in(client)
    officer, window = await staff_id("rsj_officer"), await staff_id("gzq_window")
    await send(officer, "开流之前的消息。")  # old: not pushed, but unread
    async with LiveClient(app, cookies) as live:
        assert live.status == 200
        assert live.headers["content-type"].startswith("text/event-stream")
        assert live.headers["cache-control"] == "no-store"
        assert live.headers["x-accel-buffering"] == "no"
        first = await live.next_event()
        assert first.get("retry") and "event" not in first
        await send(window, "别人的消息。")
        sent = await send(officer, "区人社局：请于 30 分钟内到中心报到。", link="/m/checkin/whistles/5")
        message = await live.next_message()
        assert message["id"] == str(sent)
        data = message["data"]
        assert data["id"] == sent and data["body"] == "区人社局：请于 30 分钟内到中心报到。"
        assert data["link"] == "/m/checkin/whistles/5" and data["kind"] == "whistle"
        assert data["unread"] == 2
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", data["created_at"])
        assert await live.next_message(within=1.5) is None  # nothing for another member, nothing twice


async def test_a_reconnect_with_last_event_id_resends_what_came_after(app, client):
    cookies = await signed_in(client)
    officer = await staff_id("rsj_officer")
    seen = await send(officer, "看过的。")
    missed = await send(officer, "断线时到的。")
    async with LiveClient(app, cookies, headers={"last-event-id": str(seen)}) as live:
        message = await live.next_message()
        assert message["data"]["id"] == missed
        assert await live.next_message(within=1.0) is None
    async with LiveClient(app, cookies, query=f"after={seen}") as live:  # the page script's own reopen
        assert (await live.next_message())["data"]["id"] == missed
    async with LiveClient(app, cookies, headers={"last-event-id": "abc"}) as live:  # nonsense: from now
        assert await live.next_message(within=1.0) is None


async def test_keep_alive_comments_flow_while_nothing_happens(app, client, monkeypatch):
    monkeypatch.setattr(live_module, "KEEPALIVE_SECONDS", 0.2)
    cookies = await signed_in(client)
    async with LiveClient(app, cookies) as live:
        await live.next_event()  # the opening comment
        assert (await live.next_event(within=1.0)) == {"comment": "keep-alive"}


async def test_the_stream_ends_when_the_session_ends(app, client, monkeypatch):
    monkeypatch.setattr(live_module, "SESSION_CHECK_SECONDS", 0.2)
    cookies = await signed_in(client)
    async with LiveClient(app, cookies) as live:
        await live.next_event()
        assert await live.next_event(within=0.6) is None and not live.ended.is_set()  # still valid
        await client.submit("/logout")
        event = await live.next_event(within=2.0)
        assert event["event"] == "signed-out"
        await asyncio.wait_for(live.ended.wait(), 1.0)


async def test_an_idle_session_ends_the_stream_which_does_not_keep_it_alive(app, client, monkeypatch):
    monkeypatch.setattr(live_module, "SESSION_CHECK_SECONDS", 0.2)
    cookies = await signed_in(client)
    async with LiveClient(app, cookies) as live:
        await live.next_event()
        clock.travel(minutes=app.state.settings.session_idle_minutes + 1)
        event = await live.next_event(within=2.0)
        assert event["event"] == "signed-out"
    response = await client.get("/messages", follow_redirects=False)
    assert response.status_code == 303 and "expired=1" in response.headers["location"]


async def test_shutdown_ends_open_streams_at_once(settings):
    app = create_app(settings)
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve():  # the server's lifespan in its own task, as under granian
        async with app.lifespan():
            started.set()
            await stop.wait()

    server = asyncio.create_task(serve())
    await started.wait()
    client = Client(transport=httpx.ASGITransport(app=app, client=("198.51.100.7", 40000)),
                    base_url="http://testserver.local")
    try:
        cookies = await signed_in(client)
        streams = [LiveClient(app, cookies) for _ in range(3)]
        for live in streams:
            await live.__aenter__()
            await live.next_event()
        assert app.state.requests.running == 3
        began = time.monotonic()
        stop.set()
        await asyncio.wait_for(server, 5)
        assert time.monotonic() - began < 2.0  # not the drain's 10 s
        for live in streams:
            assert live.ended.is_set()
            await live.__aexit__(None, None, None)
        assert not app.state.live.polling
    finally:
        await client.aclose()


async def test_a_real_server_told_to_stop_ends_open_streams_and_exits(database_url, tmp_path):
    """granian waits for open connections before it runs the app's shutdown, so the streams must
    end when the signal arrives, not at shutdown (else a restart hangs while a staff page is open)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "PICCOLO_"))}
    env.update(PORTAL_ENV="demo", PORTAL_DATABASE_URL=database_url, PORTAL_DATA_DIR=str(tmp_path),
               PORTAL_LOAD_ENTRYPOINTS="0", PORTAL_PLUGINS="tests.sample_module", PORTAL_JOBS="off",
               PYTHONPATH=str(ROOT), NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "granian.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "granian"), "--interface", "asgi", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "portal.asgi:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=5) as web:
            deadline = time.monotonic() + 30  # a busy machine starts granian slowly
            while True:
                try:
                    if (await web.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("granian did not start:\n" + (tmp_path / "granian.log").read_text(errors="replace"))
                await asyncio.sleep(0.1)
            await web.get("/login")
            response = await web.post("/login", data={
                "username": "rsj_officer", "password": DEMO_PASSWORD, "next": "/dashboard",
                "_csrf_token": web.cookies.get("portal_csrf")})
            assert response.status_code == 303
            async with web.stream("GET", "/live", headers={"accept": "text/event-stream"}, timeout=None) as live:
                assert live.status_code == 200
                lines = live.aiter_lines()
                assert await anext(lines) == ": live"
                began = time.monotonic()
                os.killpg(server.pid, signal.SIGTERM)
                async with asyncio.timeout(3):
                    async for _line in lines:
                        pass  # ends when the server closes the stream
                assert time.monotonic() - began < 3
        await asyncio.get_running_loop().run_in_executor(None, server.wait, 5)
        assert server.returncode is not None
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)
        log.close()


async def test_the_signal_handlers_are_chained_while_the_app_runs_and_restored_after(settings):
    # Python's own Ctrl-C handler, whatever this process inherited (a shell's background job
    # starts with SIGINT ignored, as `make test` runs its lanes).
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        app = create_app(settings)
        async with app.lifespan():
            assert signal.getsignal(signal.SIGINT) not in before
            with pytest.raises(KeyboardInterrupt):  # Ctrl-C still does what it did before
                signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
            await asyncio.sleep(0)
            assert app.state.live.closed  # …and has closed the streams first
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    finally:
        signal.signal(signal.SIGINT, inherited)
