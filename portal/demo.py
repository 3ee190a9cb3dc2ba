"""Demo data: 甘州区 and some of its townships and villages, the departments named in the article,
one account per role (and officers of the departments the check-in demo summons), and the bundled
modules switched on at every demo center. Loading twice changes nothing; production refuses to
run with it."""

from __future__ import annotations

from portal import clock
from portal.audit.chain import AuditTrail
from portal.auth.passwords import hash_password
from portal.db import is_foreign_key_violation, raw, write_transaction
from portal.tables import Center, CenterModule, Department, StaffRole, StaffUser

__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "demo_accounts_present", "load_demo", "remove_demo"]

DEMO_PASSWORD = "whistle-demo-2026"

# code, name, level, parent code, address, phone
CENTERS = [
    ("GZQ", "甘州区综治中心", "district", None, "甘肃省张掖市甘州区县府街 1 号", "0936-8212000"),
    ("GZQ-DMZ", "大满镇综治中心", "township", "GZQ", "甘州区大满镇政府院内", "0936-8561000"),
    ("GZQ-DZZ", "党寨镇综治中心", "township", "GZQ", "甘州区党寨镇政府院内", "0936-8571000"),
    ("GZQ-LJD", "梁家墩镇综治中心", "township", "GZQ", "甘州区梁家墩镇政府院内", "0936-8581000"),
    ("GZQ-DJ", "东街街道综治中心", "township", "GZQ", "甘州区东街街道办事处", "0936-8591000"),
    ("GZQ-DMZ-XXC", "新新村综治中心", "village", "GZQ-DMZ", "大满镇新新村村委会", "0936-8561101"),
    ("GZQ-DMZ-DMC", "大满村综治中心", "village", "GZQ-DMZ", "大满镇大满村村委会", "0936-8561102"),
    ("GZQ-DZZ-DZC", "党寨村综治中心", "village", "GZQ-DZZ", "党寨镇党寨村村委会", "0936-8571101"),
    ("GZQ-DZZ-XZC", "小寨村综治中心", "village", "GZQ-DZZ", "党寨镇小寨村村委会", "0936-8571102"),
    ("GZQ-DJ-NJ", "南街社区综治中心", "village", "GZQ-DJ", "东街街道南街社区", "0936-8591101"),
]
HOURS = "工作日 8:30-12:00，14:30-18:00"

# code, name, center code, at district, township, village
DEPARTMENTS = [
    ("RSJ", "区人社局", "GZQ", True, True, False),
    ("WJJ", "区卫健局", "GZQ", True, True, True),
    ("ZRZYJ", "区自然资源局", "GZQ", True, True, False),
    ("SCJGJ", "区市场监管局", "GZQ", True, True, False),
    ("MZJ", "区民政局", "GZQ", True, True, True),
    ("ZJJ", "区住建局", "GZQ", True, False, False),
    ("GAFJ", "公安甘州分局", "GZQ", True, True, False),
    ("FY", "区人民法院", "GZQ", True, True, False),
    ("SFJ", "区司法局", "GZQ", True, True, True),
    ("XFJ", "区信访局", "GZQ", True, False, False),
    ("DMZ-SFS", "大满镇司法所", "GZQ-DMZ", False, True, True),
    ("DZZ-SFS", "党寨镇司法所", "GZQ-DZZ", False, True, True),
]

# username, name, center code, roles, department code
DEMO_USERS = [
    ("sysadmin", "系统管理员（演示）", "GZQ", ["system_admin"], None),
    ("secadmin", "安全管理员（演示）", "GZQ", ["security_admin"], None),
    ("auditor", "审计管理员（演示）", "GZQ", ["audit_viewer"], None),
    ("gzq_admin", "区中心管理员（演示）", "GZQ", ["center_admin"], None),
    ("gzq_window", "区中心受理员（演示）", "GZQ", ["window_staff"], None),
    ("dmz_admin", "大满镇中心管理员（演示）", "GZQ-DMZ", ["center_admin"], None),
    ("dmz_window", "大满镇受理员（演示）", "GZQ-DMZ", ["window_staff"], None),
    ("dzz_admin", "党寨镇中心管理员（演示）", "GZQ-DZZ", ["center_admin"], None),
    ("dzz_window", "党寨镇受理员（演示）", "GZQ-DZZ", ["window_staff"], None),
    ("xxc_window", "新新村受理员（演示）", "GZQ-DMZ-XXC", ["window_staff", "center_admin"], None),
    ("rsj_officer", "区人社局工作人员（演示）", "GZQ", ["department_officer"], "RSJ"),
    ("zjj_officer", "区住建局工作人员（演示）", "GZQ", ["department_officer"], "ZJJ"),
    ("gafj_officer", "公安甘州分局工作人员（演示）", "GZQ", ["department_officer"], "GAFJ"),
    ("scjgj_officer", "区市场监管局工作人员（演示）", "GZQ", ["department_officer"], "SCJGJ"),
    ("leader", "区领导（演示）", "GZQ", ["leader"], None),
    ("lawyer", "值班律师（演示）", "GZQ", ["lawyer"], None),
    ("lawyer2", "大满镇值班律师（演示）", "GZQ-DMZ", ["lawyer"], None),
    ("counselor", "心理咨询师（演示）", "GZQ", ["counselor"], None),
    ("counselor2", "心理咨询师二（演示）", "GZQ", ["counselor"], None),
    ("counselor_sup", "督导咨询师（演示）", "GZQ", ["counselor"], None),
    ("crisis_duty", "危机干预联系人（演示）", "GZQ", ["window_staff"], None),
]

# Demo mobile numbers (the SMS stay in the outbox in demo mode): the officers whom the check-in
# module summons, and their departments' own phones (alerted when a department has no leader).
DEMO_PHONES = {"zjj_officer": "13909361001", "gafj_officer": "13909361002", "scjgj_officer": "13909361003",
               "crisis_duty": "13909361201"}
DEMO_DEPARTMENT_PHONES = {"ZJJ": "13909362001", "GAFJ": "13909362002", "SCJGJ": "13909362003"}
# Modules the demo switches on (allowed and enabled) at every demo center.
DEMO_MODULES = ("checkin", "legal_aid")


async def demo_accounts_present() -> bool:
    return await StaffUser.exists().where(StaffUser.is_demo == True)  # noqa: E712


async def load_demo(trail: AuditTrail) -> dict[str, int]:
    """Create whatever of the demo data is missing. Returns counts of what was created."""
    created = {"centers": 0, "departments": 0, "users": 0}
    password_hash = hash_password(DEMO_PASSWORD)
    async with write_transaction():
        ids: dict[str, dict] = {row["code"]: row for row in await Center.select(Center.id, Center.code, Center.path)}
        for code, name, level, parent, address, phone in CENTERS:
            if code in ids:
                continue
            parent_row = ids[parent] if parent else None
            rows = await Center.insert(
                Center(code=code, name=name, level=level, parent=parent_row["id"] if parent_row else None,
                       address=address, phone=phone, hours=HOURS, active=True)
            ).returning(Center.id)
            center_id = rows[0]["id"]
            path = f"{parent_row['path'] if parent_row else '/'}{center_id}/"
            await Center.update({Center.path: path}).where(Center.id == center_id)
            ids[code] = {"id": center_id, "code": code, "path": path}
            created["centers"] += 1
            await trail("center.created", object_type="center", object_id=center_id, center_id=center_id)
        departments = {row["code"]: row["id"] for row in await Department.select(Department.id, Department.code)}
        for code, name, center, at_d, at_t, at_v in DEPARTMENTS:
            if code in departments:
                continue
            rows = await Department.insert(
                Department(code=code, name=name, center=ids[center]["id"], at_district=at_d, at_township=at_t, at_village=at_v,
                           phone=DEMO_DEPARTMENT_PHONES.get(code, ""))
            ).returning(Department.id)
            departments[code] = rows[0]["id"]
            created["departments"] += 1
            await trail("department.created", object_type="department", object_id=rows[0]["id"], center_id=ids[center]["id"])
        existing = {row["username"] for row in await StaffUser.select(StaffUser.username)}
        for username, name, center, roles, department in DEMO_USERS:
            if username in existing:
                continue
            rows = await StaffUser.insert(
                StaffUser(
                    username=username,
                    display_name=name,
                    password_hash=password_hash,
                    center=ids[center]["id"],
                    department=departments[department] if department else None,
                    phone=DEMO_PHONES.get(username, ""),
                    is_demo=True,
                )
            ).returning(StaffUser.id)
            await StaffRole.insert(*[StaffRole(user=rows[0]["id"], role=role) for role in roles])
            created["users"] += 1
            await trail("staff.created", object_type="staff_user", object_id=rows[0]["id"], center_id=ids[center]["id"], fields=("roles",))
        await _switch_on_modules(trail, [ids[code]["id"] for code, *_rest in CENTERS])
        await _module_demos(trail)
    return created


async def _switch_on_modules(trail: AuditTrail, center_ids: list[int]) -> None:
    """Allow and enable ``DEMO_MODULES`` where the demo has not decided yet (as the admins would;
    a module's defaults are created when first used)."""
    existing = {(row["center"], row["module"]) for row in await CenterModule.select(CenterModule.center, CenterModule.module)}
    for center_id in center_ids:
        for module in DEMO_MODULES:
            if (center_id, module) in existing:
                continue
            await CenterModule.insert(CenterModule(center=center_id, module=module, allowed=True, enabled=True, updated_at=clock.now()))
            for action in ("module.allowed", "module.enabled"):
                await trail(action, object_type="module", object_id=module, center_id=center_id, fields=(action.split(".")[1],))


async def _module_demos(trail: AuditTrail) -> None:
    """A bundled module may ship demo rows of its own tables as ``<package>.demo.load_demo(trail)``
    (idempotent, like this loader): core names no module, it only looks for that function."""
    import importlib

    from portal.modules import BUNDLED_PLUGINS

    for package in BUNDLED_PLUGINS:
        try:
            module = importlib.import_module(f"{package}.demo")
        except ModuleNotFoundError as missing:
            if missing.name != f"{package}.demo":
                raise
            continue
        await module.load_demo(trail)


async def remove_demo(trail: AuditTrail) -> tuple[int, int]:
    """Take the demo accounts out of service: (deleted, deactivated).

    Centers and departments stay: they may hold real records. An account that authored records
    (a matter it registered, a whistle it blew, a roster it kept…) cannot be deleted without
    deleting those records, so it is deactivated instead: no password, no sessions, no roles, no
    longer a demo account, its name kept so the records still say who did what. Each account is
    tried in its own savepoint, so one with records does not undo the deletion of the others.
    """
    deleted = deactivated = 0
    async with write_transaction():
        rows = await raw("SELECT id, center FROM staff_user WHERE is_demo = {}", True)
        for row in rows:
            await raw("SAVEPOINT demo_account")
            try:
                await raw("DELETE FROM staff_user WHERE id = {}", row["id"])
            except Exception as exc:  # noqa: BLE001 - only a reference from a record may stop it
                if not is_foreign_key_violation(exc):
                    raise
                await raw("ROLLBACK TO SAVEPOINT demo_account")
                await raw("RELEASE SAVEPOINT demo_account")
                await raw("DELETE FROM auth_session WHERE \"user\" = {}", row["id"])
                await raw("DELETE FROM staff_role WHERE \"user\" = {}", row["id"])
                await raw(
                    "UPDATE staff_user SET is_demo = {}, active = {}, password_hash = {}, totp_secret = {}, "
                    "totp_confirmed = {} WHERE id = {}",
                    False, False, "!", "", False, row["id"],
                )
                await trail("staff.deactivated", object_type="staff_user", object_id=row["id"], center_id=row["center"],
                            fields=("active", "password_hash", "roles"))
                deactivated += 1
                continue
            await raw("RELEASE SAVEPOINT demo_account")
            await trail("staff.deleted", object_type="staff_user", object_id=row["id"], center_id=row["center"])
            deleted += 1
    return deleted, deactivated
