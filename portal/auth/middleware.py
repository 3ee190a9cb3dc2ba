"""Loads the session's Principal into ``scope["user"]`` before guards run."""

from __future__ import annotations

from litestar._parsers import parse_cookie_string
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from portal.auth import sessions

__all__ = ["SessionMiddleware", "session_token"]


def session_token(scope: Scope, cookie_name: str) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie_string(value.decode("latin-1")).get(cookie_name)
    return None


class SessionMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)
    exclude_opt_key = "skip_auth"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        state = scope["litestar_app"].state
        scope["user"] = None
        token = session_token(scope, state.settings.session_cookie)
        if token:
            result = await sessions.load(token, state.settings, state.registry.permissions_for)
            scope["user"] = result.principal
            if result.expired:
                scope["auth"] = "expired"
        await next_app(scope, receive, send)
