"""Hook implementations of the counseling module: thin. Each hook returns what the booking/
consent/screening/crisis side (routes.py, citizen_routes.py, booking.py, numbers.py) and the
sessions/notes side (session_routes.py, sessions.py, retention.py) provide, concatenated."""

from __future__ import annotations

from portal.plugin_api import Job, Permission, hookimpl

COUNSELOR = frozenset({"counselor"})


@hookimpl
def piccolo_apps():
    return ["plugins.counseling.piccolo_app"]


@hookimpl
def register_permissions():
    return [
        Permission("counseling.counsel", "心理咨询（本人的来访者、预约与咨询记录）", COUNSELOR),
        # Granted to counselors, but only those the center designates as supervisors may use it
        # (plugins.counseling.booking.is_supervisor); never a role of its own.
        Permission("counseling.supervise", "心理咨询督导（须被中心指定为督导）", COUNSELOR),
        Permission("counseling.manage", "设置心理咨询（咨询师、督导、危机联系人、保存期限）", frozenset({"center_admin"})),
        Permission("counseling.numbers", "查看心理咨询匿名统计", frozenset({"center_admin", "leader"})),
        Permission("counseling.book_for", "代来访者预约心理咨询", frozenset({"window_staff", "center_admin"})),
    ]


@hookimpl
def register_services():
    from plugins.counseling.booking import SERVICES

    return list(SERVICES)


@hookimpl
def register_routes(settings):
    from plugins.counseling.citizen_routes import ROUTES as CITIZEN_ROUTES
    from plugins.counseling.routes import ROUTES
    from plugins.counseling.session_routes import ROUTES as SESSION_ROUTES

    return [*ROUTES, *CITIZEN_ROUTES, *SESSION_ROUTES]


@hookimpl
def register_jobs():
    from plugins.counseling import retention

    return [Job(name=retention.RETENTION, interval_seconds=24 * 3600, run=retention.run,
                label="心理咨询：删除超过保存期限的咨询记录")]


@hookimpl
def register_commands(cli):
    from plugins.counseling.notes_crypto import register_commands as notes_commands

    notes_commands(cli)


@hookimpl
async def startup(app):
    from plugins.counseling.notes_crypto import startup_check

    await startup_check(app)


@hookimpl
async def nav_items(request, center, user):
    from plugins.counseling.routes import nav_items as booking_nav
    from plugins.counseling.session_routes import nav_items as session_nav

    return [*booking_nav(user), *await session_nav(user)]


@hookimpl
async def dashboard_widgets(request, center, user):
    from plugins.counseling.numbers import numbers_widgets, widgets

    return [*await widgets(user, center), *await numbers_widgets(user, center)]


@hookimpl
def citizen_services(request, center):
    from portal.plugin_api import CitizenService

    return [CitizenService("心理咨询预约", f"/m/counseling/c/{center.code}",
                           "与心理咨询师面谈，可用化名预约；谈话内容保密，不进入信访和矛盾纠纷档案。", order=30)]
