"""Route B of the benchmark: the real ``dashboard.html`` rendered from an in-memory context
(bench/run.py); route M: the real ``matters/queue.html`` the same way (bench/matters.py).

Why a ``startup`` hook and not ``register_routes``: core mounts every module's routes under
``/m/<name>`` behind ``module_guard``, which needs the signed-in principal, i.e. the session
look-up that B must not contain. So the plugin registers its one route on the app itself when the
app starts (Litestar's documented ``app.register``), outside the module guard and with
``opt={"skip_auth": True}`` so that ``SessionMiddleware`` skips it too.

What B still does per request, exactly like C: routing, the CSRF middleware, ``render_sync``'s
base context (flash cookie, request id, CSRF input), the Jinja render of ``dashboard.html`` +
``base.html`` + the widget templates, and the security headers. What B does *not* do: the session
query, the guard, the ``nav_items``/``dashboard_widgets`` hooks, any database access.

The context is built once: the bench user's principal is read from the database at start-up
(``BENCH_USER``, default ``gzq_admin``); nav items and widgets come from the real hooks, called
once on B's first request and then kept in memory.
"""

from __future__ import annotations

import datetime as dt
import os

from litestar import Litestar, Request, Response, get

from portal.plugin_api import hookimpl

BENCH_PATH = "/bench/dashboard"


async def _load_principal(app: Litestar):
    from portal.auth.principal import Principal
    from portal.centers.modules import enabled_modules
    from portal.tables import StaffRole, StaffUser

    username = os.environ.get("BENCH_USER", "gzq_admin")
    row = (
        await StaffUser.select(
            StaffUser.id,
            StaffUser.username,
            StaffUser.display_name,
            StaffUser.department,
            StaffUser.is_demo,
            StaffUser.center.id.as_alias("center_id"),
            StaffUser.center.code.as_alias("center_code"),
            StaffUser.center.name.as_alias("center_name"),
            StaffUser.center.level.as_alias("center_level"),
            StaffUser.center.path.as_alias("center_path"),
        )
        .where(StaffUser.username == username)
        .first()
    )
    if row is None:
        raise RuntimeError(f"bench_module: no staff user {username!r} (load the demo data first)")
    roles = frozenset(r["role"] for r in await StaffRole.select(StaffRole.role).where(StaffRole.user == row["id"]))
    return Principal(
        session_id=0,
        stage="full",
        user_id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        center_id=row["center_id"],
        center_code=row["center_code"],
        center_name=row["center_name"],
        center_level=row["center_level"],
        center_path=row["center_path"],
        department_id=row["department"],
        roles=roles,
        permissions=app.state.registry.permissions_for(roles),
        modules=await enabled_modules(row["center_id"]),
        is_demo=bool(row["is_demo"]),
        expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1),
    )


async def _build_context(request: Request) -> dict:
    """Nav and widgets from the real hooks, for the in-memory principal (called once)."""
    from portal.i18n import _
    from portal.plugin_api import CenterRef

    user = request.app.state.bench_principal
    registry = request.app.state.registry
    center = CenterRef(user.center_id, user.center_code, user.center_name, user.center_level, user.center_path)
    nav = await registry.collect("nav_items", user.modules, request=request, center=center, user=user)
    nav = sorted((item for item in nav if user.can(item.permission)), key=lambda item: (item.order, item.label))
    widgets = await registry.collect("dashboard_widgets", user.modules, request=request, center=center, user=user)
    widgets = sorted((w for w in widgets if user.can(w.permission)), key=lambda w: (w.order, w.title))
    return {
        "title": _("Workbench"),
        "widgets": widgets,
        "nav": nav,
        "user": user,
        "center_name": user.center_name,
        # Render exactly what /dashboard renders (its nav item is marked aria-current).
        "current_path": "/dashboard",
        "current_url": "/dashboard",
    }


@get(BENCH_PATH, opt={"skip_auth": True}, include_in_schema=False)
async def bench_dashboard(request: Request) -> Response:
    from portal.web.render import render_sync

    state = request.app.state
    context = state.get("bench_context")
    if context is None:
        context = state.bench_context = await _build_context(request)
    return render_sync(request, "dashboard.html", context)


# ----------------------------------------------------------------------------- route M (bench/matters.py)

BENCH_MATTERS_PATH = "/bench/matters"


async def _build_queue_context(request: Request) -> dict:
    """What ``GET /matters`` (page 1, no filter) renders for the bench user, read once.

    Same keys as ``portal.matters.routes.matter_queue`` (``queue.view_context``); the page of rows
    comes from the real ``queue.fetch`` on the first request and then stays in memory, so route M costs what the
    queue costs minus the session look-up, the guard, the two queries and the nav hook.
    """
    from portal.matters import queue
    from portal.centers.scope import centers_below
    from portal.matters.scope import is_department_officer
    from portal.plugin_api import CenterRef
    from portal.web.render import _is_current

    user = request.app.state.bench_principal
    registry = request.app.state.registry
    centers = [] if is_department_officer(user) else await centers_below(user.center_path)
    filters = queue.Filters()
    page = await queue.fetch(user, filters, {c["id"]: c["path"] for c in centers})
    center = CenterRef(user.center_id, user.center_code, user.center_name, user.center_level, user.center_path)
    nav = await registry.collect("nav_items", user.modules, request=request, center=center, user=user)
    nav = sorted((item for item in nav if user.can(item.permission)), key=lambda item: (item.order, item.label))
    return {
        **queue.view_context(filters, centers, page),
        "nav": nav, "user": user, "center_name": user.center_name,
        # Render exactly what /matters renders (its nav item is marked aria-current).
        "current_path": "/matters", "current_url": "/matters",
        "nav_current": lambda url: _is_current("/matters", url),
    }


@get(BENCH_MATTERS_PATH, opt={"skip_auth": True}, include_in_schema=False)
async def bench_matters(request: Request) -> Response:
    from portal.web.render import render_sync

    state = request.app.state
    context = state.get("bench_queue_context")
    if context is None:
        context = state.bench_queue_context = await _build_queue_context(request)
    return render_sync(request, "matters/queue.html", context, headers={"Vary": "HX-Request"})


@hookimpl
def startup(app: Litestar):
    async def run() -> None:
        app.state.bench_principal = await _load_principal(app)
        app.state.bench_context = None
        app.state.bench_queue_context = None
        app.register(bench_dashboard)
        app.register(bench_matters)

    return run()
