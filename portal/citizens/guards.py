"""Who the citizen is, and the guard of citizen pages.

``citizen_of(request)`` reads the ``CitizenPrincipal`` the session middleware loaded (or None).
``citizen_guard`` sends a visitor who is not signed in as a citizen to ``/citizen/login`` with a
``next`` back to the page (303; htmx gets ``HX-Redirect``). A staff session is not a citizen.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from litestar.response import Redirect

from portal.citizens.sessions import CitizenPrincipal
from portal.web.request import safe_next

__all__ = [
    "CITIZEN_HOME",
    "CitizenSignInRequired",
    "citizen_guard",
    "citizen_of",
    "login_url",
    "on_citizen_sign_in_required",
]

CITIZEN_HOME = "/my/messages"
LOGIN_PATH = "/citizen/login"


class CitizenSignInRequired(NotAuthorizedException):
    """Raised by ``citizen_guard``; ``next_url`` is where to return after signing in."""

    def __init__(self, next_url: str, expired: bool = False):
        super().__init__(detail="citizen sign in required")
        self.next_url = next_url
        self.expired = expired


def citizen_of(request: Request | ASGIConnection) -> CitizenPrincipal | None:
    return request.scope.get("citizen")


def login_url(next_url: str, expired: bool = False) -> str:
    url = f"{LOGIN_PATH}?next={quote(safe_next(next_url, CITIZEN_HOME), safe='/')}"
    return url + "&expired=1" if expired else url


def _return_to(connection: ASGIConnection) -> str:
    """Where to come back after signing in: this page for GET, the page the form was on otherwise."""
    if connection.scope.get("method", "GET") in ("GET", "HEAD"):
        query = connection.scope.get("query_string", b"").decode("latin-1")
        return connection.url.path + (f"?{query}" if query else "")
    referer = urlsplit(connection.headers.get("referer", ""))
    if referer.netloc and referer.netloc == connection.headers.get("host", "") and referer.path:
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return CITIZEN_HOME


async def citizen_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    if connection.scope.get("citizen") is None:
        raise CitizenSignInRequired(_return_to(connection), expired=connection.scope.get("citizen_auth") == "expired")


def on_citizen_sign_in_required(request: Request, exc: CitizenSignInRequired) -> Response:
    url = login_url(exc.next_url, exc.expired)
    if request.headers.get("hx-request") == "true":
        return Response(content="", status_code=200, headers={"HX-Redirect": url})
    return Redirect(path=url, status_code=303)


EXCEPTION_HANDLERS = {CitizenSignInRequired: on_citizen_sign_in_required}
