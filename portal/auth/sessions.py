"""Server-side sessions in our own table (ARCHITECTURE §7).

Only SHA-256 of the random token is stored. Every sign-in and every stage change (second factor
done, password replaced) issues a new token and deletes the old row, so a token copied earlier
never gains privileges. Idle and absolute limits are checked on every request; ``last_seen_at``
is written at most once a minute so that reading pages does not become a stream of writes.
"""

from __future__ import annotations

import datetime as dt
import secrets
from functools import lru_cache

from portal import clock
from portal.auth.principal import Principal
from portal.crypto import token_hash
from portal.db import current_engine, read
from portal.memo import Memo
from portal.settings import Settings
from portal.tables import AuthSession

__all__ = ["create", "load", "revoke", "revoke_user", "LoadResult", "TOUCH_INTERVAL"]

TOUCH_INTERVAL = dt.timedelta(seconds=60)

_LOAD_SQL = """
SELECT s.id AS session_id, s.stage, s.last_seen_at, s.expires_at,
       u.id AS user_id, u.username, u.display_name, u.active, u.is_demo,
       u.department AS department_id, c.id AS center_id, c.code AS center_code,
       c.name AS center_name, c.level AS center_level, c.path AS center_path,
       (SELECT {agg} FROM staff_role r WHERE r."user" = u.id) AS roles,
       (SELECT {agg_m} FROM center_module m
         WHERE m.center = c.id AND m.allowed AND m.enabled) AS modules,
       (SELECT count(*) FROM outbox o
         WHERE o.staff = u.id AND o.read_at IS NULL AND o.channel = 'inapp') AS unread_messages
FROM auth_session s
JOIN staff_user u ON u.id = s."user"
JOIN center c ON c.id = u.center
WHERE s.token_hash = {{}}
"""


@lru_cache(maxsize=2)
def _load_sql(engine_type: str) -> str:
    if engine_type == "postgres":
        agg, agg_m = "string_agg(r.role, ',')", "string_agg(m.module, ',')"
    else:
        agg, agg_m = "group_concat(r.role, ',')", "group_concat(m.module, ',')"
    return _LOAD_SQL.format(agg=agg, agg_m=agg_m)


def _as_dt(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def _split(value: str | None) -> frozenset[str]:
    return frozenset(value.split(",")) if value else frozenset()


class LoadResult:
    __slots__ = ("principal", "expired")

    def __init__(self, principal: Principal | None, expired: bool = False):
        self.principal = principal
        self.expired = expired


async def create(user_id: int, stage: str, settings: Settings, ip: str = "", user_agent: str = "") -> str:
    token = secrets.token_urlsafe(32)
    now = clock.now()
    await AuthSession.insert(
        AuthSession(
            token_hash=token_hash(token),
            user=user_id,
            stage=stage,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(hours=settings.session_absolute_hours),
            ip=ip[:64],
            user_agent=user_agent[:255],
        )
    )
    return token


async def load(token: str, settings: Settings, permissions_for, memo: Memo | None = None) -> LoadResult:
    """Resolve a cookie token to a Principal; expire idle, over-age and disabled-user sessions.

    With ``memo`` the row is reused while none of its tables changed (the memo's "access" scope,
    see ``portal.memo``): a revoked session, a disabled account or a changed role is a change to
    them, so it is seen at once. The time limits are checked here on every request either way.
    """
    hashed = token_hash(token)

    async def fetch() -> dict | None:
        rows = await read(_load_sql(current_engine().engine_type), hashed)
        return rows[0] if rows else None

    row = await (memo.remember(("session", hashed), fetch, scope="access") if memo is not None else fetch())
    if row is None:
        return LoadResult(None)
    now = clock.now()
    last_seen = _as_dt(row["last_seen_at"])
    expires = _as_dt(row["expires_at"])
    idle = dt.timedelta(minutes=settings.session_idle_minutes)
    if now >= expires or now - last_seen > idle or not row["active"]:
        await revoke(row["session_id"])
        return LoadResult(None, expired=True)
    if now - last_seen >= TOUCH_INTERVAL:
        await AuthSession.update({AuthSession.last_seen_at: now}).where(AuthSession.id == row["session_id"])
    roles = _split(row["roles"])
    return LoadResult(
        Principal(
            session_id=row["session_id"],
            stage=row["stage"],
            user_id=row["user_id"],
            username=row["username"],
            display_name=row["display_name"],
            center_id=row["center_id"],
            center_code=row["center_code"],
            center_name=row["center_name"],
            center_level=row["center_level"],
            center_path=row["center_path"],
            department_id=row["department_id"],
            roles=roles,
            permissions=permissions_for(roles),
            modules=_split(row["modules"]),
            is_demo=bool(row["is_demo"]),
            expires_at=expires,
            unread_messages=row["unread_messages"],
        )
    )


async def revoke(session_id: int) -> None:
    await AuthSession.delete().where(AuthSession.id == session_id)


async def revoke_user(user_id: int, keep_session_id: int | None = None) -> None:
    query = AuthSession.delete().where(AuthSession.user == user_id)
    if keep_session_id is not None:
        query = query.where(AuthSession.id != keep_session_id)
    await query
