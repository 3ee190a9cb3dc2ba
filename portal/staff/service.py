"""Staff accounts: create, change, reset, unlock — each change audited, names of fields only."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from portal import clock
from portal.audit.chain import AuditTrail
from portal.auth import sessions, throttle
from portal.auth.passwords import hash_password
from portal.auth.roles import ADMIN_ROLES, ROLES
from portal.db import write_transaction
from portal.i18n import _
from portal.tables import StaffRole, StaffUser
from portal.web.forms import Form, normalize_phone

__all__ = [
    "StaffInput",
    "create_staff",
    "grantable_roles",
    "new_temporary_password",
    "reset_password",
    "reset_totp",
    "unlock",
    "update_staff",
]

_USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{2,31}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# No 0/O, 1/I/L: read aloud or copied from a screen without mistakes.
_TEMP_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789"


def new_temporary_password() -> str:
    raw = "".join(secrets.choice(_TEMP_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def grantable_roles(editor_permissions: frozenset[str]) -> tuple[str, ...]:
    if "staff.grant_admin_roles" in editor_permissions:
        return ROLES
    return tuple(role for role in ROLES if role not in ADMIN_ROLES)


@dataclass
class StaffInput:
    username: str = ""
    display_name: str = ""
    phone: str = ""
    email: str = ""
    center: int | None = None
    department: int | None = None
    roles: list[str] = field(default_factory=list)
    active: bool = True

    @classmethod
    def from_form(cls, form: Form) -> StaffInput:
        return cls(
            username=form.str("username", 64, ascii_fold=True).lower(),
            display_name=form.str("display_name", 64),
            phone=form.str("phone", 40),
            email=form.str("email", 120, ascii_fold=True),
            center=form.int("center"),
            department=form.int("department"),
            roles=[role for role in form.list("roles") if role in ROLES],
            active=form.flag("active"),
        )

    async def validate(
        self, centers: set[int], departments: set[int], grantable: tuple[str, ...], new: bool, own_id: int | None = None
    ) -> dict[str, str]:
        errors: dict[str, str] = {}
        if new:
            if not self.username:
                errors["username"] = _("Enter a username.")
            elif not _USERNAME.match(self.username):
                errors["username"] = _("The username must start with a letter and use only lower-case letters, digits, '.', '-' or '_' (3 to 32 characters).")
            elif await StaffUser.exists().where(StaffUser.username == self.username):
                errors["username"] = _("This username is already taken. Choose another one.")
        if not self.display_name:
            errors["display_name"] = _("Enter the person's name.")
        if self.phone and normalize_phone(self.phone) is None:
            errors["phone"] = _("Enter an 11-digit mobile number, for example 138 0000 0000.")
        if self.email and not _EMAIL.match(self.email):
            errors["email"] = _("Enter an email address such as name@example.cn, or leave it empty.")
        if self.center not in centers:
            errors["center"] = _("Choose the center where the person works.")
        if self.department is not None and self.department not in departments:
            errors["department"] = _("Choose a department from the list.")
        if not self.roles:
            errors["roles"] = _("Choose at least one role.")
        elif any(role not in grantable for role in self.roles):
            errors["roles"] = _("You may not grant the system, security or audit administrator roles.")
        elif "department_officer" in self.roles and self.department is None:
            errors["department"] = _("A department officer must belong to a department. Choose one.")
        return errors


async def _set_roles(user_id: int, roles: list[str]) -> None:
    await StaffRole.delete().where(StaffRole.user == user_id)
    if roles:
        await StaffRole.insert(*[StaffRole(user=user_id, role=role) for role in sorted(set(roles))])


async def create_staff(trail: AuditTrail, data: StaffInput) -> tuple[int, str]:
    """Returns the new id and the one-time temporary password."""
    password = new_temporary_password()
    async with write_transaction():
        rows = await StaffUser.insert(
            StaffUser(
                username=data.username,
                display_name=data.display_name,
                phone=normalize_phone(data.phone) or "",
                email=data.email,
                center=data.center,
                department=data.department,
                password_hash=hash_password(password),
                must_change_password=True,
                active=True,
            )
        ).returning(StaffUser.id)
        user_id = rows[0]["id"]
        await _set_roles(user_id, data.roles)
        await trail(
            "staff.created", object_type="staff_user", object_id=user_id, center_id=data.center,
            fields=("username", "display_name", "phone", "email", "center", "department", "roles"),
        )
    return user_id, password


async def update_staff(trail: AuditTrail, current: dict, current_roles: set[str], data: StaffInput) -> list[str]:
    values = {
        "display_name": data.display_name,
        "phone": normalize_phone(data.phone) or "",
        "email": data.email,
        "center": data.center,
        "department": data.department,
        "active": data.active,
    }
    changed = [name for name, value in values.items() if current.get(name) != value]
    roles_changed = set(data.roles) != current_roles
    if not changed and not roles_changed:
        return []
    async with write_transaction():
        if changed:
            await StaffUser.update({getattr(StaffUser, n): values[n] for n in changed}).where(StaffUser.id == current["id"])
        if roles_changed:
            await _set_roles(current["id"], data.roles)
        if {"center", "active"} & set(changed) or roles_changed:
            # Moved, disabled or re-roled: every open session ends now (SEC-SESS-04, SEC-AZ-06).
            await sessions.revoke_user(current["id"])
        fields = changed + (["roles"] if roles_changed else [])
        await trail("staff.updated", object_type="staff_user", object_id=current["id"], center_id=data.center, fields=fields)
    return changed


async def reset_password(trail: AuditTrail, user: dict) -> str:
    password = new_temporary_password()
    async with write_transaction():
        await StaffUser.update(
            {StaffUser.password_hash: hash_password(password), StaffUser.must_change_password: True, StaffUser.password_changed_at: clock.now()}
        ).where(StaffUser.id == user["id"])
        await sessions.revoke_user(user["id"])
        await trail("staff.password_reset", object_type="staff_user", object_id=user["id"], center_id=user["center"], fields=("password_hash",))
    return password


async def reset_totp(trail: AuditTrail, user: dict) -> None:
    async with write_transaction():
        await StaffUser.update({StaffUser.totp_secret: "", StaffUser.totp_confirmed: False, StaffUser.totp_last_step: 0}).where(
            StaffUser.id == user["id"]
        )
        await sessions.revoke_user(user["id"])
        await trail("staff.totp_reset", object_type="staff_user", object_id=user["id"], center_id=user["center"], fields=("totp_secret",))


async def unlock(trail: AuditTrail, user: dict) -> None:
    async with write_transaction():
        await throttle.clear(f"login-user:{user['username'].lower()}")
        await throttle.clear(f"totp-fail:{user['id']}")
        await trail("staff.unlocked", object_type="staff_user", object_id=user["id"], center_id=user["center"])


async def revoke_sessions(trail: AuditTrail, user: dict) -> None:
    async with write_transaction():
        await sessions.revoke_user(user["id"])
        await trail("staff.sessions_revoked", object_type="staff_user", object_id=user["id"], center_id=user["center"])
