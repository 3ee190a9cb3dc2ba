"""Answers read from the database, reused until anyone commits to it.

Why: every signed-in page view repeats the same reads (the session look-up; on the workbench the
modules' cards, ~14 small queries) while, most of the time, nothing in the database has changed.
SQLite tells a connection in a few microseconds whether anyone at all (this process, another
worker, the command line) has committed since it last asked: ``PRAGMA data_version``. An answer
kept under the version it was read at is therefore exactly what reading again would return, so the
rules that are "checked on every request" (session revoked, account disabled, role removed) still
are: the first commit anywhere makes every kept answer stale.

Time is not data: anything that depends on the clock (a session's idle limit) is still checked by
the caller on every use, and answers that depend on "now" (overdue counts) carry a time bucket in
their key.

PostgreSQL has no such pragma: there every table's change trigger notifies a channel the engine
listens on, and the engine counts its own writes as they finish (``PooledPostgresEngine``); another
process's commit is seen when its notification arrives, milliseconds later at most.

Where no signal can be trusted (no listener, a table without the trigger, or inside a transaction,
whose own uncommitted writes the version cannot see) ``version()`` is None and nothing is kept.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Hashable

__all__ = ["Memo", "MISSING"]

MISSING: Any = object()


class Memo:
    """A per-app store of answers keyed by the database's data version (see module docstring)."""

    __slots__ = ("_engine", "_items", "_version", "_size")

    def __init__(self, engine, size: int = 4096):
        self._engine = engine
        self._items: dict[Hashable, Any] = {}
        self._version: int | None = None
        self._size = size

    def version(self) -> int | None:
        """The database's current data version, or None when answers must not be reused now."""
        data_version = getattr(self._engine, "data_version", None)
        if data_version is None or self._engine.current_transaction.get() is not None:
            return None
        version = data_version()
        if version != self._version:
            # Someone committed: nothing kept so far can be trusted any more.
            self._items.clear()
            self._version = version
        return version

    def get(self, key: Hashable, version: int | None) -> Any:
        if version is None or version != self._version:
            return MISSING
        return self._items.get(key, MISSING)

    def put(self, key: Hashable, version: int | None, value: Any) -> None:
        """Keep ``value``, read at ``version`` (taken *before* reading, so a commit in between makes it stale)."""
        if version is None or version != self._version:
            return
        if len(self._items) >= self._size:
            del self._items[next(iter(self._items))]
        self._items[key] = value

    async def remember(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        """The kept answer for ``key``, or ``await compute()`` (kept if nobody committed meanwhile)."""
        version = self.version()
        value = self.get(key, version)
        if value is MISSING:
            value = await compute()
            self.put(key, version, value)
        return value
