"""Core pages of the shell: home, public center pages, dashboard, 长辈版 switch, health check."""

from __future__ import annotations

from litestar.params import FromPath, FromQuery
from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from portal import clock
from portal.auth.guards import staff_guard
from portal.centers.modules import enabled_modules
from portal.i18n import _
from portal.plugin_api import CenterRef
from portal.tables import Center
from portal.web.render import ELDER_COOKIE, memo_key, render, user_center
from portal.web.request import principal, safe_next

__all__ = ["ROUTES"]

WIDGET_SECONDS = 10  # how long the workbench's figures may lag the clock (never the data)


@get("/healthz", opt={"skip_auth": True}, media_type="text/plain", sync_to_thread=False)
def healthz() -> str:
    """Liveness probe, and route A of the benchmark (the framework's floor)."""
    return "ok"


@get("/")
async def home(request: Request) -> Response:
    districts = await Center.select(Center.id, Center.code, Center.name).where(
        (Center.level == "district") & (Center.active == True)  # noqa: E712
    ).order_by(Center.code)
    return await render(request, "home.html", {"title": _("Home"), "districts": districts})


@get("/centers")
async def centers_index(request: Request) -> Response:
    rows = await Center.select(Center.id, Center.code, Center.name, Center.level, Center.parent, Center.path).where(
        Center.active == True  # noqa: E712
    ).order_by(Center.path)
    children: dict[int | None, list[dict]] = {}
    for row in rows:
        children.setdefault(row["parent"], []).append(row)
    roots = [row for row in rows if row["parent"] is None or row["parent"] not in {r["id"] for r in rows}]
    return await render(request, "centers.html", {"title": _("All centers"), "roots": roots, "children": children})


@get("/c/{code:str}")
async def center_page(request: Request, code: FromPath[str]) -> Response:
    row = await Center.select().where((Center.code == code) & (Center.active == True)).first()  # noqa: E712
    if row is None:
        raise NotFoundException()
    center = CenterRef.from_row(row)
    services = await request.app.state.registry.collect(
        "citizen_services", await enabled_modules(center.id), request=request, center=center
    )
    services.sort(key=lambda s: (s.order, s.label))
    parent = None
    if row["parent"]:
        parent = await Center.select(Center.code, Center.name).where(Center.id == row["parent"]).first()
    return await render(
        request, "center_public.html", {"title": row["name"], "center": row, "parent": parent, "services": services}
    )


@get("/dashboard", guards=[staff_guard], opt={"permission": "dashboard.view"})
async def dashboard(request: Request) -> Response:
    user = principal(request)

    async def collect() -> list:
        widgets = await request.app.state.registry.collect(
            "dashboard_widgets", user.modules, request=request, center=user_center(request), user=user
        )
        return sorted((w for w in widgets if user.can(w.permission)), key=lambda w: (w.order, w.title))

    # The cards are ~14 small reads: reused while nobody commits (portal.memo). Their figures also
    # depend on the time ("overdue", "today"), hence the 10-second bucket in the key.
    bucket = int(clock.now().timestamp() // WIDGET_SECONDS)
    widgets = await request.app.state.memo.remember((*memo_key("dashboard", user), bucket), collect)
    return await render(request, "dashboard.html", {"title": _("Workbench"), "widgets": widgets})


@get("/elder")
async def elder_mode(request: Request, on: FromQuery[str] = "1", next: FromQuery[str | None] = None) -> Response:
    """长辈版 switch: a plain link (works without JavaScript) that sets a preference cookie."""
    response = Redirect(path=safe_next(next, "/"), status_code=303)
    if on == "1":
        response.set_cookie(ELDER_COOKIE, "1", max_age=365 * 24 * 3600, path="/", samesite="lax", httponly=True)
    else:
        response.delete_cookie(ELDER_COOKIE, path="/")
    return response


@get("/privacy")
async def privacy(request: Request) -> Response:
    return await render(request, "pages/privacy.html", {"title": _("Privacy policy")})


@get("/accessibility")
async def accessibility(request: Request) -> Response:
    return await render(request, "pages/accessibility.html", {"title": _("Accessibility statement")})


@get("/feedback")
async def feedback(request: Request) -> Response:
    back = safe_next(request.query_params.get("from"), "/")
    return await render(request, "pages/feedback.html", {"title": _("Feedback"), "back": back})


ROUTES = [healthz, home, centers_index, center_page, dashboard, elder_mode, privacy, accessibility, feedback]
