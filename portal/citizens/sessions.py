"""Citizen sessions: the staff pattern (``portal.auth.sessions``) with the citizen's own table and cookie.

Only SHA-256 of the random token is stored; a sign-in always issues a new token and deletes the
session the browser had, so a planted or copied token never becomes a signed-in one. Idle limit
``PORTAL_CITIZEN_SESSION_IDLE_MINUTES`` (2 hours), absolute limit
``PORTAL_CITIZEN_SESSION_ABSOLUTE_DAYS`` (7 days); ``last_seen_at`` is written at most once a minute.
A citizen session never grants a staff page: staff guards read ``scope["user"]`` only.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from portal import clock
from portal.auth.sessions import TOUCH_INTERVAL, _as_dt
from portal.citizens.tables import CitizenSession
from portal.crypto import token_hash
from portal.db import read
from portal.settings import Settings

__all__ = ["CitizenPrincipal", "LoadResult", "create", "load", "revoke", "revoke_citizen", "revoke_token"]

_LOAD_SQL = """
SELECT s.id AS session_id, s.last_seen_at, s.expires_at, c.id AS citizen_id, c.phone
FROM citizen_session s
JOIN citizen c ON c.id = s.citizen
WHERE s.token_hash = {}
"""


@dataclass(frozen=True)
class CitizenPrincipal:
    """The signed-in citizen as every request sees it (``scope["citizen"]``)."""

    citizen_id: int
    phone: str
    session_id: int

    @property
    def masked_phone(self) -> str:
        return f"{self.phone[:3]}****{self.phone[-4:]}" if len(self.phone) == 11 else "****"


@dataclass(frozen=True)
class LoadResult:
    principal: CitizenPrincipal | None
    expired: bool = False


async def create(citizen_id: int, settings: Settings) -> str:
    """A new session for ``citizen_id``; returns the token for the cookie (call inside a transaction)."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    await CitizenSession.insert(
        CitizenSession(
            token_hash=token_hash(token),
            citizen=citizen_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(days=settings.citizen_session_absolute_days),
        )
    )
    return token


async def load(token: str, settings: Settings) -> LoadResult:
    """Resolve a cookie token; idle and over-age sessions are deleted and reported as expired."""
    rows = await read(_LOAD_SQL, token_hash(token))
    if not rows:
        return LoadResult(None)
    row = rows[0]
    now = clock.now()
    last_seen = _as_dt(row["last_seen_at"])
    if now >= _as_dt(row["expires_at"]) or now - last_seen > dt.timedelta(minutes=settings.citizen_session_idle_minutes):
        await revoke(row["session_id"])
        return LoadResult(None, expired=True)
    if now - last_seen >= TOUCH_INTERVAL:
        await CitizenSession.update({CitizenSession.last_seen_at: now}).where(CitizenSession.id == row["session_id"])
    return LoadResult(CitizenPrincipal(citizen_id=row["citizen_id"], phone=row["phone"], session_id=row["session_id"]))


async def revoke(session_id: int) -> None:
    await CitizenSession.delete().where(CitizenSession.id == session_id)


async def revoke_token(token: str) -> None:
    await CitizenSession.delete().where(CitizenSession.token_hash == token_hash(token))


async def revoke_citizen(citizen_id: int, keep_session_id: int | None = None) -> None:
    query = CitizenSession.delete().where(CitizenSession.citizen == citizen_id)
    if keep_session_id is not None:
        query = query.where(CitizenSession.id != keep_session_id)
    await query
