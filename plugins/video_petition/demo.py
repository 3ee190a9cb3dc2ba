"""Demo data of the video petition module (``portal demo load`` calls it): the module switched on
(allowed and enabled) at every demo center where the demo has not decided yet, as the admins
would — kept here so core's demo loader names no module."""

from __future__ import annotations

from portal import clock
from portal.audit.chain import AuditTrail
from portal.db import raw, write_transaction

MODULE = "video_petition"


async def load_demo(trail: AuditTrail) -> int:
    switched = 0
    async with write_transaction():
        from portal.demo import CENTERS

        for code, *_rest in CENTERS:
            center = await raw("SELECT id FROM center WHERE code = {}", code)
            if not center:
                continue
            center_id = center[0]["id"]
            if await raw("SELECT 1 FROM center_module WHERE center = {} AND module = {}", center_id, MODULE):
                continue
            await raw("INSERT INTO center_module (center, module, allowed, enabled, updated_at) VALUES ({}, {}, {}, {}, {})",
                      center_id, MODULE, True, True, clock.now())
            for action in ("module.allowed", "module.enabled"):
                await trail(action, object_type="module", object_id=MODULE, center_id=center_id, fields=(action.split(".")[1],))
            switched += 1
    return switched
