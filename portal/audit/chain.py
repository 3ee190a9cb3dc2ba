"""Writing and verifying the audit chain.

Each row's hash is HMAC-SHA256(key, canonical(row) ‖ previous hash), the key coming from the
environment; ``audit_head`` holds the tip so that deleting the newest rows is detected too.
Rows are written inside the transaction of the change they record: if the audit insert fails,
the change fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from portal import clock
from portal.crypto import hmac_hex
from portal.db import current_engine, insert, raw, write_transaction
from portal.tables import AuditHead, AuditLog

__all__ = ["Actor", "AuditTrail", "SYSTEM", "VerifyReport", "canonical", "record", "verify"]


@dataclass(frozen=True)
class Actor:
    """Who did it, from where. ``roles`` and ``center_id`` are the acting role set and center."""

    user_id: int | None = None
    name: str = "system"
    roles: str = ""
    center_id: int | None = None
    ip: str = ""
    request_id: str = ""


SYSTEM = Actor()


@dataclass(frozen=True)
class AuditTrail:
    """An audit writer bound to a key and an actor; services receive one instead of a request."""

    key: bytes
    actor: Actor = SYSTEM

    async def __call__(self, action: str, **fields) -> int:
        return await record(self.key, action, self.actor, **fields)


def _ts(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: dict) -> str:
    parts = [
        str(row["seq"]),
        _ts(row["created_at"]),
        "" if row["actor_id"] is None else str(row["actor_id"]),
        row["actor"],
        row["role"],
        "" if row["center_id"] is None else str(row["center_id"]),
        row["action"],
        row["object_type"],
        row["object_id"],
        row["result"],
        row["ip"],
        row["request_id"],
        row["fields"],
    ]
    # \x1f (unit separator) cannot be typed into a form, so fields cannot be shifted across it.
    return "\x1f".join(parts)


async def record(
    key: bytes,
    action: str,
    actor: Actor = SYSTEM,
    *,
    object_type: str = "",
    object_id: object = "",
    result: str = "success",
    fields: Iterable[str] = (),
    center_id: int | None = None,
) -> int:
    """Append one audit row; returns its sequence number. Joins the caller's transaction."""
    async with write_transaction():
        if current_engine().engine_type == "postgres":
            # Serialises chain writers across connections; held until the caller commits.
            head = await raw("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
        else:
            head = await raw("SELECT seq, hash FROM audit_head WHERE id = 1")
        prev_seq, prev_hash = head[0]["seq"], head[0]["hash"]
        row = {
            "seq": prev_seq + 1,
            # Truncated to microseconds and stored in UTC so both engines round-trip it exactly.
            "created_at": clock.now().astimezone(dt.timezone.utc),
            "actor_id": actor.user_id,
            "actor": actor.name[:64],
            "role": actor.roles[:200],
            "center_id": center_id if center_id is not None else actor.center_id,
            "action": action[:64],
            "object_type": object_type[:64],
            "object_id": str(object_id)[:64],
            "result": result[:16],
            "ip": actor.ip[:64],
            "request_id": actor.request_id[:64],
            "fields": ",".join(sorted(fields)),
        }
        row["prev_hash"] = prev_hash
        row["hash"] = hmac_hex(key, canonical(row) + "\x1e" + prev_hash)
        await insert("audit_log", row)
        await raw("UPDATE audit_head SET seq = {}, hash = {} WHERE id = 1", row["seq"], row["hash"])
        return row["seq"]


@dataclass
class VerifyReport:
    ok: bool
    checked: int
    problems: list[str]


async def verify(key: bytes, batch: int = 5000) -> VerifyReport:
    """Recompute the chain from the first row; report every broken link, edit or gap."""
    problems: list[str] = []
    expected_seq = 1
    prev_hash = ""
    checked = 0
    last_id = 0
    while True:
        rows = (
            await AuditLog.select()
            .where(AuditLog.id > last_id)
            .order_by(AuditLog.id)
            .limit(batch)
        )
        if not rows:
            break
        for row in rows:
            last_id = row["id"]
            checked += 1
            if row["seq"] != expected_seq:
                problems.append(
                    f"row id={row['id']} seq={row['seq']}: expected seq {expected_seq} (rows missing)"
                )
            if row["prev_hash"] != prev_hash:
                problems.append(f"row id={row['id']} seq={row['seq']}: link to the previous row is broken")
            digest = hmac_hex(key, canonical(row) + "\x1e" + row["prev_hash"])
            if digest != row["hash"]:
                problems.append(f"row id={row['id']} seq={row['seq']}: content does not match its hash (altered)")
            expected_seq = row["seq"] + 1
            prev_hash = row["hash"]
    head = await AuditHead.select().where(AuditHead.id == 1).first()
    if head is None:
        problems.append("audit_head row is missing")
    elif head["seq"] != expected_seq - 1 or head["hash"] != prev_hash:
        problems.append(
            f"chain tip is seq {head['seq']} but the last row found is seq {expected_seq - 1} (rows deleted at the end)"
        )
    return VerifyReport(ok=not problems, checked=checked, problems=problems)
