"""One-time SMS sign-in codes (ARCHITECTURE §7: 5 minutes, 5 tries, resend cooldown, daily caps).

* A code is 6 random digits; only an HMAC of phone and code is stored (a copy of the database
  alone does not give live codes away). Asking for a new code retires the phone's earlier ones,
  so one code is live per phone.
* Limits, counted in the database (``portal.auth.throttle``) so they hold across processes: one
  code per phone per ``sms_resend_seconds``; ``sms_daily_per_phone`` codes per phone and
  ``sms_daily_per_ip`` per client address in 24 hours.
* Every check of a code first consumes one of its ``sms_code_max_attempts`` tries with a
  conditional UPDATE, so concurrent guesses cannot exceed the limit; the last wrong try kills it.
* Any valid number gets a code; nothing here depends on whether the number has matters, so the
  answers reveal nothing about anybody. The citizen row is created at the first successful sign-in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from portal import clock
from portal.auth import throttle
from portal.auth.sessions import _as_dt
from portal.citizens.tables import SmsCode
from portal.db import raw, write_transaction
from portal.i18n import _
from portal.notify.outbox import SIGN_IN_CODE, queue_sms
from portal.settings import Settings

__all__ = ["CodeCheck", "CodeRequest", "check_code", "citizen_for", "request_code"]

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class CodeRequest:
    status: str  # sent | cooldown | phone_cap | ip_cap
    retry_after: int = 0
    outbox_id: int | None = None


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    reason: str = ""  # wrong | expired | locked
    tries_left: int = 0


def _key(settings: Settings) -> bytes:
    return hashlib.sha256(f"sms-code:{settings.secret_key}".encode()).digest()


def code_hash(settings: Settings, phone: str, code: str) -> str:
    return hmac.new(_key(settings), f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def sms_text(settings: Settings, code: str) -> str:
    return _(
        "%(site)s sign-in code: %(code)s. It is valid for %(minutes)s minutes. Never tell it to anyone, staff included. If you did not ask for it, ignore this message.",
        site=settings.site_name,
        code=code,
        minutes=settings.sms_code_minutes,
    )


async def request_code(phone: str, ip: str, settings: Settings) -> CodeRequest:
    """Issue a code for ``phone`` and queue its SMS, unless a cooldown or a daily cap stops it.

    The caller delivers the outbox after this returns (``deliver_soon``).
    """
    caps = ((f"sms-ip:{ip}", settings.sms_daily_per_ip, "ip_cap"), (f"sms-phone:{phone}", settings.sms_daily_per_phone, "phone_cap"))
    # A capped number hears about the cap, not about a cooldown (read-only look first).
    for key, limit, status in caps:
        seen = await throttle.count(key, DAY)
        if seen.hits >= limit:
            return CodeRequest(status, seen.retry_after)
    cooldown = await throttle.hit(f"sms-resend:{phone}", 1, dt.timedelta(seconds=settings.sms_resend_seconds))
    if not cooldown.allowed:
        return CodeRequest("cooldown", cooldown.retry_after)
    # The counting hits are the authority (atomic across processes); the look above only saves a hit.
    for key, limit, status in caps:
        verdict = await throttle.hit(key, limit, DAY)
        if not verdict.allowed:
            return CodeRequest(status, verdict.retry_after)
    code = f"{secrets.randbelow(1_000_000):06d}"
    now = clock.now()
    async with write_transaction():
        await SmsCode.update({SmsCode.used: True}).where((SmsCode.phone == phone) & (SmsCode.used == False))  # noqa: E712
        await SmsCode.delete().where((SmsCode.phone == phone) & (SmsCode.created_at < now - DAY))
        await SmsCode.insert(
            SmsCode(
                phone=phone,
                code_hash=code_hash(settings, phone, code),
                created_at=now,
                expires_at=now + dt.timedelta(minutes=settings.sms_code_minutes),
                attempts=0,
                used=False,
            )
        )
        outbox_id = await queue_sms(phone, sms_text(settings, code), kind=SIGN_IN_CODE)
    return CodeRequest("sent", outbox_id=outbox_id)


async def check_code(phone: str, code: str, settings: Settings) -> CodeCheck:
    """Check ``code`` against the phone's live code, consuming one try. Call inside write_transaction()."""
    row = await SmsCode.select(SmsCode.id, SmsCode.code_hash, SmsCode.expires_at).where(
        (SmsCode.phone == phone) & (SmsCode.used == False)  # noqa: E712
    ).order_by(SmsCode.id, ascending=False).first()
    if row is None:
        return CodeCheck(False, "expired")
    if clock.now() >= _as_dt(row["expires_at"]):
        await SmsCode.update({SmsCode.used: True}).where(SmsCode.id == row["id"])
        return CodeCheck(False, "expired")
    limit = settings.sms_code_max_attempts
    tried = await raw(
        "UPDATE sms_code SET attempts = attempts + 1 WHERE id = {} AND used = {} AND attempts < {} RETURNING attempts",
        row["id"],
        False,
        limit,
    )
    if not tried:
        return CodeCheck(False, "locked")
    attempts = tried[0]["attempts"]
    if hmac.compare_digest(row["code_hash"], code_hash(settings, phone, code)):
        used = await raw("UPDATE sms_code SET used = {} WHERE id = {} AND used = {} RETURNING id", True, row["id"], False)
        return CodeCheck(True) if used else CodeCheck(False, "expired")
    if attempts >= limit:
        await SmsCode.update({SmsCode.used: True}).where(SmsCode.id == row["id"])
        return CodeCheck(False, "locked")
    return CodeCheck(False, "wrong", tries_left=limit - attempts)


async def citizen_for(phone: str) -> int:
    """The citizen with this (verified) phone, created at the first sign-in; records the sign-in time."""
    now = clock.now()
    rows = await raw(
        "INSERT INTO citizen (phone, created_at, last_sign_in_at) VALUES ({}, {}, {}) "
        "ON CONFLICT (phone) DO UPDATE SET last_sign_in_at = excluded.last_sign_in_at RETURNING id",
        phone,
        now,
        now,
    )
    return rows[0]["id"]
