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
from portal.centers.scope import prefix_range
from portal.db import current_engine, read
from portal.matters.clock import clock_state
from portal.matters.codes import parse_code
from portal.matters.scope import is_department_officer
from portal.matters.vocab import CATEGORIES, CHANNELS, OPEN_STATUSES, STATUS_LABELS

__all__ = ["CLOCK_FILTERS", "COUNT_CAP", "PAGE_SIZE", "Filters", "fetch"]

PAGE_SIZE = 20
COUNT_CAP = 1000
DUE_SOON = dt.timedelta(days=3)
CLOCK_FILTERS = {"overdue": "已超期", "due_soon": "即将到期", "on_track": "按期"}


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


def _where(user, filters: Filters, center_paths: dict[int, str], *, walk: bool = False) -> tuple[list[str], list]:
    """The filter as SQL. ``walk`` (SQLite only): write the subtree range and the clock filter so
    that no index can use them (``+column`` is SQLite's documented way), which leaves the planner
    the primary key or an id-ordered equality index to walk newest first (see ``fetch``)."""
    clauses: list[str] = []
    args: list = []
    if is_department_officer(user):
        clauses.append("m.department = {}")
        args.append(user.department_id)
    else:
        path = center_paths.get(filters.center) if filters.center else None
        if path:
            # One center only (not its subtree): the center's own matters. ``center_path`` always
            # holds the handling center's path, so the equality adds nothing but the index on
            # (center_path, id), which returns them newest first (matter.center has no index).
            clauses.append("m.center = {} AND m.center_path = {}")
            args += [filters.center, path]
        else:
            low, high = prefix_range(user.center_path)
            # With a clock filter the index to use is (status, paused_at, due_at, center_path):
            # overdue and due-soon matters are few, open matters in a subtree are many.
            plus = "+" if walk or (filters.clock and current_engine().engine_type == "sqlite") else ""
            clauses.append(f"{plus}m.center_path >= {{}} AND {plus}m.center_path < {{}}")
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
        # Walking newest first, an index on status IN (…), paused_at or due_at would return rows
        # out of id order (a sort of every open matter); open matters are the recent ones anyway.
        plus = "+" if walk else ""
        now = clock.now()
        placeholders = ", ".join("{}" for _ in OPEN_STATUSES)
        clauses.append(f"{plus}m.status IN ({placeholders}) AND {plus}m.paused_at IS NULL")
        args += list(OPEN_STATUSES)
        if filters.clock == "overdue":
            clauses.append(f"{plus}m.due_at < {{}}")
            args.append(now)
        elif filters.clock == "due_soon":
            clauses.append(f"{plus}m.due_at >= {{}} AND {plus}m.due_at < {{}}")
            args += [now, now + DUE_SOON]
        else:
            clauses.append(f"{plus}m.due_at >= {{}}")
            args.append(now + DUE_SOON)
    if filters.q:
        code = parse_code(filters.q)
        clauses.append("m.code = {}")
        args.append(code or "-")
    return clauses, args


_COLUMNS = (
    "m.id, m.code, m.summary, m.category, m.channel, m.status, m.due_at, m.paused_at, "
    "m.received_at, m.petitioner_name, c.name AS center_name"
)


async def fetch(user, filters: Filters, center_paths: dict[int, str]) -> Page:
    """One page of the queue, newest first, and the capped count of the whole filter.

    How the page is read matters more than anything else here (1 M matters, bench/RESULTS.md):
    the subtree is a *range* of ``center_path``, and no index on a range returns rows in id
    order, so "the 21 newest" through such an index means reading and sorting every matter of
    the subtree (1 s for the district on SQLite). PostgreSQL's planner sees this from its
    statistics and walks the primary key backwards. SQLite has no statistics unless someone runs
    ANALYZE (and with them it still picks the sort), so on SQLite the count, which runs first
    and reads at most ``COUNT_CAP + 1`` index entries, decides:

    * more than ``COUNT_CAP`` matches: walk newest first (the primary key, or the id-ordered
      index of an equality filter) and stop after 21 hits; the filter matches many matters, so
      hits come quickly;
    * at most ``COUNT_CAP``: take the ≤ 21 newest ids from the filter's index (sorting at most
      ``COUNT_CAP`` ids), then read those rows.

    The statements are small and bounded (the indexes of migration 2026-11-27T00:20 make every
    filter a seek), so they go through ``read``: on SQLite they run on the event-loop thread,
    which saves the thread hand-offs of each statement (the largest cost of this page under
    load). On PostgreSQL the count and the page are one statement: one round trip, not two.
    """
    clauses, args = _where(user, filters, center_paths)
    where = " AND ".join(clauses) or "1=1"
    count_sql = f"SELECT count(*) AS n FROM (SELECT 1 FROM matter m WHERE {where} LIMIT {COUNT_CAP + 1}) t"
    after = (" AND m.id < {}", [filters.after]) if filters.after else ("", [])
    if current_engine().engine_type != "sqlite":
        # One round trip for both: the count, and the page joined to it (none: one row of NULLs).
        combined = await read(
            f"SELECT t.n AS total, r.* FROM ({count_sql}) t LEFT JOIN LATERAL ("
            f"SELECT {_COLUMNS} FROM matter m JOIN center c ON c.id = m.center "
            f"WHERE {where}{after[0]} ORDER BY m.id DESC LIMIT {PAGE_SIZE + 1}) r ON true ORDER BY r.id DESC",
            *args, *args, *after[1],
        )
        count = combined[0]["total"]
        return _page([{k: v for k, v in row.items() if k != "total"} for row in combined if row["id"] is not None], count)
    count = (await read(count_sql, *args))[0]["n"]
    if count > COUNT_CAP:
        walk_clauses, walk_args = _where(user, filters, center_paths, walk=True)
        sql = (
            f"SELECT {_COLUMNS} FROM matter m JOIN center c ON c.id = m.center "
            f"WHERE {' AND '.join(walk_clauses) or '1=1'}{after[0]} ORDER BY m.id DESC LIMIT {PAGE_SIZE + 1}"
        )
        page_args = [*walk_args, *after[1]]
    else:
        sql = (
            f"SELECT {_COLUMNS} FROM matter m JOIN center c ON c.id = m.center WHERE m.id IN "
            f"(SELECT m.id FROM matter m WHERE {where}{after[0]} ORDER BY m.id DESC LIMIT {PAGE_SIZE + 1}) "
            "ORDER BY m.id DESC"
        )
        page_args = [*args, *after[1]]
    return _page([dict(row) for row in await read(sql, *page_args)], count)


def _page(rows: list[dict], count: int) -> Page:
    now = clock.now()
    for row in rows:
        row["state"] = "paused" if row["paused_at"] else (
            clock_state(row["due_at"], now) if row["status"] in OPEN_STATUSES else "none"
        )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return Page(rows=rows, count=min(count, COUNT_CAP), capped=count > COUNT_CAP, next_after=rows[-1]["id"] if more else None)
