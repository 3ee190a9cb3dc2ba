"""Loads the session's Principal into ``scope["user"]`` (staff) and ``scope["citizen"]`` before guards run.

The two are independent: a staff cookie never yields a citizen and a citizen cookie never yields
a staff member. Without the cookie there is no database work.
"""

from __future__ import annotations

from litestar._parsers import parse_cookie_string
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from portal.auth import sessions
from portal.citizens import sessions as citizen_sessions

__all__ = ["SessionMiddleware", "session_token"]


def _cookies(scope: Scope) -> dict[str, str]:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie_string(value.decode("latin-1"))
    return {}


def session_token(scope: Scope, cookie_name: str) -> str | None:
    return _cookies(scope).get(cookie_name)


class SessionMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)
    exclude_opt_key = "skip_auth"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        state = scope["litestar_app"].state
        settings = state.settings
        scope["user"] = None
        scope["citizen"] = None
        cookies = _cookies(scope)
        token = cookies.get(settings.session_cookie)
        if token:
            result = await sessions.load(token, settings, state.registry.permissions_for, state.memo)
            scope["user"] = result.principal
            if result.expired:
                scope["auth"] = "expired"
        citizen_token = cookies.get(settings.citizen_cookie)
        if citizen_token:
            loaded = await citizen_sessions.load(citizen_token, settings)
            scope["citizen"] = loaded.principal
            if loaded.expired:
                scope["citizen_auth"] = "expired"
        await next_app(scope, receive, send)
