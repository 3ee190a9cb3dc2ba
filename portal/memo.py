"""Answers read from the database, reused until the data they come from changes.

Why: every signed-in page view repeats the same reads (the session look-up; on the workbench the
modules' cards, ~14 small queries) while, most of the time, nothing they depend on has changed.
An answer kept under the version it was read at is exactly what reading again would return, so
the rules that are "checked on every request" (session revoked, account disabled, role removed)
still are: the first commit that touches their tables makes every kept answer of the scope stale.

Two scopes, each with its own version and its own store:

* ``"any"``: changes with every commit anywhere. SQLite tells a connection in a few microseconds
  whether anyone at all (this process, another worker, the command line) has committed since it
  last asked: ``PRAGMA data_version``. PostgreSQL has no such pragma: there every table's change
  trigger notifies a channel the engine listens on, and the engine counts its own writes as they
  finish (``PooledPostgresEngine``); another process's commit is seen when its notification
  arrives, milliseconds later at most.
* ``"access"``: what a signed-in request's Principal and its centers are built from (sessions,
  staff accounts, roles, centers, enabled modules, staff messages: ``portal.db.ACCESS_TABLES``).
  On SQLite, triggers on those tables (installed by ``portal db migrate``) count their row changes
  in ``portal_change``, whoever writes, so a registration, a booking or a note does not drop the
  session rows of everyone signed in. On PostgreSQL it is the ``"any"`` version.

Time is not data: anything that depends on the clock (a session's idle limit) is still checked by
the caller on every use, and answers that depend on "now" (overdue counts) carry a time bucket in
their key.

Where no signal can be trusted (no listener, a table without its trigger, or inside a
transaction, whose own uncommitted writes the version cannot see) ``version()`` is None and
nothing is kept.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Hashable

__all__ = ["Memo", "MISSING", "SCOPES"]

MISSING: Any = object()
SCOPES = ("any", "access")


class _Store:
    __slots__ = ("version", "items")

    def __init__(self) -> None:
        self.version: int | None = None
        self.items: dict[Hashable, Any] = {}


class Memo:
    """A per-app store of answers keyed by the database's data version (see module docstring)."""

    __slots__ = ("_engine", "_stores", "_size")

    def __init__(self, engine, size: int = 4096):
        self._engine = engine
        self._stores = {scope: _Store() for scope in SCOPES}
        self._size = size

    def version(self, scope: str = "any") -> int | None:
        """The current version of ``scope``'s data, or None when answers must not be reused now."""
        data_version = getattr(self._engine, "data_version", None)
        if data_version is None or self._engine.current_transaction.get() is not None:
            return None
        version = data_version(scope)
        store = self._stores[scope]
        if version != store.version:
            # Someone committed: nothing kept so far can be trusted any more.
            store.items.clear()
            store.version = version
        return version

    def get(self, key: Hashable, version: int | None, scope: str = "any") -> Any:
        store = self._stores[scope]
        if version is None or version != store.version:
            return MISSING
        return store.items.get(key, MISSING)

    def put(self, key: Hashable, version: int | None, value: Any, scope: str = "any") -> None:
        """Keep ``value``, read at ``version`` (taken *before* reading, so a commit in between makes it stale)."""
        store = self._stores[scope]
        if version is None or version != store.version:
            return
        if len(store.items) >= self._size:
            del store.items[next(iter(store.items))]
        store.items[key] = value

    async def remember(self, key: Hashable, compute: Callable[[], Awaitable[Any]], scope: str = "any") -> Any:
        """The kept answer for ``key``, or ``await compute()`` (kept if nothing of ``scope`` changed meanwhile)."""
        version = self.version(scope)
        value = self.get(key, version, scope)
        if value is MISSING:
            value = await compute()
            self.put(key, version, value, scope)
        return value
