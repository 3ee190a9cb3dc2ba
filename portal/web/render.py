"""Rendering pages: one place builds the shell's context (user, nav, flashes, 长辈版, CSRF).

A request from htmx (``HX-Request`` without ``HX-Boosted``) gets the page's content block only;
everything else gets the full page. The same URL thus answers both, hence ``Vary: HX-Request``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.response import Redirect
from litestar.utils.scope.state import ScopeState
from markupsafe import Markup, escape

from portal.plugin_api import CenterRef
from portal.web.flash import COOKIE as FLASH_COOKIE
from portal.web.flash import add_flash, read_flashes
from portal.web.request import principal, request_id

__all__ = ["ELDER_COOKIE", "is_fragment_request", "redirect", "render", "render_sync"]

ELDER_COOKIE = "portal_elder"
HTML = "text/html; charset=utf-8"


def is_fragment_request(request: Request) -> bool:
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-boosted") != "true"


def _is_current(path: str, url: str) -> bool:
    """A nav item is current on its own page and on the pages below it.

    Trailing slashes are ignored because the router answers ``/m/x/`` with ``path == "/m/x"``;
    the dashboard is the root of everything, so only its own page marks it.
    """
    path, url = path.rstrip("/") or "/", url.rstrip("/") or "/"
    if path == url:
        return True
    return url not in ("/", "/dashboard") and path.startswith(url + "/")


def _base_context(request: Request, context: dict[str, Any]) -> dict[str, Any]:
    state = request.app.state
    settings = state.settings
    user = principal(request)
    token = ScopeState.from_scope(request.scope).csrf_token or ""
    if token is Ellipsis:  # Litestar's "empty" marker
        token = ""
    base = {
        "request": request,
        "settings": settings,
        "site_name": settings.site_name,
        "user": user,
        "center_name": user.center_name if user and user.signed_in else "",
        "nav": [],
        "elder": request.cookies.get(ELDER_COOKIE) == "1",
        "csrf_token": token,
        "csrf_input": Markup('<input type="hidden" name="_csrf_token" value="%s">') % escape(token),
        "current_path": request.url.path,
        "nav_current": lambda url: _is_current(request.url.path, url),
        "current_url": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "request_id": request_id(request),
        "flashes": read_flashes(request, settings.secret_key),
        "errors": {},
        "layout": "_fragment.html" if is_fragment_request(request) else "base.html",
    }
    base.update(context)
    return base


def render_sync(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render without calling hooks (error pages are rendered from sync exception handlers)."""
    full = _base_context(request, context or {})
    body = request.app.state.jinja.get_template(template).render(full)
    response = Response(content=body, media_type=HTML, status_code=status, headers=headers or {})
    if full["flashes"]:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


async def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    context = dict(context or {})
    user = principal(request)
    if user is not None and user.signed_in and "nav" not in context and not is_fragment_request(request):
        context["nav"] = await staff_nav(request)
    return render_sync(request, template, context, status=status, headers=headers)


def user_center(request: Request) -> CenterRef | None:
    user = principal(request)
    if user is None:
        return None
    return CenterRef(user.center_id, user.center_code, user.center_name, user.center_level, user.center_path)


def memo_key(name: str, user) -> tuple:
    """Key for an answer that depends on who is signed in and the data: nav, workbench cards.

    The whole Principal, not only the user's id: it was read when the request began, and a
    request that writes and then renders must not keep, under the new data version, a nav built
    from the older Principal (the unread-message count of the page that marked them read).
    """
    return (name, user)


async def staff_nav(request: Request) -> list:
    user = principal(request)
    registry = request.app.state.registry

    async def collect() -> list:
        items = await registry.collect(
            "nav_items", user.modules, request=request, center=user_center(request), user=user
        )
        items = [item for item in items if user.can(item.permission)]
        items.sort(key=lambda item: (item.order, item.label))
        return items

    # Modules may query for their items (a supervisor's review list): reused while nothing changed.
    return await request.app.state.memo.remember(memo_key("nav", user), collect)


def redirect(request: Request, url: str, message: str | None = None, category: str = "success") -> Response:
    """Post/Redirect/Get. htmx requests get HX-Redirect so the whole page navigates."""
    if request.headers.get("hx-request") == "true":
        response: Response = Response(content="", status_code=200, headers={"HX-Redirect": url})
    else:
        response = Redirect(path=url, status_code=303)
    if message:
        add_flash(response, request.app.state.settings.secret_key, message, category)
    return response
