"""Hook implementations of the legal-aid module: thin. Each hook returns what the roster/
applications side and the consultation-log side provide, concatenated."""

from __future__ import annotations

from portal.plugin_api import Permission, hookimpl


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
