"""Hook implementations of the video petition module: thin, the work is in the other files."""

from __future__ import annotations

from portal.plugin_api import CitizenService, Job, NavItem, Panel, Permission, hookimpl

_STAFF = frozenset({"center_admin", "window_staff", "leader"})


@hookimpl
def piccolo_apps():
    return ["plugins.video_petition.piccolo_app"]


@hookimpl
def register_permissions():
    return [
        Permission("video_petition.view", "查看视频接访", _STAFF),
        Permission("video_petition.manage", "核验身份、审核视频接访申请", frozenset({"center_admin", "window_staff"})),
    ]


@hookimpl
def register_routes(settings):
    from plugins.video_petition.minutes import ROUTES as MINUTES_ROUTES
    from plugins.video_petition.recordings import ROUTES as RECORDING_ROUTES
    from plugins.video_petition.requests import ROUTES as REQUEST_ROUTES
    from plugins.video_petition.routes import ROUTES

    return [*ROUTES, *RECORDING_ROUTES, *MINUTES_ROUTES, *REQUEST_ROUTES]


@hookimpl
def register_services():
    from plugins.video_petition.schedule import SERVICES

    return list(SERVICES)


@hookimpl
def register_jobs():
    from plugins.video_petition.jobs import RETENTION, retention

    return [Job(name=RETENTION, interval_seconds=3600, run=retention, label="视频信访：删除超过保存期限的录像")]


@hookimpl
def nav_items(request, center, user):
    return [NavItem("视频接访", "/m/video_petition/", order=45, permission="video_petition.view")]


@hookimpl
def citizen_services(request, center):
    return [CitizenService("视频信访", f"/m/video_petition/c/{center.code}/request",
                           "不便来中心的，可申请与领导或部门视频接访。", order=30)]


@hookimpl
async def matter_panels(request, center, user, matter):
    from plugins.video_petition.requests import matter_sessions

    if not user.can("video_petition.view"):
        return []
    sessions = await matter_sessions(matter["id"])
    if not sessions:
        return []
    return [Panel("视频接访", "video_petition/panel.html", {"sessions": sessions}, order=35)]


@hookimpl
async def booking_event(event, booking, center, actor):
    from plugins.video_petition.schedule import on_booking

    await on_booking(event, booking)
