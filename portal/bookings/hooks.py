"""The appointments engine as an always-on core plugin: routes, permissions, jobs, entry points."""

from __future__ import annotations

from portal.hookspecs import hookimpl
from portal.i18n import _
from portal.plugin_api import CitizenService, NavItem, Permission

STAFF_VIEW_ROLES = frozenset({"center_admin", "window_staff", "leader", "lawyer", "counselor"})


@hookimpl
def register_permissions():
    return [
        Permission("bookings.view", "查看预约", STAFF_VIEW_ROLES),
        Permission("bookings.handle", "登记现场预约、签到、取消预约", frozenset({"center_admin", "window_staff"})),
        Permission("bookings.manage", "管理预约资源与开放时间", frozenset({"center_admin"})),
    ]


@hookimpl
def register_routes(settings):
    from portal.bookings.admin_routes import ROUTES as ADMIN
    from portal.bookings.routes import ROUTES as CITIZEN
    from portal.bookings.staff_routes import ROUTES as STAFF

    return [*CITIZEN, *STAFF, *ADMIN]


@hookimpl
def register_jobs():
    from portal.bookings.jobs import JOBS

    return JOBS


@hookimpl
def nav_items(request, center, user):
    return [
        NavItem(_("Bookings"), "/bookings", order=40, permission="bookings.view"),
        NavItem(_("Booking resources"), "/admin/booking-resources", order=935, permission="bookings.manage"),
    ]


@hookimpl
async def citizen_services(request, center):
    from portal.bookings.catalog import offered_at

    if not await offered_at(request.app.state.registry, center.id):
        return []
    return [CitizenService(_("Book an appointment"), f"/book/{center.id}",
                           _("Choose a service, a day and a time; show the code on arrival."), order=5)]
