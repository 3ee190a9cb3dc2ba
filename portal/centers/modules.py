"""Which modules each center may use (set by the district) and uses (set by the center).

A module is effective at a center when its row is both ``allowed`` and ``enabled``. Withdrawing
the allowance switches it off at once. Data a module stored stays; only access goes.
"""

from __future__ import annotations

from portal import clock
from portal.audit.chain import AuditTrail
from portal.db import raw, write_transaction
from portal.modules import PluginRegistry
from portal.plugin_api import CenterRef
from portal.tables import Center, CenterModule

__all__ = [
    "ModuleNotAllowed",
    "enabled_modules",
    "enabled_modules_for_code",
    "module_rows",
    "set_allowed",
    "set_enabled",
]


class ModuleNotAllowed(Exception):
    """The district has not allowed this module for the center."""


async def enabled_modules(center_id: int) -> frozenset[str]:
    rows = await raw("SELECT module FROM center_module WHERE center = {} AND allowed AND enabled", center_id)
    return frozenset(row["module"] for row in rows)


async def enabled_modules_for_code(code: str) -> frozenset[str]:
    rows = await CenterModule.select(CenterModule.module).where(
        (CenterModule.center.code == code)
        & (CenterModule.center.active == True)  # noqa: E712
        & (CenterModule.allowed == True)  # noqa: E712
        & (CenterModule.enabled == True)  # noqa: E712
    )
    return frozenset(row["module"] for row in rows)


async def module_rows(center_ids: list[int]) -> dict[tuple[int, str], dict]:
    if not center_ids:
        return {}
    rows = await CenterModule.select().where(CenterModule.center.is_in(center_ids))
    return {(row["center"], row["module"]): row for row in rows}


async def _state(center_id: int, module: str) -> dict | None:
    return (
        await CenterModule.select()
        .where((CenterModule.center == center_id) & (CenterModule.module == module))
        .first()
    )


async def _write(center_id: int, module: str, allowed: bool, enabled: bool) -> None:
    existing = await _state(center_id, module)
    values = {CenterModule.allowed: allowed, CenterModule.enabled: enabled, CenterModule.updated_at: clock.now()}
    if existing:
        await CenterModule.update(values).where(CenterModule.id == existing["id"])
    else:
        await CenterModule.insert(
            CenterModule(center=center_id, module=module, allowed=allowed, enabled=enabled, updated_at=clock.now())
        )


async def _center_ref(center_id: int) -> CenterRef:
    return CenterRef.from_row(await Center.select().where(Center.id == center_id).first())


async def set_allowed(trail: AuditTrail, registry: PluginRegistry, center_id: int, module: str, allowed: bool) -> bool:
    """District decision. Returns True when something changed."""
    if module not in registry.modules:
        raise KeyError(module)
    async with write_transaction():
        state = await _state(center_id, module)
        was_allowed = bool(state and state["allowed"])
        was_enabled = bool(state and state["enabled"])
        if was_allowed == allowed:
            return False
        await _write(center_id, module, allowed, was_enabled and allowed)
        await trail(
            "module.allowed" if allowed else "module.withdrawn",
            object_type="module",
            object_id=module,
            center_id=center_id,
            fields=("allowed",) + (("enabled",) if was_enabled and not allowed else ()),
        )
        if was_enabled and not allowed:
            await registry.emit_to(
                module, "center_module_disabled", center=await _center_ref(center_id), module=module, actor=trail.actor
            )
        return True


async def set_enabled(trail: AuditTrail, registry: PluginRegistry, center_id: int, module: str, enabled: bool) -> bool:
    """Center decision, only within the district's allowance. Returns True when something changed."""
    if module not in registry.modules:
        raise KeyError(module)
    async with write_transaction():
        state = await _state(center_id, module)
        if not state or not state["allowed"]:
            raise ModuleNotAllowed(module)
        if bool(state["enabled"]) == enabled:
            return False
        await _write(center_id, module, True, enabled)
        await trail(
            "module.enabled" if enabled else "module.disabled",
            object_type="module",
            object_id=module,
            center_id=center_id,
            fields=("enabled",),
        )
        await registry.emit_to(
            module,
            "center_module_enabled" if enabled else "center_module_disabled",
            center=await _center_ref(center_id),
            module=module,
            actor=trail.actor,
        )
        return True
