"""Roles and what they may do.

Roles separate the powers (三员分立): the system admin runs the configuration, the security admin
runs accounts and sessions, the audit viewer reads the audit trail, and nobody can change it.
Plugins add permissions through ``register_permissions``; the registry merges them at start-up.
"""

from __future__ import annotations

from portal.plugin_api import Permission

__all__ = ["ADMIN_ROLES", "CORE_PERMISSIONS", "ROLE_LABELS", "ROLES", "STAFF_ROLES"]

ROLE_LABELS: dict[str, str] = {
    "system_admin": "系统管理员",
    "security_admin": "安全管理员",
    "audit_viewer": "审计管理员",
    "center_admin": "中心管理员",
    "window_staff": "受理员",
    "department_officer": "部门工作人员",
    "leader": "领导",
    "lawyer": "值班律师",
    "counselor": "心理咨询师",
}
ROLES = tuple(ROLE_LABELS)
# Only a security admin may hand out these: separation of powers.
ADMIN_ROLES = frozenset({"system_admin", "security_admin", "audit_viewer"})
STAFF_ROLES = frozenset(ROLES)


def _perm(name: str, label: str, *roles: str) -> Permission:
    return Permission(name=name, label=label, roles=frozenset(roles))


CORE_PERMISSIONS: tuple[Permission, ...] = (
    _perm("dashboard.view", "查看工作台", *ROLES),
    _perm("centers.manage", "管理中心", "system_admin", "center_admin"),
    _perm("departments.manage", "管理部门", "system_admin", "center_admin"),
    _perm("staff.manage", "管理工作人员账号", "security_admin", "center_admin"),
    _perm("staff.grant_admin_roles", "授予三员角色", "security_admin"),
    _perm("sessions.manage", "管理会话与解锁账号", "security_admin"),
    _perm("modules.view", "查看服务模块开通情况", "system_admin", "center_admin"),
    _perm("modules.allow", "设定可开通的服务模块", "system_admin", "center_admin"),
    _perm("modules.enable", "开通或关闭本中心服务模块", "center_admin"),
    _perm("audit.view", "查看审计日志", "audit_viewer"),
    # The one-stop window (portal/matters).
    _perm("matters.view", "查看信访矛盾纠纷事项", "center_admin", "window_staff", "leader", "department_officer"),
    _perm("matters.register", "登记事项", "center_admin", "window_staff"),
    _perm("matters.triage", "受理、不予受理、转送、交办", "center_admin", "window_staff"),
    _perm("matters.handle", "办理、答复事项", "center_admin", "window_staff", "department_officer"),
    _perm("matters.approve", "审批延期", "leader"),
    _perm("matters.supervise", "督办", "leader", "center_admin"),
    _perm("notices.templates", "编辑告知书模板", "center_admin"),
    _perm("limits.manage", "设置办理时限", "center_admin"),
    _perm("calendar.manage", "维护工作日历", "system_admin"),
    _perm("numbers.view", "查看统计数据", "center_admin", "window_staff", "leader"),
    _perm("outbox.view", "查看短信发件箱（演示）", "system_admin", "center_admin", "window_staff"),
)
