"""Core features written as an always-on plugin, against the same hooks the modules use."""

from __future__ import annotations

from functools import lru_cache

from portal.auth.roles import CORE_PERMISSIONS, ROLE_LABELS
from portal.hookspecs import hookimpl
from portal.i18n import _
from portal.plugin_api import CitizenService, NavItem, Widget


@hookimpl
def register_permissions():
    from portal.jobs.routes import PERMISSIONS as JOB_PERMISSIONS
    from portal.notify.routes import PERMISSIONS as DELIVERY_PERMISSIONS

    return [*CORE_PERMISSIONS, *DELIVERY_PERMISSIONS, *JOB_PERMISSIONS]


@hookimpl
def register_jobs():
    from portal.matters.jobs import JOBS as MATTER_JOBS
    from portal.notify.outbox import JOBS as DELIVERY_JOBS

    return [*DELIVERY_JOBS, *MATTER_JOBS]


@hookimpl
def piccolo_apps():
    return []


@hookimpl
def prepare_jinja2_environment(env, settings):
    from portal import clock

    def local_dt(value, fmt="%Y-%m-%d %H:%M"):
        value = clock.local(value)
        return value.strftime(fmt) if value else "—"

    def role_labels(roles):
        return "、".join(ROLE_LABELS.get(role, role) for role in sorted(roles, key=list(ROLE_LABELS).index)) or "—"

    env.filters["local_dt"] = local_dt
    env.filters["role_labels"] = role_labels

    from portal.matters.clock import CLOCK_STATE_LABELS, RULES
    from portal.matters.codes import format_code
    from portal.matters.vocab import EVENT_LABELS

    env.filters["tracking_code"] = format_code
    env.filters["clock_label"] = lambda state: "期限暂停" if state == "paused" else CLOCK_STATE_LABELS.get(state, "")
    env.filters["rule_label"] = lambda rule: RULES[rule].label if rule in RULES else ""
    env.filters["event_label"] = lambda kind: EVENT_LABELS.get(kind, kind)


@lru_cache(maxsize=4)
def _core_nav(production: bool) -> tuple[NavItem, ...]:
    """Core's nav items that do not depend on the member (the catalog is fixed at start-up).

    Built once: the nav is on every staff page, and 15 translated, frozen items per request
    were a measurable share of a signed-in page (bench/RESULTS.md).
    """
    items = [
        NavItem(_("Workbench"), "/dashboard", order=0),
        NavItem(_("Matters"), "/matters", order=10, permission="matters.view"),
        NavItem(_("Register a matter"), "/matters/new", order=20, permission="matters.register"),
        NavItem(_("Numbers"), "/numbers", order=30, permission="numbers.view"),
        NavItem(_("Centers"), "/admin/centers", order=900, permission="centers.manage"),
        NavItem(_("Departments"), "/admin/departments", order=910, permission="departments.manage"),
        NavItem(_("Staff"), "/admin/staff", order=920, permission="staff.manage"),
        NavItem(_("Service modules"), "/admin/modules", order=930, permission="modules.view"),
        NavItem(_("Time limits"), "/admin/limits", order=940, permission="limits.manage"),
        NavItem(_("Notice templates"), "/admin/notice-templates", order=945, permission="notices.templates"),
        NavItem(_("Working calendar"), "/admin/calendar", order=950, permission="calendar.manage"),
        NavItem(_("Audit log"), "/audit", order=990, permission="audit.view"),
        NavItem(_("Scheduled jobs"), "/admin/jobs", order=985, permission="jobs.view"),
    ]
    if production:
        items.append(NavItem(_("Message delivery"), "/admin/outbox", order=980, permission="outbox.delivery"))
    return tuple(items)


@lru_cache(maxsize=2)
def _outbox_nav() -> NavItem:
    # The development SMS sender keeps every message here (demo testers read their codes).
    return NavItem(_("SMS outbox"), "/admin/outbox", order=980)


@hookimpl
def nav_items(request, center, user):
    unread = user.unread_messages  # counted with the session (portal.auth.sessions)
    production = request.app.state.settings.production
    items = [
        NavItem(_("Messages (%(count)s unread)", count=unread) if unread else _("Messages"), "/messages", order=5),
        *_core_nav(production),
    ]
    if not production and (user.can("outbox.view") or user.can("outbox.delivery")):
        items.append(_outbox_nav())
    return items


# Labels are msgids already extracted from _core_nav above.
_ADMIN_LINKS = (
    ("Centers", "/admin/centers", "centers.manage"),
    ("Departments", "/admin/departments", "departments.manage"),
    ("Staff", "/admin/staff", "staff.manage"),
    ("Service modules", "/admin/modules", "modules.view"),
    ("Time limits", "/admin/limits", "limits.manage"),
    ("Notice templates", "/admin/notice-templates", "notices.templates"),
    ("Working calendar", "/admin/calendar", "calendar.manage"),
    ("Audit log", "/audit", "audit.view"),
)


@lru_cache(maxsize=64)
def _link_widgets(permissions: frozenset[str]) -> tuple[Widget, ...]:
    """The workbench's link cards for one set of permissions (few distinct sets: one per role mix)."""
    widgets = []
    if "matters.view" in permissions:
        # Links only (no counts): the workbench must stay cheap; the queue shows the numbers.
        window_links = [
            (_("Overdue matters"), "/matters?clock=overdue"),
            (_("Due within 3 days"), "/matters?clock=due_soon"),
            (_("Waiting for acceptance"), "/matters?status=registered"),
        ]
        if "matters.register" in permissions:
            window_links.append((_("Register a matter"), "/matters/new"))
        widgets.append(Widget(_("One-stop window"), "widgets/admin_links.html", {"links": window_links}, order=5))
    links = [(_(label), url) for label, url, perm in _ADMIN_LINKS if perm in permissions]
    if links:
        widgets.append(Widget(_("Administration"), "widgets/admin_links.html", {"links": links}, order=90))
    return tuple(widgets)


@hookimpl
def dashboard_widgets(request, center, user):
    registry = request.app.state.registry
    modules = [registry.modules[name].info for name in sorted(user.modules) if name in registry.modules]
    return [
        Widget(_("My center"), "widgets/my_center.html", {"center": center, "roles": user.roles}, order=0),
        Widget(_("Service modules"), "widgets/modules.html", {"modules": modules}, order=10),
        *_link_widgets(user.permissions),
    ]


@hookimpl
def citizen_services(request, center):
    # The one-stop window is core: every center offers it.
    return [
        CitizenService(_("Raise a matter online"), f"/submit?center={center.id}",
                       _("Disputes and petitions: answer a few questions and get a tracking code."), order=0),
        CitizenService(_("Follow a matter"), "/track", _("With the tracking code and the last 4 digits of your phone."), order=1),
    ]
