"""Requests in flight, so that shutdown closes the database only after the last answer went out.

Why: a server stopping (a deploy, a restart) runs the app's shutdown while keep-alive clients may
still have requests running; closing the connection pool under them failed those requests
("Cannot operate on a closed database") and could cut a registration off after its commit but
before its answer. At shutdown the app first stops taking new requests (503 with Retry-After,
connection closed) and waits up to ``DRAIN_SECONDS`` for the running ones.
"""

from __future__ import annotations

import asyncio

from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ["DRAIN_SECONDS", "Requests", "track_requests"]

DRAIN_SECONDS = 10.0

_CLOSING_BODY = "服务正在重新启动，请稍候几秒再试。".encode()


class Requests:
    """How many HTTP requests are running; ``drain`` refuses new ones and waits for the rest."""

    def __init__(self) -> None:
        self.running = 0
        self.closing = False
        self._idle = asyncio.Event()
        self._idle.set()

    def started(self) -> None:
        self.running += 1
        self._idle.clear()

    def finished(self) -> None:
        self.running -= 1
        if self.running == 0:
            self._idle.set()

    async def drain(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Refuse new requests; True when every running one finished within ``timeout``."""
        self.closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


async def _refuse(send: Send) -> None:
    await send({
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"retry-after", b"5"),
            (b"connection", b"close"),
            (b"content-length", str(len(_CLOSING_BODY)).encode()),
        ],
    })
    await send({"type": "http.response.body", "body": _CLOSING_BODY})


def track_requests(app: ASGIApp) -> ASGIApp:
    """Middleware counting the app's HTTP requests in ``app.state.requests``."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        requests: Requests | None = scope["app"].state.get("requests") if scope["type"] == "http" else None
        if requests is None:
            await app(scope, receive, send)
            return
        if requests.closing:
            await _refuse(send)
            return
        requests.started()
        try:
            await app(scope, receive, send)
        finally:
            requests.finished()

    return middleware
