"""Counters behind the numbers page, bumped in the transaction of each event (never a full scan).

One row per (center, China-local day, metric). A period's figure for a subtree is a sum over at
most (centers × days) small rows, which stays fast at millions of matters.
"""

from __future__ import annotations

import datetime as dt

from portal.clock import local
from portal.db import raw

__all__ = ["METRICS", "bump"]

METRICS = (
    "received",  # registered (any channel)
    "decided",  # acceptance decision made: accepted, declined, forwarded or assigned from triage
    "decided_in_time",  # … within the acceptance limit
    "accepted",
    "declined",  # 不予受理 notices
    "forwarded",
    "replied",  # 处理意见书 (first-instance replies)
    "replied_in_time",  # … within 60 days (+ approved extension)
    "on_spot",  # 现场化解
    "joint",  # 联合调处
    "rated",
    "satisfied",  # 满意 + 基本满意
    "closed",
)

_UPSERT = (
    "INSERT INTO matter_stat (center, day, metric, count) VALUES ({}, {}, {}, {}) "
    "ON CONFLICT (center, day, metric) DO UPDATE SET count = matter_stat.count + excluded.count"
)


async def bump(center_id: int, metric: str, at: dt.datetime, n: int = 1) -> None:
    """Add ``n`` to a counter; call inside the write transaction of the event it counts."""
    assert metric in METRICS, metric
    await raw(_UPSERT, center_id, local(at).date(), metric, n)
