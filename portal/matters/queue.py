"""The staff work queue: filters from the query string, keyset pagination, a capped count.

Every filter is a GET parameter, so a filtered queue is a bookmark and works without JavaScript.
Pages go by id (newest first) with ``after=<last id>``: page 1,000 costs what page 1 costs.
The count stops at ``COUNT_CAP`` ("1000+"): counting a district's million matters on every page
view would cost more than the page; the numbers page has the exact totals.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from portal import clock
from portal.db import raw
from portal.matters.clock import clock_state
from portal.matters.codes import parse_code
from portal.matters.scope import is_department_officer
from portal.matters.vocab import CATEGORIES, CHANNELS, OPEN_STATUSES, STATUS_LABELS

__all__ = ["CLOCK_FILTERS", "COUNT_CAP", "PAGE_SIZE", "Filters", "fetch", "prefix_range"]

PAGE_SIZE = 20
COUNT_CAP = 1000
DUE_SOON = dt.timedelta(days=3)
CLOCK_FILTERS = {"overdue": "已超期", "due_soon": "即将到期", "on_track": "按期"}


def prefix_range(prefix: str) -> tuple[str, str]:
    """[low, high) bounds of strings starting with ``prefix``: an index range on both engines
    (SQLite does not use an index for LIKE 'x%' on a case-sensitive column)."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True)
class Filters:
    status: str = ""
    category: str = ""
    channel: str = ""
    clock: str = ""
    center: int | None = None
    q: str = ""
    after: int | None = None

    @classmethod
    def from_query(cls, params) -> "Filters":
        def pick(name: str, allowed) -> str:
            value = (params.get(name) or "").strip()
            return value if value in allowed else ""

        center = (params.get("center") or "").strip()
        after = (params.get("after") or "").strip()
        return cls(
            status=pick("status", STATUS_LABELS),
            category=pick("category", CATEGORIES),
            channel=pick("channel", CHANNELS),
            clock=pick("clock", CLOCK_FILTERS),
            center=int(center) if center.isdigit() and len(center) < 10 else None,
            q=(params.get("q") or "").strip()[:40],
            after=int(after) if after.isdigit() and len(after) < 12 else None,
        )

    def query_string(self, **override) -> str:
        from urllib.parse import urlencode

        values = {**self.__dict__, **override}
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


@dataclass
class Page:
    rows: list[dict]
    count: int
    capped: bool
    next_after: int | None


def _where(user, filters: Filters, center_paths: dict[int, str]) -> tuple[list[str], list]:
    clauses: list[str] = []
    args: list = []
    if is_department_officer(user):
        clauses.append("m.department = {}")
        args.append(user.department_id)
    else:
        path = center_paths.get(filters.center) if filters.center else None
        if path:
            # One center only (not its subtree): the center's own matters.
            clauses.append("m.center = {}")
            args.append(filters.center)
        else:
            low, high = prefix_range(user.center_path)
            clauses.append("m.center_path >= {} AND m.center_path < {}")
            args += [low, high]
    if filters.status:
        clauses.append("m.status = {}")
        args.append(filters.status)
    if filters.category:
        clauses.append("m.category = {}")
        args.append(filters.category)
    if filters.channel:
        clauses.append("m.channel = {}")
        args.append(filters.channel)
    if filters.clock:
        now = clock.now()
        placeholders = ", ".join("{}" for _ in OPEN_STATUSES)
        clauses.append(f"m.status IN ({placeholders}) AND m.paused_at IS NULL")
        args += list(OPEN_STATUSES)
        if filters.clock == "overdue":
            clauses.append("m.due_at < {}")
            args.append(now)
        elif filters.clock == "due_soon":
            clauses.append("m.due_at >= {} AND m.due_at < {}")
            args += [now, now + DUE_SOON]
        else:
            clauses.append("m.due_at >= {}")
            args.append(now + DUE_SOON)
    if filters.q:
        code = parse_code(filters.q)
        clauses.append("m.code = {}")
        args.append(code or "-")
    return clauses, args


async def fetch(user, filters: Filters, center_paths: dict[int, str]) -> Page:
    clauses, args = _where(user, filters, center_paths)
    where = " AND ".join(clauses) or "1=1"
    page_clauses = list(clauses)
    page_args = list(args)
    if filters.after:
        page_clauses.append("m.id < {}")
        page_args.append(filters.after)
    rows = [dict(row) for row in await raw(
        "SELECT m.id, m.code, m.summary, m.category, m.channel, m.status, m.due_at, m.paused_at, "
        "m.received_at, m.petitioner_name, c.name AS center_name "
        "FROM matter m JOIN center c ON c.id = m.center "
        f"WHERE {' AND '.join(page_clauses) or '1=1'} ORDER BY m.id DESC LIMIT {PAGE_SIZE + 1}",
        *page_args,
    )]
    counted = await raw(f"SELECT count(*) AS n FROM (SELECT 1 FROM matter m WHERE {where} LIMIT {COUNT_CAP + 1}) t", *args)
    count = counted[0]["n"]
    now = clock.now()
    for row in rows:
        row["state"] = "paused" if row["paused_at"] else (
            clock_state(row["due_at"], now) if row["status"] in OPEN_STATUSES else "none"
        )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return Page(rows=rows, count=min(count, COUNT_CAP), capped=count > COUNT_CAP, next_after=rows[-1]["id"] if more else None)
