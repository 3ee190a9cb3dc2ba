"""HTML error pages (401 → sign-in, 403, 404, 405, 413, 429, 500) without stack traces."""

from __future__ import annotations

import logging
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.response import Redirect

from portal.i18n import _
from portal.web.render import render_sync
from portal.web.request import request_id

__all__ = ["EXCEPTION_HANDLERS", "SignInRequired"]

log = logging.getLogger("portal.errors")


class SignInRequired(NotAuthorizedException):
    """Raised by guards; ``expired`` says the session timed out (so the page can say so)."""

    def __init__(self, expired: bool = False):
        super().__init__(detail="sign in required")
        self.expired = expired


def _page(request: Request, status: int, title: str, message: str, headers: dict | None = None) -> Response:
    try:
        return render_sync(
            request,
            "errors/error.html",
            {"title": title, "message": message, "status": status},
            status=status,
            headers=headers,
        )
    except Exception:  # the error page itself failed: plain text, still no traceback
        log.exception("error page failed", extra={"request_id": request_id(request)})
        return Response(content=f"{status} {title}", media_type="text/plain; charset=utf-8", status_code=status)


def on_not_authorized(request: Request, exc: NotAuthorizedException) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = "/login?next=" + quote(target, safe="/")
    if getattr(exc, "expired", False) or request.scope.get("auth") == "expired":
        url += "&expired=1"
    if request.headers.get("hx-request") == "true":
        return Response(content="", status_code=200, headers={"HX-Redirect": url})
    return Redirect(path=url, status_code=303)


def on_forbidden(request: Request, exc: PermissionDeniedException) -> Response:
    if "CSRF" in str(exc.detail):
        return _page(
            request,
            403,
            _("The form has expired"),
            _("For your security this form can no longer be sent. Go back, reload the page and try again."),
        )
    return _page(
        request, 403, _("You do not have permission"), _("Your role does not allow this action. Ask your center's administrator if you need it.")
    )


def on_not_found(request: Request, exc: NotFoundException) -> Response:
    return _page(
        request, 404, _("Page not found"), _("The page does not exist, or it is not open to you. Check the address, or go back to the home page.")
    )


def on_method(request: Request, exc: MethodNotAllowedException) -> Response:
    return _page(request, 405, _("This action is not available"), _("The page cannot be used this way. Go back and try again."))


def on_too_many(request: Request, exc: TooManyRequestsException) -> Response:
    retry = str((exc.headers or {}).get("Retry-After", "60"))
    minutes = max(1, (int(retry) + 59) // 60)
    return _page(
        request,
        429,
        _("Too many attempts"),
        _("You have tried too many times. Wait %(minutes)s minutes and try again.", minutes=minutes),
        headers={"Retry-After": retry},
    )


def on_http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 413:
        return _page(request, 413, _("The upload is too large"), _("The file is larger than allowed. Choose a smaller file."))
    if exc.status_code < 500:
        return _page(request, exc.status_code, _("The request could not be handled"), _("Check what you entered and try again."))
    return on_server_error(request, exc)


def on_server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s [request %s]", request.method, request.url.path, request_id(request), exc_info=exc)
    return _page(
        request,
        500,
        _("Something went wrong"),
        _("The system could not complete your request and nothing from it was saved; try again in a moment. Reference: %(rid)s", rid=request_id(request)),
    )


EXCEPTION_HANDLERS = {
    NotAuthorizedException: on_not_authorized,
    PermissionDeniedException: on_forbidden,
    NotFoundException: on_not_found,
    MethodNotAllowedException: on_method,
    TooManyRequestsException: on_too_many,
    HTTPException: on_http_error,
    Exception: on_server_error,
}
