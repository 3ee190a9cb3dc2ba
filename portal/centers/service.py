"""Creating and changing centers and departments (validation, transaction, audit)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.audit.chain import AuditTrail
from portal.centers.scope import CHILD_LEVEL
from portal.db import write_transaction
from portal.i18n import _
from portal.tables import Center, Department
from portal.web.forms import Form, normalize_phone

__all__ = ["CenterInput", "DepartmentInput", "create_center", "create_department", "update_center", "update_department"]

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$")


@dataclass
class CenterInput:
    name: str
    code: str
    address: str
    phone: str
    hours: str
    active: bool

    @classmethod
    def from_form(cls, form: Form) -> CenterInput:
        return cls(
            name=form.str("name", 100),
            code=form.str("code", 32, ascii_fold=True).upper(),
            address=form.str("address", 200),
            phone=form.str("phone", 40),
            hours=form.str("hours", 100),
            active=form.flag("active"),
        )

    async def validate(self, own_id: int | None = None) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not self.name:
            errors["name"] = _("Enter the center's name.")
        if not self.code:
            errors["code"] = _("Enter a code for the center, for example GZQ-DMZ.")
        elif not _CODE.match(self.code):
            errors["code"] = _("The code may use only letters, digits, '-' and '_', 2 to 32 characters.")
        else:
            clash = await Center.select(Center.id).where(Center.code == self.code).first()
            if clash and clash["id"] != own_id:
                errors["code"] = _("Another center already uses this code. Choose a different one.")
        if self.phone and normalize_phone(self.phone, allow_landline=True) is None:
            errors["phone"] = _("Enter a phone number such as 0936-8212345 or an 11-digit mobile number.")
        return errors


async def create_center(trail: AuditTrail, parent: dict, data: CenterInput) -> int:
    """Create a child of ``parent`` (its level follows the parent's). Caller checked scope."""
    async with write_transaction():
        rows = await Center.insert(
            Center(
                code=data.code,
                name=data.name,
                level=CHILD_LEVEL[parent["level"]],
                parent=parent["id"],
                address=data.address,
                phone=normalize_phone(data.phone, allow_landline=True) or "",
                hours=data.hours,
                active=True,
            )
        ).returning(Center.id)
        center_id = rows[0]["id"]
        await Center.update({Center.path: f"{parent['path']}{center_id}/"}).where(Center.id == center_id)
        await trail("center.created", object_type="center", object_id=center_id, center_id=center_id)
        return center_id


async def update_center(trail: AuditTrail, center: dict, data: CenterInput) -> None:
    values = {
        "name": data.name,
        "code": data.code,
        "address": data.address,
        "phone": normalize_phone(data.phone, allow_landline=True) or "",
        "hours": data.hours,
        "active": data.active,
    }
    changed = [name for name, value in values.items() if center.get(name) != value]
    if not changed:
        return
    async with write_transaction():
        await Center.update({getattr(Center, name): values[name] for name in changed}).where(Center.id == center["id"])
        await trail("center.updated", object_type="center", object_id=center["id"], center_id=center["id"], fields=changed)


LEVEL_FIELDS = ("at_district", "at_township", "at_village")


@dataclass
class DepartmentInput:
    name: str
    code: str
    center: int | None
    levels: list[str]
    phone: str
    active: bool

    @classmethod
    def from_form(cls, form: Form) -> DepartmentInput:
        return cls(
            name=form.str("name", 100),
            code=form.str("code", 32, ascii_fold=True).upper(),
            center=form.int("center"),
            levels=[level for level in form.list("levels") if level in LEVEL_FIELDS],
            phone=form.str("phone", 40),
            active=form.flag("active"),
        )

    async def validate(self, allowed_centers: set[int], own_id: int | None = None) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not self.name:
            errors["name"] = _("Enter the department's name.")
        if not self.code:
            errors["code"] = _("Enter a code for the department, for example RSJ.")
        elif not _CODE.match(self.code):
            errors["code"] = _("The code may use only letters, digits, '-' and '_', 2 to 32 characters.")
        else:
            clash = await Department.select(Department.id).where(Department.code == self.code).first()
            if clash and clash["id"] != own_id:
                errors["code"] = _("Another department already uses this code. Choose a different one.")
        if self.center not in allowed_centers:
            errors["center"] = _("Choose the center the department belongs to.")
        if not self.levels:
            errors["levels"] = _("Choose at least one level where the department works.")
        if self.phone and normalize_phone(self.phone, allow_landline=True) is None:
            errors["phone"] = _("Enter a phone number such as 0936-8212345 or an 11-digit mobile number.")
        return errors

    def values(self) -> dict:
        return {
            "name": self.name,
            "code": self.code,
            "center": self.center,
            "phone": normalize_phone(self.phone, allow_landline=True) or "",
            "active": self.active,
            **{level: level in self.levels for level in LEVEL_FIELDS},
        }


async def create_department(trail: AuditTrail, data: DepartmentInput) -> int:
    async with write_transaction():
        values = data.values()
        values["active"] = True
        rows = await Department.insert(Department(**values)).returning(Department.id)
        department_id = rows[0]["id"]
        await trail("department.created", object_type="department", object_id=department_id, center_id=data.center)
        return department_id


async def update_department(trail: AuditTrail, department: dict, data: DepartmentInput) -> None:
    values = data.values()
    changed = [name for name, value in values.items() if department.get(name) != value]
    if not changed:
        return
    async with write_transaction():
        await Department.update({getattr(Department, n): values[n] for n in changed}).where(Department.id == department["id"])
        await trail("department.updated", object_type="department", object_id=department["id"], center_id=data.center, fields=changed)
