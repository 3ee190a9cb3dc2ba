"""Retention: the daily job ``counseling.retention`` erases the notes of cases kept long enough.

A case expires when its last session (or, without any session, its opening) lies more than the
center's retention period (``counseling_settings.retention_days``, K1's settings; the default
without a row) before the job's "now". Erasure empties every encrypted field of the case — the
client's name or pseudonym, the session records (topics, risk, notes, plan), the referrals'
institution and reason, the supervisors' reasons — and leaves the shell: dates, kinds, lengths,
attendance and counts, which the anonymous numbers read. One audit row per erased case
(``counseling.notes_erased``, system actor, the case id).

Once only, with any number of processes: each case is claimed by a conditional UPDATE
(``… WHERE erased_at IS NULL AND <still expired>``) in the same transaction as its erasure and
audit row; a second runner finds nothing to claim. The re-check of the expiry inside the claim
means a session recorded meanwhile keeps the case.

Every center, not only those where the module is on: a center that switched counseling off still
holds notes that must not outlive their period (PIPL Art. 19, 47).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from portal.audit.chain import SYSTEM, AuditTrail
from portal.crypto import audit_key
from portal.db import raw, write_transaction

from plugins.counseling.tables import DEFAULT_RETENTION_DAYS

__all__ = ["RETENTION", "RetentionResult", "erase_expired", "run"]

RETENTION = "counseling.retention"
BATCH = 200


@dataclasses.dataclass(frozen=True)
class RetentionResult:
    erased: int
    checked: int


def _aware(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


async def _erase(trail: AuditTrail, case: dict, cutoff: dt.datetime, now: dt.datetime) -> bool:
    """Claim and erase one case in one transaction; False when it is no longer due (or was taken)."""
    async with write_transaction():
        claimed = await raw(
            "UPDATE counseling_case SET erased_at = {}, client_label = '', version = version + 1 "
            "WHERE id = {} AND erased_at IS NULL "
            "AND ((last_session_at IS NULL AND opened_at < {}) OR last_session_at < {}) RETURNING id",
            now, case["id"], cutoff, cutoff,
        )
        if not claimed:
            return False
        await raw("UPDATE counseling_session SET notes = '', erased_at = {} WHERE case_id = {}", now, case["id"])
        await raw("UPDATE counseling_referral SET details = '', erased_at = {} WHERE case_id = {}", now, case["id"])
        await raw("UPDATE counseling_review SET reason = '' WHERE case_id = {}", case["id"])
        await trail("counseling.notes_erased", object_type="counseling_case", object_id=case["id"], center_id=case["center"],
                    fields=("client_label", "details", "notes", "reason"))
    return True


async def erase_expired(trail: AuditTrail, now: dt.datetime) -> RetentionResult:
    erased = checked = 0
    last = 0
    while True:
        rows = await raw(
            "SELECT k.id, k.center, k.opened_at, k.last_session_at, s.retention_days FROM counseling_case k "
            "LEFT JOIN counseling_settings s ON s.center = k.center "
            f"WHERE k.erased_at IS NULL AND k.id > {{}} ORDER BY k.id LIMIT {BATCH}",
            last,
        )
        if not rows:
            break
        last = rows[-1]["id"]
        for case in rows:
            checked += 1
            days = case["retention_days"] if case["retention_days"] is not None else DEFAULT_RETENTION_DAYS
            cutoff = now - dt.timedelta(days=int(days))
            anchor = _aware(case["last_session_at"] or case["opened_at"])
            if anchor < cutoff and await _erase(trail, case, cutoff, now):
                erased += 1
    return RetentionResult(erased=erased, checked=checked)


async def run(ctx) -> RetentionResult:
    """The job (``portal.jobs``): ``ctx.now`` is the run's clock (``portal jobs run --now`` moves it)."""
    return await erase_expired(AuditTrail(audit_key(ctx.settings), SYSTEM), ctx.now)
