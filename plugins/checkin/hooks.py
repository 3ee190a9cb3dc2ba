"""Hook implementations of the check-in module: thin, the work is in service, escalation and views."""

from __future__ import annotations

from portal.plugin_api import Job, MatterAction, NavItem, Panel, Permission, Widget, hookimpl

_VIEW = frozenset({"center_admin", "window_staff", "leader", "department_officer"})


@hookimpl
def piccolo_apps():
    return ["plugins.checkin.piccolo_app"]


@hookimpl
def register_permissions():
    return [
        Permission("checkin.view", "查看吹哨报到", _VIEW),
        Permission("checkin.blow", "吹哨（召集部门报到）", frozenset({"center_admin", "window_staff"})),
        Permission("checkin.approve", "审批吹哨", frozenset({"leader", "center_admin"})),
        Permission("checkin.respond", "部门报到、反馈处置结果", frozenset({"department_officer"})),
        Permission("checkin.close", "会商纪要、分派任务、办结与评哨", frozenset({"center_admin", "window_staff"})),
        Permission("checkin.manage", "设置吹哨报到规则", frozenset({"center_admin"})),
        # The assessment board (board_routes.py); department members see their own row only.
        Permission("checkin.board", "查看部门报到考核", frozenset({"center_admin", "leader", "department_officer"})),
    ]


@hookimpl
def register_routes(settings):
    from plugins.checkin.board_routes import ROUTES as BOARD_ROUTES
    from plugins.checkin.routes import ROUTES

    return [*ROUTES, *BOARD_ROUTES]


@hookimpl
def register_jobs():
    from plugins.checkin.escalation import ESCALATE, escalate

    return [Job(name=ESCALATE, interval_seconds=60, run=escalate, label="吹哨报到：超时未报到的升级提醒")]


@hookimpl
def register_matter_actions():
    return [MatterAction("checkin.blow", "吹哨（召集部门报到）", "/m/checkin/new?matter_id={matter_id}", permission="checkin.blow")]


@hookimpl
def nav_items(request, center, user):
    return [
        NavItem("吹哨报到", "/m/checkin/", order=40, permission="checkin.view"),
        NavItem("报到考核", "/m/checkin/board", order=41, permission="checkin.board"),
    ]


@hookimpl
async def dashboard_widgets(request, center, user):
    from plugins.checkin import views
    from plugins.checkin.service import is_department_member

    if not user.can("checkin.view"):
        return []
    if is_department_member(user):
        return [Widget("待报到", "checkin/widget_officer.html", await views.officer_widget(user), order=15)]
    widgets = []
    if user.has_role("center_admin", "window_staff"):
        widgets.append(Widget("吹哨报到", "checkin/widget_center.html", await views.center_widget(user), order=15))
    if user.has_role("leader", "center_admin"):
        widgets.append(Widget("吹哨审批", "checkin/widget_leader.html", await views.leader_widget(user), order=16))
    return widgets


@hookimpl
async def matter_panels(request, center, user, matter):
    from plugins.checkin import views

    if not user.can("checkin.view"):
        return []
    whistles = await views.matter_whistles(user, matter["id"])
    if not whistles:
        return []
    return [Panel("吹哨报到", "checkin/panel.html", {"whistles": whistles}, order=30)]


@hookimpl
async def center_module_enabled(center, module, actor):
    from plugins.checkin.service import ensure_policy

    await ensure_policy(center.id)
