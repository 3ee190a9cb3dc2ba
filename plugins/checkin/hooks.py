"""Hook implementations of the check-in module: thin, the work is in the other modules."""

from __future__ import annotations

from portal.plugin_api import Permission, hookimpl

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
    ]
