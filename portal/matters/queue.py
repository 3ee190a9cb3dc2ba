"""The staff work queue: filters from the query string, a sort, keyset pagination, a capped count.

Every filter and the sort are GET parameters, so a queue view is a bookmark and works without
JavaScript. The center filter takes a center and its subtree (a township and its villages), or the
center alone with ``only=1``. Pages go by keyset with ``after=<token>``: page 1,000 costs what
page 1 costs. The token is the last row's sort key: the id for newest/oldest first (a plain
number), ``(due_at | updated_at, id)`` for the other sorts (base64 of ``sort:microseconds:id``).
A token that does not parse for the chosen sort is ignored (page 1): a scope filter is always part
of the query, so a hand-made token can only move within the user's own matters.
The count stops at ``COUNT_CAP`` ("1000+"): counting a district's million matters on every page
view would cost more than the page; the numbers page has the exact totals.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass

from portal import clock
from portal.centers.scope import prefix_range
from portal.db import current_engine, read
from portal.i18n import _
from portal.matters.clock import clock_state
from portal.matters.codes import parse_code
from portal.matters.scope import is_department_officer
from portal.matters.vocab import CATEGORIES, CHANNELS, OPEN_STATUSES, STATUS_LABELS

__all__ = ["CLOCK_FILTERS", "COUNT_CAP", "PAGE_SIZE", "SORTS", "Filters", "center_options", "fetch", "sort_options", "view_context"]

PAGE_SIZE = 20
COUNT_CAP = 1000
DUE_SOON = dt.timedelta(days=3)
CLOCK_FILTERS = {"overdue": "已超期", "due_soon": "即将到期", "on_track": "按期"}
DEFAULT_SORT = "newest"
# Sort -> (key column besides id or None, descending). Each has an index that returns rows in
# this order: the primary key, (due_at, id) of open matters (on SQLite also the single-column
# index on due_at, which ends in the rowid), (updated_at, id); see migration 2026-11-27T04:07.
SORTS: dict[str, tuple[str | None, bool]] = {
    "newest": (None, True),
    "oldest": (None, False),
    "due": ("due_at", False),
    "updated": ("updated_at", True),
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_PATH = re.compile(r"^/[0-9/]*$")
# The predicate of the partial index matter_open_due_id (migration 2026-11-27T04:07), written
# the same way: SQLite uses a partial index only for a query that repeats its WHERE term.
OPEN_SQL = "m.status IN ({})".format(", ".join(f"'{status}'" for status in OPEN_STATUSES))


def sort_options() -> list[tuple[str, str]]:
    return [
        ("newest", _("Newest first")),
        ("oldest", _("Oldest first")),
        # Only open matters run a handling deadline (a replied matter's due date is the
        # petitioner's time to ask for a review), so this sort lists open matters only.
        ("due", _("Deadline soonest (open matters)")),
        ("updated", _("Recently updated")),
    ]


def center_options(centers: list[dict]) -> list[tuple[int, str]]:
    """The subtree as select options, indented by level below the user's own center."""
    if not centers:
        return []
    top = min(c["path"].count("/") for c in centers)
    return [(c["id"], "\u3000" * (c["path"].count("/") - top) + c["name"]) for c in centers]


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: its last row's sort value (None: the rows without one,
    which come last) and id."""

    value: dt.datetime | None
    id: int


def _micros(value: dt.datetime) -> int:
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


def encode_cursor(sort: str, row: dict) -> str:
    column, _desc = SORTS[sort]
    if column is None:
        return str(row["id"])
    value = row[column]
    raw = f"{sort}:{'' if value is None else _micros(value)}:{row['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(sort: str, token: str) -> Cursor | None:
    """The cursor of ``token`` under ``sort``, or None when it is not one (page 1)."""
    column, _desc = SORTS[sort]
    if not token or len(token) > 64:
        return None
    if column is None:
        return Cursor(None, int(token)) if token.isdigit() and len(token) < 12 else None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        name, micros, ident = raw.split(":")
        if name != sort or not ident.isdigit() or len(ident) >= 12:
            return None
        value = None if micros == "" else _EPOCH + dt.timedelta(microseconds=int(micros))
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        return None
    return Cursor(value, int(ident))


@dataclass(frozen=True)
class Filters:
    status: str = ""
    category: str = ""
    channel: str = ""
    clock: str = ""
    center: int | None = None
    only: bool = False
    q: str = ""
    sort: str = DEFAULT_SORT
    after: str = ""

    @classmethod
    def from_query(cls, params) -> "Filters":
        def pick(name: str, allowed) -> str:
            value = (params.get(name) or "").strip()
            return value if value in allowed else ""

        center = (params.get("center") or "").strip()
        sort = pick("sort", SORTS) or DEFAULT_SORT
        after = (params.get("after") or "").strip()
        return cls(
            status=pick("status", STATUS_LABELS),
            category=pick("category", CATEGORIES),
            channel=pick("channel", CHANNELS),
            clock=pick("clock", CLOCK_FILTERS),
            center=int(center) if center.isdigit() and len(center) < 10 else None,
            only=params.get("only") == "1",
            q=(params.get("q") or "").strip()[:40],
            sort=sort,
            after=after if decode_cursor(sort, after) else "",
        )

    @property
    def cursor(self) -> Cursor | None:
        return decode_cursor(self.sort, self.after)

    def query_string(self, **override) -> str:
        from urllib.parse import urlencode

        values = {**self.__dict__, **override}
        # The defaults stay out of the URL: page 2 of the default view is "/matters?after=<id>".
        if values["sort"] == DEFAULT_SORT:
            values["sort"] = ""
        values["only"] = "1" if values["only"] and values["center"] else ""
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


@dataclass
class Page:
    rows: list[dict]
    count: int
    capped: bool
    next_after: str | None


def _where(user, filters: Filters, center_paths: dict[int, str], *, walk: str = "") -> tuple[list[str], list]:
    """The filter as SQL. ``walk`` (SQLite only) writes filters so that no index can use them
    (``+column`` is SQLite's documented way), which leaves the planner the index of the sort to
    walk in order (see ``fetch``): "id" hides the subtree range and the clock filter (the primary
    key, or an id-ordered equality index, returns rows newest first); "all" hides every filter
    (only the sort's (column, id) index returns rows in order)."""
    clauses: list[str] = []
    args: list = []
    hide = "+" if walk == "all" else ""
    # The deadline sort adds "open" (a few percent of all matters): the (status, center_path)
    # index finds them, where SQLite would pick the category or channel index and read every
    # matter of that kind (PostgreSQL chooses well from its statistics).
    hide_kind = "+" if walk == "all" or (filters.sort == "due" and current_engine().engine_type == "sqlite") else ""
    if is_department_officer(user):
        clauses.append(f"{hide}m.department = {{}}")
        args.append(user.department_id)
    else:
        path = center_paths.get(filters.center) if filters.center else None
        if path and filters.only:
            # One center only (not its subtree): the center's own matters. ``center_path`` always
            # holds the handling center's path, so the equality adds nothing but the index on
            # (center_path, id), which returns them newest first (matter.center has no index).
            clauses.append(f"m.center = {{}} AND {hide}m.center_path = {{}}")
            args += [filters.center, path]
        else:
            # The chosen center's subtree (a center outside the user's own is not in
            # ``center_paths`` and changes nothing), or the user's.
            low, high = prefix_range(path or user.center_path)
            # With a clock filter the index to use is (status, paused_at, due_at, center_path):
            # overdue and due-soon matters are few, open matters in a subtree are many.
            plus = "+" if walk or (filters.clock and current_engine().engine_type == "sqlite") else ""
            if filters.sort == "due" and _PATH.match(low) and _PATH.match(high):
                # Literals (a path is digits and slashes): as a parameter, the range is a blind
                # guess in PostgreSQL's generic plan (used from a prepared statement's 6th run
                # on), which then sorted every open matter of the subtree instead of walking
                # (due_at, id): 200 ms for the district. Only here: for the other sorts the
                # parameters measured better (with literals the clock filters walked the
                # primary key through the closed matters: 0.5 s).
                clauses.append(f"{plus}m.center_path >= '{low}' AND {plus}m.center_path < '{high}'")
            else:
                clauses.append(f"{plus}m.center_path >= {{}} AND {plus}m.center_path < {{}}")
                args += [low, high]
    if filters.status:
        clauses.append(f"{hide}m.status = {{}}")
        args.append(filters.status)
    if filters.category:
        clauses.append(f"{hide_kind}m.category = {{}}")
        args.append(filters.category)
    if filters.channel:
        clauses.append(f"{hide_kind}m.channel = {{}}")
        args.append(filters.channel)
    placeholders = ", ".join("{}" for _ in OPEN_STATUSES)
    if filters.clock:
        # Walking newest first, an index on status IN (…), paused_at or due_at would return rows
        # out of id order (a sort of every open matter); open matters are the recent ones anyway.
        plus = "+" if walk else ""
        now = clock.now()
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
    elif filters.sort == "due":
        # Literals, not parameters: what lets both engines use the partial index on open matters.
        clauses.append(f"{hide}{OPEN_SQL}")
    if filters.q:
        code = parse_code(filters.q)
        clauses.append("m.code = {}")
        args.append(code or "-")
    return clauses, args


_COLUMNS = (
    "m.id, m.code, m.summary, m.category, m.channel, m.status, m.due_at, m.paused_at, "
    "m.received_at, m.updated_at, m.petitioner_name, c.name AS center_name"
)


def _keyset(filters: Filters) -> list[tuple[str, list, str]]:
    """The page as one or two index-ordered reads: (condition, arguments, ORDER BY).

    A sort on a column puts the rows without a value last (both engines, although SQLite sorts
    NULL first and PostgreSQL last): first the rows with a value, by (column, id), then those
    without, by id; the second read only runs when the first ends within the page."""
    column, desc = SORTS[filters.sort]
    cursor = filters.cursor
    way, cmp = ("DESC", "<") if desc else ("ASC", ">")
    if column is None:
        return [(f" AND m.id {cmp} {{}}" if cursor else "", [cursor.id] if cursor else [], f"m.id {way}")]
    parts = []
    if cursor is None or cursor.value is not None:
        condition = f" AND m.{column} IS NOT NULL"
        args: list = []
        if cursor is not None:
            condition += f" AND (m.{column}, m.id) {cmp} ({{}}, {{}})"
            args = [cursor.value, cursor.id]
        parts.append((condition, args, f"m.{column} {way}, m.id {way}"))
    # Open matters without a deadline are few (none, normally); the partial index finds them
    # (never hidden, even when walking: the other rows without one are every closed matter).
    undated = f" AND {OPEN_SQL}" if column == "due_at" else ""
    parts.append((
        f" AND m.{column} IS NULL{undated}" + (f" AND m.id {cmp} {{}}" if cursor is not None and cursor.value is None else ""),
        [cursor.id] if cursor is not None and cursor.value is None else [],
        f"m.id {way}",
    ))
    return parts


def _page_sql(where: str, args: list, filters: Filters, columns: str = _COLUMNS) -> tuple[str, list]:
    parts = _keyset(filters)
    joined = "matter m JOIN center c ON c.id = m.center" if columns == _COLUMNS else "matter m"
    selects = [
        f"SELECT * FROM (SELECT {columns} FROM {joined} WHERE {where}{condition} ORDER BY {order} LIMIT {PAGE_SIZE + 1}) p{i}"
        for i, (condition, _args, order) in enumerate(parts)
    ]
    sql = selects[0] if len(selects) == 1 else " UNION ALL ".join(selects) + f" LIMIT {PAGE_SIZE + 1}"
    return sql, [a for _c, part_args, _o in parts for a in (*args, *part_args)]


def _sort_key(sort: str):
    """The page order as a Python key (rows of a UNION, or ≤ COUNT_CAP candidates sorted here)."""
    column, desc = SORTS[sort]
    sign = -1 if desc else 1
    if column is None:
        return lambda row: sign * row["id"]
    return lambda row: (0, sign * _micros(row[column]), sign * row["id"]) if row[column] is not None else (1, 0, sign * row["id"])


async def fetch(user, filters: Filters, center_paths: dict[int, str]) -> Page:
    """One page of the queue in the chosen order, and the capped count of the whole filter.

    How the page is read matters more than anything else here (1 M matters, bench/RESULTS.md):
    the subtree is a *range* of ``center_path``, and no index on a range returns rows in the
    order of the sort, so "the first 21" through such an index means reading and sorting every
    matter of the subtree (1 s for the district on SQLite). PostgreSQL's planner sees this from
    its statistics and walks the sort's index (see ``SORTS``).
    SQLite has no statistics unless someone runs ANALYZE (and with them it still picks the sort),
    so on SQLite the count, which runs first and reads at most ``COUNT_CAP + 1`` index entries,
    decides:

    * more than ``COUNT_CAP`` matches: walk the sort's index (for newest/oldest first the
      primary key or the id-ordered index of an equality filter) and stop after 21 hits; the
      filter matches many matters, so hits come quickly;
    * at most ``COUNT_CAP``: take the ≤ 21 first rows from the filter's index (sorting at most
      ``COUNT_CAP`` keys), then read those rows.

    The statements are small and bounded (the indexes of migration 2026-11-27T00:20 make every
    filter a seek), so they go through ``read``: on SQLite they run on the event-loop thread,
    which saves the thread hand-offs of each statement (the largest cost of this page under
    load). On PostgreSQL the count and the page are one statement: one round trip, not two.
    """
    if filters.sort == "due" and filters.status and filters.status not in OPEN_STATUSES:
        return _page([], 0, filters.sort)  # only open matters have a deadline to sort by
    clauses, args = _where(user, filters, center_paths)
    where = " AND ".join(clauses) or "1=1"
    count_sql = f"SELECT count(*) AS n FROM (SELECT 1 FROM matter m WHERE {where} LIMIT {COUNT_CAP + 1}) t"
    column, _desc = SORTS[filters.sort]
    if current_engine().engine_type != "sqlite":
        # One round trip for both: the count, and the page joined to it (none: one row of NULLs).
        page_sql, page_args = _page_sql(where, args, filters)
        combined = await read(
            f"SELECT t.n AS total, r.* FROM ({count_sql}) t LEFT JOIN LATERAL ({page_sql}) r ON true",
            *args, *page_args,
        )
        count = combined[0]["total"]
        rows = [{k: v for k, v in row.items() if k != "total"} for row in combined if row["id"] is not None]
        return _page(rows, count, filters.sort)
    count = (await read(count_sql, *args))[0]["n"]
    if count > COUNT_CAP:
        walk_clauses, walk_args = _where(user, filters, center_paths, walk="id" if column is None else "all")
        sql, page_args = _page_sql(" AND ".join(walk_clauses) or "1=1", walk_args, filters)
        return _page([dict(row) for row in await read(sql, *page_args)], count, filters.sort)
    # The ≤ COUNT_CAP matches' keys, sorted here: with an ORDER BY (or a keyset bound on the
    # sort's columns) SQLite would rather walk the sort's index, reading far more than 1,000 rows.
    key = _sort_key(filters.sort)
    keys = "m.id" if column is None else f"m.id, m.{column}"
    candidates = sorted(await read(f"SELECT {keys} FROM matter m WHERE {where} LIMIT {COUNT_CAP + 1}", *args), key=key)
    cursor = filters.cursor
    if cursor is not None:
        mark = key({"id": cursor.id, column: cursor.value})
        candidates = [row for row in candidates if key(row) > mark]
    ids = [row["id"] for row in candidates[: PAGE_SIZE + 1]]
    if not ids:
        return _page([], count, filters.sort)
    rows = await read(
        f"SELECT {_COLUMNS} FROM matter m JOIN center c ON c.id = m.center WHERE m.id IN ({', '.join('{}' for _ in ids)})", *ids
    )
    return _page([dict(row) for row in rows], count, filters.sort)


def _page(rows: list[dict], count: int, sort: str) -> Page:
    rows.sort(key=_sort_key(sort))
    now = clock.now()
    for row in rows:
        row["state"] = "paused" if row["paused_at"] else (
            clock_state(row["due_at"], now) if row["status"] in OPEN_STATUSES else "none"
        )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return Page(
        rows=rows, count=min(count, COUNT_CAP), capped=count > COUNT_CAP,
        next_after=encode_cursor(sort, rows[-1]) if more else None,
    )


def view_context(filters: Filters, centers: list[dict], page: Page) -> dict:
    """What the queue templates need besides the layout (``GET /matters`` and the bench's route M)."""
    return {
        "title": _("Matters"), "page": page, "filters": filters, "centers": centers,
        "center_options": center_options(centers), "sort_options": sort_options(),
        "statuses": STATUS_LABELS, "categories": CATEGORIES, "channels": CHANNELS,
        "clock_states": CLOCK_FILTERS,
    }
