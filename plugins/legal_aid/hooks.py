"""Hook implementations of the legal-aid module: thin. Each hook returns what the roster/
applications side and the consultation-log side provide, concatenated."""

from __future__ import annotations

from portal.plugin_api import CitizenService, NavItem, Permission, hookimpl


@hookimpl
def piccolo_apps():
    return ["plugins.legal_aid.piccolo_app"]


@hookimpl
def register_permissions():
    return [
        Permission("legal_aid.log", "值班律师咨询台账", frozenset({"lawyer"})),
        Permission("legal_aid.roster", "管理值班律师与排班", frozenset({"center_admin"})),
        Permission("legal_aid.applications", "受理、审查法律援助申请并指派", frozenset({"center_admin", "window_staff"})),
        Permission("legal_aid.summary", "查看法律援助统计（不含个人信息）", frozenset({"center_admin", "leader"})),
        Permission("legal_aid.audit_logs", "查阅律师咨询台账（只读）", frozenset({"audit_viewer"})),
    ]


@hookimpl
def register_routes(settings):
    from plugins.legal_aid.citizen_routes import ROUTES as CITIZEN_ROUTES
    from plugins.legal_aid.export import ROUTES as EXPORT_ROUTES
    from plugins.legal_aid.log_routes import ROUTES as LOG_ROUTES
    from plugins.legal_aid.routes import ROUTES as ROSTER_ROUTES
    from plugins.legal_aid.snippets import ROUTES as SNIPPET_ROUTES

    return [*ROSTER_ROUTES, *CITIZEN_ROUTES, *LOG_ROUTES, *SNIPPET_ROUTES, *EXPORT_ROUTES]


@hookimpl
def register_services():
    from plugins.legal_aid.roster import SERVICE

    return [SERVICE]


@hookimpl
def register_jobs():
    from plugins.legal_aid.jobs import JOBS

    return JOBS


@hookimpl
def prepare_jinja2_environment(env, settings):
    from portal.idnumbers import mask_id_number
    from portal.notify.senders import mask_phone

    env.filters["la_mask_phone"] = lambda value: mask_phone(value) if value else ""
    env.filters["la_mask_id"] = lambda value: mask_id_number(value) if value else ""


@hookimpl
def nav_items(request, center, user):
    from plugins.legal_aid.log_routes import log_nav

    return [
        NavItem("法律援助申请", "/m/legal_aid/applications", order=45, permission="legal_aid.applications"),
        NavItem("值班律师排班", "/m/legal_aid/roster", order=46, permission="legal_aid.roster"),
        NavItem("法律援助统计", "/m/legal_aid/numbers", order=47, permission="legal_aid.summary"),
        *log_nav(user),
    ]


@hookimpl
async def dashboard_widgets(request, center, user):
    from plugins.legal_aid.log_routes import log_widgets
    from plugins.legal_aid.numbers import roster_widgets

    return [*await roster_widgets(user), *await log_widgets(user)]


@hookimpl
def citizen_services(request, center):
    from plugins.legal_aid.roster import SERVICE_KEY

    return [
        CitizenService("法律援助与免费法律咨询", f"/m/legal_aid/c/{center.code}",
                       "值班律师免费解答法律问题；了解申请法律援助的条件和程序。", order=20),
        CitizenService("预约法律咨询", f"/book/{center.id}/{SERVICE_KEY}", "选择日期和时间，到中心与值班律师面谈。", order=21),
        CitizenService("申请法律援助", f"/m/legal_aid/c/{center.code}/apply",
                       "经济困难或属于法定情形的，可以申请免费的律师代理。", order=22),
    ]
