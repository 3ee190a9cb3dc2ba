"""Database engines and the transaction helpers every write goes through.

SQLite is the embedded default, PostgreSQL the production engine. Piccolo's stock SQLite engine
opens a new connection (and OS thread) for every query; ``PooledSQLiteEngine`` keeps a few
persistent connections with the pragmas set once (measured in ../shared/reference/perf.md: twice the
throughput and write tails of 80 ms instead of 1.5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory

from portal.settings import Settings

__all__ = [
    "PooledPostgresEngine",
    "PooledSQLiteEngine",
    "bind_engine",
    "current_engine",
    "CreateResult",
    "claim_submission",
    "complete_submission",
    "create_once",
    "is_unique_violation",
    "make_engine",
    "new_submission_key",
    "raw",
    "read",
    "write_transaction",
]

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: an acknowledged submission survives a power cut (ARCHITECTURE §5).
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA mmap_size=268435456",
)


# The loop-thread reader gives up after this long rather than block every request (see read_now).
READER_BUSY_TIMEOUT_S = 0.05


class _PooledTransaction(SQLiteTransaction):
    """A transaction that borrows a pooled connection and gives it back afterwards."""

    async def get_connection(self):
        return await self.engine._acquire()

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
        connection = self.connection
        healthy = True
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                await self.commit()
        except BaseException:
            healthy = False
            raise
        finally:
            self.engine.current_transaction.reset(self.context)
            await self.engine._release(connection, healthy=healthy)
        return exception is None


class PooledSQLiteEngine(SQLiteEngine):
    """SQLite engine with persistent connections.

    Outside ``start_connection_pool()``/``close_connection_pool()`` (CLI, migrations) it behaves
    like the stock engine, so one engine object serves both the web app and the command line.
    """

    def __init__(self, path: str, pool_size: int = 4, busy_timeout_ms: int = 5000, **kwargs):
        super().__init__(path=path, timeout=busy_timeout_ms / 1000, **kwargs)
        self.pool_size = pool_size
        self.busy_timeout_ms = busy_timeout_ms
        self._pool: asyncio.Queue | None = None
        self._connections: list[aiosqlite.Connection] = []
        self._reader: sqlite3.Connection | None = None

    async def _open(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(**self.connection_kwargs)
        connection.row_factory = dict_factory  # type: ignore[assignment]
        await connection.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        for pragma in SQLITE_PRAGMAS:
            await connection.execute(pragma)
        return connection

    async def get_connection(self):
        connection = await self._open()
        return connection

    async def start_connection_pool(self, **_: Any) -> None:
        if self._pool is not None:
            return
        pool: asyncio.Queue = asyncio.Queue()
        for _i in range(self.pool_size):
            connection = await self._open()
            self._connections.append(connection)
            pool.put_nowait(connection)
        self._pool = pool
        kwargs = {**self.connection_kwargs, "timeout": READER_BUSY_TIMEOUT_S}
        kwargs.pop("check_same_thread", None)
        reader = sqlite3.connect(**kwargs)
        reader.row_factory = dict_factory
        reader.execute("PRAGMA query_only=ON")
        for pragma in SQLITE_PRAGMAS[2:]:
            reader.execute(pragma)
        self._reader = reader

    def read_now(self, sql: str, args: tuple) -> list[dict] | None:
        """Run a small indexed read on the event-loop thread, or return None when it cannot.

        Why: an aiosqlite query is a hand-off to a worker thread and back (two wake-ups, ~100 µs
        under load), several times what the indexed read itself costs. In WAL mode a reader never
        waits for the writer, so the session look-up every request makes runs here directly. If
        the database is busy anyway (WAL recovery, rare), the caller falls back to the pool rather
        than stall the loop.
        """
        if self._reader is None:
            return None
        try:
            return self._reader.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return None

    async def close_connection_pool(self) -> None:
        pool, self._pool = self._pool, None
        connections, self._connections = self._connections, []
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        if pool is None:
            return
        for connection in connections:
            # aiosqlite's worker threads are not daemons: an unclosed one hangs interpreter exit.
            with contextlib.suppress(Exception):
                await connection.close()

    async def _acquire(self) -> aiosqlite.Connection:
        if self._pool is None:
            return await self._open()
        return await self._pool.get()

    async def _release(self, connection: aiosqlite.Connection, healthy: bool = True) -> None:
        if self._pool is None or connection not in self._connections:
            with contextlib.suppress(Exception):
                await connection.close()
            return
        if healthy:
            try:
                # A cancelled request can leave a transaction open; never hand that on.
                if connection.in_transaction:
                    await connection.execute("ROLLBACK")
            except Exception:
                healthy = False
        if not healthy:
            self._connections.remove(connection)
            with contextlib.suppress(Exception):
                await connection.close()
            connection = await self._open()
            self._connections.append(connection)
        self._pool.put_nowait(connection)

    async def _run_in_new_connection(self, query, args=None, query_type="generic", table=None):
        if self._pool is None:
            return await super()._run_in_new_connection(query, args, query_type, table)
        connection = await self._pool.get()
        healthy = True
        try:
            async with connection.execute(query, args or []) as cursor:
                return await cursor.fetchall()
        except (sqlite3.ProgrammingError, ValueError):
            healthy = False
            raise
        except asyncio.CancelledError:
            healthy = False
            raise
        finally:
            await self._release(connection, healthy=healthy)

    async def _run_in_existing_connection(self, connection, query, args=None, query_type="generic", table=None):
        # The stock engine re-sends PRAGMA foreign_keys before every statement; ours is set once.
        async with connection.execute(query, args or []) as cursor:
            return await cursor.fetchall()

    def transaction(self, transaction_type=TransactionType.deferred, allow_nested=True):
        return _PooledTransaction(engine=self, transaction_type=transaction_type, allow_nested=allow_nested)


async def _keep_session(_connection) -> None:
    return None


class PooledPostgresEngine(PostgresEngine):
    """Piccolo's PostgreSQL engine with a pool that does not reset connections with a query.

    asyncpg's default reset sends UNLISTEN/RESET ALL/advisory-unlock every time a connection goes
    back to the pool: a second round trip for every one-statement query. The portal never sets
    session state on pooled connections, and asyncpg still rolls back an open transaction before
    calling the custom reset, so skipping the query is safe.
    """

    async def start_connection_pool(self, **kwargs) -> None:
        await super().start_connection_pool(reset=_keep_session, **kwargs)


def make_engine(settings: Settings) -> Engine:
    if settings.is_postgres:
        return PooledPostgresEngine(config={"dsn": settings.database_url})
    path = settings.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return PooledSQLiteEngine(
        path=str(path),
        pool_size=settings.sqlite_pool_size,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )


def bind_engine(engine: Engine) -> None:
    """Point Piccolo (conf module, every table class, the migration runner) at ``engine``.

    Tables are module-level classes, so this is process-wide; ``create_app`` calls it with the
    engine built from its settings, which is what lets tests give each app its own database.
    """
    from piccolo.table import TABLE_REGISTRY

    from portal import piccolo_conf

    piccolo_conf.DB = engine
    for table in TABLE_REGISTRY:
        table._meta.db = engine


def current_engine() -> Engine:
    from portal import piccolo_conf

    return piccolo_conf.DB


async def start_engine(engine: Engine, settings: Settings) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=settings.pg_pool_min, max_size=settings.pg_pool_max)
    elif isinstance(engine, PooledSQLiteEngine):
        await engine.start_connection_pool()


async def stop_engine(engine: Engine) -> None:
    if isinstance(engine, PooledSQLiteEngine):
        await engine.close_connection_pool()
    elif isinstance(engine, PostgresEngine) and engine.pool is not None:
        await engine.close_connection_pool()


@contextlib.asynccontextmanager
async def write_transaction() -> AsyncIterator[Any]:
    """Open the transaction for a write that reads first.

    SQLite: ``BEGIN IMMEDIATE`` takes the write lock up front, so two read-then-write
    transactions queue instead of failing with "database is locked" on lock promotion.
    PostgreSQL: a plain transaction; callers use conditional UPDATEs, ``FOR UPDATE`` or unique
    constraints for the rows they must serialise on.
    Nested calls join the outer transaction.
    """
    engine = current_engine()
    if isinstance(engine, SQLiteEngine):
        transaction = engine.transaction(transaction_type=TransactionType.immediate)
    else:
        transaction = engine.transaction()
    async with transaction as tx:
        yield tx


def text_match(column, pattern: str):
    """Case-insensitive LIKE on both engines (SQLite's LIKE already ignores ASCII case; ILIKE is PostgreSQL's)."""
    if current_engine().engine_type == "postgres":
        return column.ilike(pattern)
    return column.like(pattern)


def in_transaction() -> bool:
    return current_engine().current_transaction.get() is not None


def is_unique_violation(exc: BaseException) -> bool:
    """True when ``exc`` is a UNIQUE constraint failure on either engine."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(exc, asyncpg.UniqueViolationError)


async def raw(sql: str, *args: Any) -> list[dict]:
    """Run a raw statement with ``{}`` placeholders on the current engine (inside any open transaction)."""
    from piccolo.querystring import QueryString

    return await current_engine().run_querystring(QueryString(sql, *args))


async def read(sql: str, *args: Any) -> list[dict]:
    """Like ``raw`` for a small, indexed SELECT that runs on every request (the session look-up).

    On the pooled SQLite engine outside a transaction it runs on the loop thread (``read_now``);
    everywhere else it is ``raw``.
    """
    engine = current_engine()
    if isinstance(engine, PooledSQLiteEngine) and engine.current_transaction.get() is None:
        rows = engine.read_now(sql.replace("{}", "?"), args)
        if rows is not None:
            return rows
    return await raw(sql, *args)


# ------------------------------------------------------------------ one-time submission keys

_KEY = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def new_submission_key() -> str:
    """Rendered into a create form as ``_submission_key``; one key, one record."""
    return secrets.token_urlsafe(24)


async def claim_submission(key: str | None, purpose: str) -> str | None:
    """Claim ``key`` inside the caller's ``write_transaction()``.

    Returns None when the key is new (go ahead and create), or the URL of what an earlier
    submission with the same key created (redirect there). A concurrent duplicate waits on the
    unique index until the first commits, then finds its row.
    A missing or malformed key (hand-made request) is not deduplicated.
    """
    from portal.clock import now

    if not key or not _KEY.match(key):
        return None
    inserted = await raw(
        "INSERT INTO submission_key (key, purpose, result_url, created_at) VALUES ({}, {}, '', {}) "
        "ON CONFLICT (key) DO NOTHING RETURNING id",
        key,
        purpose,
        now(),
    )
    if inserted:
        return None
    rows = await raw("SELECT result_url FROM submission_key WHERE key = {}", key)
    return (rows[0]["result_url"] if rows else "") or "/"


async def complete_submission(key: str | None, result_url: str) -> None:
    if key and _KEY.match(key):
        await raw("UPDATE submission_key SET result_url = {} WHERE key = {}", result_url, key)


@dataclasses.dataclass
class CreateResult:
    url: str = ""
    errors: dict = dataclasses.field(default_factory=dict)
    duplicate: bool = False
    extra: Any = None


class _Rejected(Exception):
    def __init__(self, errors: dict):
        self.errors = errors


async def create_once(
    key: str | None,
    purpose: str,
    validate: Callable[[], Awaitable[dict]],
    create: Callable[[], Awaitable[tuple[str, Any]]],
) -> CreateResult:
    """The one way a create form saves: claim the key, validate, create — in one transaction.

    Validation runs after the claim so that a double click never sees its own first copy as a
    conflict ("this code is taken"): the duplicate is recognised first and sent to the result.
    ``create`` returns (URL of the new record, anything the caller needs such as a one-time secret).
    """
    try:
        async with write_transaction():
            earlier = await claim_submission(key, purpose)
            if earlier is not None:
                return CreateResult(url=earlier, duplicate=True)
            errors = await validate()
            if errors:
                raise _Rejected(errors)  # rolls the claim back: the corrected form may reuse the key
            url, extra = await create()
            await complete_submission(key, url)
            return CreateResult(url=url, extra=extra)
    except _Rejected as rejected:
        return CreateResult(errors=rejected.errors)
