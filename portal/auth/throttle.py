"""Fixed-window counters in the database, shared by every app process.

One atomic upsert per hit (``INSERT … ON CONFLICT DO UPDATE … RETURNING``, on both engines), so
concurrent attempts are all counted and a limit holds across workers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from portal import clock
from portal.db import raw, write_transaction
from portal.tables import Throttle

__all__ = ["Verdict", "clear", "count", "hit", "lock", "locked_until"]

UPSERT = """
INSERT INTO throttle (key, window_start, hits, locked_until) VALUES ({}, {}, 1, NULL)
ON CONFLICT (key) DO UPDATE SET
  hits = CASE WHEN throttle.window_start < {} THEN 1 ELSE throttle.hits + 1 END,
  window_start = CASE WHEN throttle.window_start < {} THEN excluded.window_start ELSE throttle.window_start END
RETURNING hits, window_start
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    hits: int
    retry_after: int  # seconds until the window resets


async def hit(key: str, limit: int, window: dt.timedelta) -> Verdict:
    now = clock.now()
    cutoff = now - window
    async with write_transaction():
        rows = await raw(UPSERT, key, now, cutoff, cutoff)
    hits, start = rows[0]["hits"], rows[0]["window_start"]
    if isinstance(start, str):  # SQLite returns RETURNING columns without declared types
        start = dt.datetime.fromisoformat(start)
    retry = max(1, int((start + window - now).total_seconds()))
    return Verdict(allowed=hits <= limit, hits=hits, retry_after=retry)


async def count(key: str, window: dt.timedelta) -> Verdict:
    """The current window's hits without adding one (limits that count only failures)."""
    row = await Throttle.select(Throttle.hits, Throttle.window_start).where(Throttle.key == key).first()
    now = clock.now()
    if row is None or row["window_start"] < now - window:
        return Verdict(allowed=True, hits=0, retry_after=0)
    retry = max(1, int((row["window_start"] + window - now).total_seconds()))
    return Verdict(allowed=True, hits=row["hits"], retry_after=retry)


async def lock(key: str, until: dt.datetime) -> None:
    await Throttle.update({Throttle.locked_until: until}).where(Throttle.key == key)


async def locked_until(key: str) -> dt.datetime | None:
    row = await Throttle.select(Throttle.locked_until).where(Throttle.key == key).first()
    if row and row["locked_until"] and row["locked_until"] > clock.now():
        return row["locked_until"]
    return None


async def clear(key: str) -> None:
    await Throttle.delete().where(Throttle.key == key)
