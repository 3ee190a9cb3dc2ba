"""Core features written as an always-on plugin, against the same hooks the modules use."""

from __future__ import annotations

from portal.auth.roles import CORE_PERMISSIONS, ROLE_LABELS
from portal.hookspecs import hookimpl
from portal.i18n import _
from portal.plugin_api import NavItem, Widget


@hookimpl
def register_permissions():
    return list(CORE_PERMISSIONS)


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


@hookimpl
def nav_items(request, center, user):
    return [
        NavItem(_("Workbench"), "/dashboard", order=0),
        NavItem(_("Centers"), "/admin/centers", order=900, permission="centers.manage"),
        NavItem(_("Departments"), "/admin/departments", order=910, permission="departments.manage"),
        NavItem(_("Staff"), "/admin/staff", order=920, permission="staff.manage"),
        NavItem(_("Service modules"), "/admin/modules", order=930, permission="modules.view"),
        NavItem(_("Audit log"), "/audit", order=990, permission="audit.view"),
    ]


@hookimpl
def dashboard_widgets(request, center, user):
    registry = request.app.state.registry
    modules = [registry.modules[name].info for name in sorted(user.modules) if name in registry.modules]
    widgets = [
        Widget(
            _("My center"),
            "widgets/my_center.html",
            {"center": center, "roles": user.roles},
            order=0,
        ),
        Widget(_("Service modules"), "widgets/modules.html", {"modules": modules}, order=10),
    ]
    admin_links = [
        (_("Centers"), "/admin/centers", "centers.manage"),
        (_("Departments"), "/admin/departments", "departments.manage"),
        (_("Staff"), "/admin/staff", "staff.manage"),
        (_("Service modules"), "/admin/modules", "modules.view"),
        (_("Audit log"), "/audit", "audit.view"),
    ]
    links = [(label, url) for label, url, perm in admin_links if user.can(perm)]
    if links:
        widgets.append(Widget(_("Administration"), "widgets/admin_links.html", {"links": links}, order=90))
    return widgets
