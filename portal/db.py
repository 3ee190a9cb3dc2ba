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
import logging
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory

from portal.settings import Settings

logger = logging.getLogger("portal.db")

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
    "insert",
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


_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)

# Write transactions between two checkpoints (~ 1,000-2,000 WAL pages, about SQLite's own default
# of 1,000: a few pages each, fewer in a group, whose members share index pages). Counted per
# transaction, not per COMMIT: a group commit of 20 registrations writes ~150 pages, and checkpoints
# 300 groups apart (~40,000 pages) held the writer's turn for 80 ms at the end of each.
CHECKPOINT_EVERY = 300

# The loop-thread reader gives up after this long rather than block every request (see read_now).
READER_BUSY_TIMEOUT_S = 0.05


class _LoopWriter:
    """The process's one writing connection, driven from the event-loop thread.

    Why: a write transaction holds SQLite's single write lock from BEGIN to COMMIT, so everything
    that lengthens it caps the write rate of the whole portal. Through aiosqlite every statement
    is a hand-off to a thread and back; on a busy machine each wake-up waits for a CPU, and a
    registration's ~15 statements kept the lock for several milliseconds of pure waiting. The
    portal's statements inside a write transaction are short by design (indexed, a few rows), so
    they run here directly, microseconds each; only what can wait runs off the loop: COMMIT (the
    fsync of ``synchronous=FULL``) in a thread, and BEGIN IMMEDIATE, when another process holds the
    lock, is retried with ``asyncio.sleep`` up to the busy timeout. It is used only while holding
    ``PooledSQLiteEngine.writing()``, so it never runs two things at once; several requests' write
    transactions share one of its transactions (``_Group``).
    """

    _OFF_LOOP = ("COMMIT", "END")

    def __init__(self, connection: sqlite3.Connection, busy_timeout_ms: int):
        self.connection = connection
        self.busy_timeout_ms = busy_timeout_ms
        self._pending: asyncio.Future | None = None

    @property
    def in_transaction(self) -> bool:
        return self.connection.in_transaction

    async def _off_loop(self, sql: str, args) -> list:
        loop = asyncio.get_running_loop()
        future = self._pending = loop.run_in_executor(None, lambda: self.connection.execute(sql, args).fetchall())
        try:
            # A cancelled request must not leave the statement running unseen: wait for it, then raise.
            return await asyncio.shield(future)
        finally:
            if not future.done():
                await asyncio.wait([future])
            self._pending = None

    async def _begin(self, sql: str) -> None:
        deadline = asyncio.get_running_loop().time() + self.busy_timeout_ms / 1000
        while True:
            try:
                self.connection.execute(sql)
                return
            except sqlite3.OperationalError as exc:
                # Another process (the CLI, a second server) is writing; this one never blocks the loop.
                if "locked" not in str(exc) or asyncio.get_running_loop().time() >= deadline:
                    raise
            await asyncio.sleep(0.002)

    async def execute(self, sql: str, args=()) -> list:
        head = sql.lstrip()[:6].upper()
        if head.startswith("BEGIN"):
            await self._begin(sql)
            return []
        if head.startswith("ROLLBA") and not self.connection.in_transaction:
            # SQLite already rolled back (some errors end the transaction themselves): do not let
            # "no transaction is active" replace the error that caused it.
            return []
        if head.startswith(self._OFF_LOOP) or not self.connection.in_transaction:
            return await self._off_loop(sql, args)  # a commit (the fsync), or outside any transaction
        return self.connection.execute(sql, args).fetchall()

    execute_fetchall = execute

    async def close(self) -> None:
        """At shutdown: wait for a statement still running, undo a transaction left open, close."""
        if self._pending is not None:
            await asyncio.wait([self._pending])
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")
        self.connection.close()


class _PooledTransaction(SQLiteTransaction):
    """A read transaction on a pooled connection, given back afterwards (writes: ``_GroupTransaction``)."""

    async def get_connection(self):
        if self.transaction_type == TransactionType.immediate and self.engine._loop_writer is not None:
            raise RuntimeError("open write transactions with write_transaction()")
        return await self.engine._acquire()

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
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
            await self._give_back(healthy)
        return exception is None

    async def _give_back(self, healthy: bool) -> None:
        await self.engine._release(self.connection, healthy=healthy)


class _Group:
    """The writer's open transaction, shared by the write transactions of several requests.

    Why (group commit): with ``synchronous=FULL`` every COMMIT waits for the disk, and the writer
    cannot start the next transaction meanwhile, so at 32 concurrent registrations the loop sat
    idle ~15 % of the time waiting for fsyncs. Each request's write transaction is instead a
    savepoint in the group's transaction: the request releases its savepoint (or rolls back to
    it: its own work only) and hands the turn on; whoever was already waiting for the turn joins
    the group; then one COMMIT makes the whole group durable, and only then does every member's
    ``write_transaction()`` return. If that COMMIT fails, every member fails, as its own would.
    """

    __slots__ = ("committed", "members")

    def __init__(self) -> None:
        self.committed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.members = 0


class _GroupTransaction(_PooledTransaction):
    """One request's write transaction: a savepoint in the writer's group (see ``_Group``)."""

    group: _Group | None = None

    async def get_connection(self):
        if not self.engine._writer.locked():
            raise RuntimeError("open write transactions with write_transaction()")
        return self.engine._loop_writer

    async def begin(self):
        self.group = await self.engine._join_group()

    async def commit(self):
        try:
            await self.connection.execute("RELEASE SAVEPOINT portal_write")
        except BaseException:
            await self.rollback()
            raise
        self._committed = True

    async def rollback(self):
        self._rolled_back = True
        writer = self.connection
        try:
            if writer.in_transaction:
                await writer.execute("ROLLBACK TO SAVEPOINT portal_write")
                await writer.execute("RELEASE SAVEPOINT portal_write")
                return
        except sqlite3.Error:
            pass
        # SQLite ended (or could not undo) the whole transaction: the other members' work is gone too.
        with contextlib.suppress(sqlite3.Error):
            if writer.in_transaction:
                writer.connection.execute("ROLLBACK")
        self.engine._fail_group(sqlite3.OperationalError("the write transaction was rolled back"))

    async def _give_back(self, healthy: bool) -> None:
        """Nothing to give back: the writer stays with the group until its COMMIT."""


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
        self._writer: asyncio.Lock | None = None
        self._loop_writer: _LoopWriter | None = None
        self._commits = 0
        self._checkpoint: asyncio.Task | None = None
        self._group: _Group | None = None
        self._committer: asyncio.Task | None = None
        self._counted: frozenset[str] = frozenset()

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
        self._writer = asyncio.Lock()
        kwargs = {**self.connection_kwargs, "timeout": 0, "check_same_thread": False}
        writer = sqlite3.connect(**kwargs)
        writer.row_factory = dict_factory
        for pragma in SQLITE_PRAGMAS:
            writer.execute(pragma)
        # Checkpoints (copying the WAL into the database file, with an fsync) are the writer's
        # slowest commits if it runs them itself: everyone's turn would wait (see _run_checkpoint).
        writer.execute("PRAGMA wal_autocheckpoint=0")
        self._loop_writer = _LoopWriter(writer, self.busy_timeout_ms)
        kwargs = {**self.connection_kwargs, "timeout": READER_BUSY_TIMEOUT_S}
        kwargs.pop("check_same_thread", None)
        reader = sqlite3.connect(**kwargs)
        reader.row_factory = dict_factory
        reader.execute("PRAGMA query_only=ON")
        for pragma in SQLITE_PRAGMAS[2:]:
            reader.execute(pragma)
        self._reader = reader
        self._counted = _counted_scopes(reader)

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

    def data_version(self, scope: str = "any") -> int | None:
        """A number that changes whenever any connection (this process's writer, another process)
        commits a change to ``scope``'s data (see ``portal.memo``).

        Asked of the loop's read-only connection, which never writes itself (SQLite does not count
        a connection's own commits in ``data_version``). None outside the pool, or when the
        scope's counter is missing (a database not migrated since): nothing may be reused then.
        """
        if self._reader is None or (scope != "any" and scope not in self._counted):
            return None
        try:
            if scope == "any":
                return self._reader.execute("PRAGMA data_version").fetchone()["data_version"]
            row = self._reader.execute("SELECT n FROM portal_change WHERE scope = ?", (scope,)).fetchone()
        except sqlite3.Error:
            return None
        return None if row is None else row["n"]

    def _commit_done(self, transactions: int) -> None:
        self._commits += transactions
        if self._commits >= CHECKPOINT_EVERY and (self._checkpoint is None or self._checkpoint.done()):
            self._commits = 0
            self._checkpoint = asyncio.get_running_loop().create_task(self._run_checkpoint(), name="wal-checkpoint")

    async def _run_checkpoint(self) -> None:
        """Copy the WAL into the database file without holding up the writers, then let the WAL restart.

        A pooled connection copies the bulk (PASSIVE: it never waits for or blocks the writer).
        SQLite starts the WAL file over only when a write begins with every frame copied, which a
        steady stream of writes would never allow; so the writer, in its turn, copies the few
        frames written meanwhile (a short stall instead of the whole checkpoint's).
        """
        if self._pool is None:
            return
        with contextlib.suppress(sqlite3.Error):
            await self._run_pooled("PRAGMA wal_checkpoint(PASSIVE)", [])
            async with self.writing():
                await self._commit_group()  # a checkpoint cannot run inside the group's transaction
                if self._loop_writer is not None:
                    await self._loop_writer._off_loop("PRAGMA wal_checkpoint(PASSIVE)", ())

    async def _join_group(self) -> _Group:
        """Holding the turn: open the group's transaction if none is open, then the caller's savepoint."""
        writer = self._loop_writer
        if self._group is not None and not writer.in_transaction:
            self._fail_group(sqlite3.OperationalError("the write transaction was rolled back"))
        if self._group is None:
            await writer.execute("BEGIN IMMEDIATE")  # waits (off the lock) while another process writes
            group = self._group = _Group()
            self._committer = asyncio.get_running_loop().create_task(self._commit_later(group), name="group-commit")
        await writer.execute("SAVEPOINT portal_write")
        self._group.members += 1
        return self._group

    async def _commit_later(self, group: _Group) -> None:
        """Commit ``group`` at this task's turn: everyone who was waiting for the turn before it has joined."""
        await self._writer.acquire()  # no busy timeout: the members are waiting for this
        try:
            if self._group is group:
                await self._commit_group()
        except Exception as exc:  # the members have it (``_Group.committed``); nobody awaits this task
            logger.error("group commit failed: %s", exc)
        finally:
            self._writer.release()

    async def _commit_group(self) -> None:
        """Holding the turn: make the open group durable (COMMIT, off the loop) and tell its members."""
        group, self._group = self._group, None
        if group is None:
            return
        writer = self._loop_writer
        try:
            if not writer.in_transaction:
                raise sqlite3.OperationalError("the write transaction was rolled back")
            await writer.execute("COMMIT")
            self._commit_done(group.members)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) and not writer.in_transaction:
                # Cancelled while waiting for it, but the COMMIT itself finished (``_off_loop`` waits
                # for the statement) and succeeded: the members' work is on disk.
                group.committed.set_result(None)
                raise
            with contextlib.suppress(sqlite3.Error):
                if writer.in_transaction:
                    writer.connection.execute("ROLLBACK")
            self._fail(group, exc if isinstance(exc, Exception) else sqlite3.OperationalError("the commit was interrupted"))
            raise
        group.committed.set_result(None)

    def _fail_group(self, exc: Exception) -> None:
        group, self._group = self._group, None
        if group is not None:
            self._fail(group, exc)

    @staticmethod
    def _fail(group: _Group, exc: Exception) -> None:
        if not group.committed.done():
            group.committed.set_exception(exc)
            group.committed.exception()  # a member cancelled meanwhile must not make this "never retrieved"

    async def wait_committed(self, group: _Group) -> None:
        """A member's last step: wait (outside the turn) until its group's COMMIT is done."""
        await asyncio.shield(group.committed)

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Hold this process's turn to write to the database.

        Why: SQLite has one writer. Without a queue in the process, a writer that finds the lock
        taken waits in SQLite's busy handler, which sleeps (up to 100 ms at a time) while holding
        a pooled connection, and whoever wakes first wins: measured 1 s write tails with 32
        concurrent registrations. An ``asyncio.Lock`` hands the turn over first come, first served
        the moment the previous writer commits. Other processes (the CLI, a second server) still
        meet the busy timeout. Waiting longer than the busy timeout fails the same way SQLite would.
        """
        if self._writer is None:
            yield
            return
        try:
            if self._writer.locked():
                await asyncio.wait_for(self._writer.acquire(), self.busy_timeout_ms / 1000)
            else:
                await self._writer.acquire()  # free: taken at once, without a trip through the loop
        except asyncio.TimeoutError:
            raise sqlite3.OperationalError("database is locked (waited for this process's writer)") from None
        try:
            yield
        finally:
            self._writer.release()

    async def close_connection_pool(self) -> None:
        for task in (self._committer, self._checkpoint):
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        self._committer = self._checkpoint = None
        self._writer = None
        writer, self._loop_writer = self._loop_writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer.close()
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
        if _WRITES.match(query) and self._loop_writer is not None:
            # A write outside write_transaction() is one of its own (the turn, the group's commit).
            async with write_transaction():
                return await self._loop_writer.execute(query, args or ())
        return await self._run_pooled(query, args)

    async def _run_pooled(self, query, args):
        connection = await self._pool.get()
        healthy = True
        try:
            return await connection.execute_fetchall(query, args or [])
        except (sqlite3.ProgrammingError, ValueError):
            healthy = False
            raise
        except asyncio.CancelledError:
            healthy = False
            raise
        finally:
            await self._release(connection, healthy=healthy)

    async def _run_in_existing_connection(self, connection, query, args=None, query_type="generic", table=None):
        # One hand-off to the connection's thread per statement (execute + fetch + close would be
        # three); the stock engine also re-sends PRAGMA foreign_keys every time, ours is set once.
        return await connection.execute_fetchall(query, args or [])

    def transaction(self, transaction_type=TransactionType.deferred, allow_nested=True):
        return _PooledTransaction(engine=self, transaction_type=transaction_type, allow_nested=allow_nested)


async def _keep_session(_connection) -> None:
    return None


# PostgreSQL's counterpart of SQLite's ``PRAGMA data_version`` (see ``portal.memo``): every table
# carries a statement-level trigger that notifies this channel; PostgreSQL delivers the
# notification only when the transaction commits (and once per transaction).
CHANGE_CHANNEL = "portal_data_changed"

_CHANGE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION portal_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANGE_CHANNEL}', '');
    RETURN NULL;
END $$
"""

_TABLES_WITHOUT_SIGNAL = """
SELECT c.relname FROM pg_class c
WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'portal_data_changed')
ORDER BY c.relname
"""


# The tables a signed-in request's Principal and its centers are read from (``portal.auth.sessions``,
# ``portal.centers.scope``): the memo's "access" scope. On SQLite their triggers count row changes in
# ``portal_change``.
ACCESS_TABLES = ("auth_session", "staff_user", "staff_role", "center", "center_module", "outbox")

# Only the rows that matter, per table and INSERT / UPDATE / DELETE: of the outbox, messages to
# staff (the unread count), not the stream of SMS to citizens.
_ACCESS_ROWS = {
    "outbox": ("NEW.staff IS NOT NULL", "NEW.staff IS NOT NULL OR OLD.staff IS NOT NULL", "OLD.staff IS NOT NULL"),
}


def _access_triggers() -> list[tuple[str, str]]:
    """(name, CREATE statement) of every trigger that counts changes to the "access" tables."""
    triggers = []
    for table in ACCESS_TABLES:
        for event, condition in zip(("INSERT", "UPDATE", "DELETE"), _ACCESS_ROWS.get(table, ("", "", ""))):
            name = f"portal_change_{table}_{event.lower()}"
            when = f" WHEN {condition}" if condition else ""
            triggers.append((name, f'CREATE TRIGGER {name} AFTER {event} ON "{table}"{when} '
                                   "BEGIN UPDATE portal_change SET n = n + 1 WHERE scope = 'access'; END"))
    return triggers


async def _ensure_sqlite_change_counts(engine: SQLiteEngine) -> None:
    await engine.run_ddl("CREATE TABLE IF NOT EXISTS portal_change (scope TEXT PRIMARY KEY, n INTEGER NOT NULL)")
    await engine.run_ddl("INSERT OR IGNORE INTO portal_change (scope, n) VALUES ('access', 0)")
    for name, create in _access_triggers():
        # Dropped and made again: a changed definition here reaches existing databases, and a
        # table rebuilt by a migration (SQLite drops its triggers with it) gets them back.
        await engine.run_ddl(f"DROP TRIGGER IF EXISTS {name}")
        await engine.run_ddl(create)


def _counted_scopes(reader: sqlite3.Connection) -> frozenset[str]:
    """The scopes whose change counts can be trusted: all their triggers are in place. A database
    not migrated since (or a trigger dropped by hand) reuses nothing of them, as on PostgreSQL."""
    present = {row["name"] for row in reader.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    missing = [name for name, _create in _access_triggers() if name not in present]
    if missing:
        logger.warning(
            "change-count triggers missing (%s): run `portal db migrate`; session rows are read on every request",
            ", ".join(missing[:3]),
        )
        return frozenset()
    return frozenset({"access"})


async def ensure_change_signals() -> None:
    """Install what the memo's data versions are read from (see ``portal.memo``).

    PostgreSQL: every table (core's, every plugin's) gets the trigger that notifies the change
    channel; a server that finds a table without it reuses nothing (``PooledPostgresEngine._listen``).
    SQLite: the "access" tables get the triggers that count their changes. Run by
    ``portal db migrate`` after the migrations, so a plugin's tables need nothing of their own.
    """
    engine = current_engine()
    if isinstance(engine, SQLiteEngine):
        await _ensure_sqlite_change_counts(engine)
        return
    if not isinstance(engine, PostgresEngine):
        return
    from piccolo.querystring import QueryString

    await engine.run_ddl(_CHANGE_FUNCTION)
    for row in await engine.run_querystring(QueryString(_TABLES_WITHOUT_SIGNAL)):
        name = row["relname"].replace('"', '""')
        await engine.run_ddl(
            f'CREATE TRIGGER portal_data_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{name}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION portal_data_changed()"
        )


class _SignallingTransaction(PostgresTransaction):
    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        try:
            return await super().__aexit__(exception_type, exception, traceback)
        finally:
            if self._parent is None:
                self.engine._changed()


class PooledPostgresEngine(PostgresEngine):
    """Piccolo's PostgreSQL engine with a pool that does not reset connections with a query, and
    a data version for ``portal.memo``.

    asyncpg's default reset sends UNLISTEN/RESET ALL/advisory-unlock every time a connection goes
    back to the pool: a second round trip for every one-statement query. The portal never sets
    session state on pooled connections, and asyncpg still rolls back an open transaction before
    calling the custom reset, so skipping the query is safe.

    The data version counts the change notifications (other processes' commits, and this one's)
    plus this process's own transactions and writes as they finish: a notification arrives a
    moment after the commit, and a request that follows its own write must not read around it.
    """

    _changes = 0
    _listener = None
    _relisten: asyncio.Task | None = None

    async def start_connection_pool(self, **kwargs) -> None:
        await super().start_connection_pool(reset=_keep_session, **kwargs)
        await self._listen()

    async def close_connection_pool(self) -> None:
        relisten, self._relisten = self._relisten, None
        if relisten is not None:
            relisten.cancel()
            with contextlib.suppress(BaseException):
                await relisten
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.remove_termination_listener(self._lost)  # closing it is not losing it
            with contextlib.suppress(Exception):
                await listener.close()
        await super().close_connection_pool()

    async def _listen(self) -> None:
        import asyncpg

        try:
            connection = await asyncpg.connect(**self.config)
        except (OSError, asyncpg.PostgresError) as exc:
            logger.warning("no change notifications (%s): database answers are not reused", exc)
            return
        try:
            missing = await connection.fetch(_TABLES_WITHOUT_SIGNAL)
            if missing:
                logger.warning(
                    "tables without the change trigger (%s): run `portal db migrate`; database answers are not reused",
                    ", ".join(row["relname"] for row in missing[:5]),
                )
                await connection.close()
                return
            await connection.add_listener(CHANGE_CHANNEL, self._changed)
        except BaseException:
            connection.terminate()
            raise
        connection.add_termination_listener(self._lost)
        self._changes += 1  # anything kept from before (while not listening) is stale
        self._listener = connection

    def _changed(self, *_notification) -> None:
        self._changes += 1

    def _lost(self, _connection) -> None:
        self._listener = None
        if self.pool is not None and self._relisten is None:
            self._relisten = asyncio.get_running_loop().create_task(self._listen_again(), name="listen-again")

    async def _listen_again(self) -> None:
        try:
            while self.pool is not None and self._listener is None:
                await asyncio.sleep(2)
                try:
                    await self._listen()
                except Exception as exc:  # noqa: BLE001 - keep trying while the app runs
                    logger.warning("change notifications not restored yet: %s", exc)
        finally:
            self._relisten = None

    def data_version(self, scope: str = "any") -> int | None:
        # Every scope shares the one count: this process's own transactions do not say which
        # tables they touched, and a narrower signal would not pay for its round trip here.
        listener = self._listener
        if listener is None or listener.is_closed():
            return None
        return self._changes

    async def _run_in_pool(self, query, args=None):
        try:
            return await super()._run_in_pool(query, args)
        finally:
            if not query.lstrip()[:6].upper().startswith("SELECT"):
                self._changes += 1

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return _SignallingTransaction(engine=self, allow_nested=allow_nested)


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
    transactions queue instead of failing with "database is locked" on lock promotion. In the app
    the transaction is a savepoint of the writer's group and returns once the group's COMMIT is on
    disk (see ``_Group``).
    PostgreSQL: a plain transaction; callers use conditional UPDATEs, ``FOR UPDATE`` or unique
    constraints for the rows they must serialise on.
    Nested calls join the outer transaction.
    """
    engine = current_engine()
    if isinstance(engine, PooledSQLiteEngine) and engine.current_transaction.get() is None:
        if engine._loop_writer is None:  # no pool (the command line): a transaction of its own
            async with engine.transaction(transaction_type=TransactionType.immediate) as tx:
                yield tx
            return
        transaction = _GroupTransaction(engine=engine, transaction_type=TransactionType.immediate)
        async with engine.writing(), transaction as tx:
            yield tx
        await engine.wait_committed(transaction.group)  # durable before the caller goes on
        return
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


def is_foreign_key_violation(exc: BaseException) -> bool:
    """True when ``exc`` is a FOREIGN KEY constraint failure (a referenced row) on either engine."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "FOREIGN KEY" in str(exc)
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(exc, asyncpg.ForeignKeyViolationError)


_QMARK: dict[str, str] = {}


def _qmark(sql: str) -> str:
    """``{}`` placeholders as SQLite's ``?`` (cached: the portal's statements are a fixed set)."""
    query = _QMARK.get(sql)
    if query is None:
        query = sql.replace("{}", "?")
        if len(_QMARK) < 2000:
            _QMARK[sql] = query
    return query


async def raw(sql: str, *args: Any) -> list[dict]:
    """Run a raw statement with ``{}`` placeholders on the current engine (inside any open transaction).

    On the pooled SQLite engine the statement goes straight to the connection: building a
    Piccolo ``QueryString`` for SQL that is already written costs more than running it.
    """
    engine = current_engine()
    if isinstance(engine, PooledSQLiteEngine) and engine._pool is not None:
        query = _qmark(sql)
        transaction = engine.current_transaction.get()
        if transaction is not None:
            return await engine._run_in_existing_connection(transaction.connection, query, args)
        return await engine._run_in_new_connection(query, args)
    from piccolo.querystring import QueryString

    return await engine.run_querystring(QueryString(sql, *args))


async def read(sql: str, *args: Any) -> list[dict]:
    """Like ``raw`` for a small, indexed SELECT that runs on every request (the session look-up).

    On the pooled SQLite engine outside a transaction it runs on the loop thread (``read_now``);
    everywhere else it is ``raw``.
    """
    engine = current_engine()
    if isinstance(engine, PooledSQLiteEngine) and engine.current_transaction.get() is None:
        rows = engine.read_now(_qmark(sql), args)
        if rows is not None:
            return rows
    return await raw(sql, *args)


_INSERTS: dict[tuple[str, tuple[str, ...], str, str], str] = {}


async def insert(table: str, row: dict[str, Any], returning: str = "id", on_conflict: str = "") -> Any:
    """Insert one row given as {column: value} and return its ``returning`` column.

    For the statements every registration runs: the SQL is built once per table and column set
    and goes through ``raw``, where Piccolo's ``insert`` assembles it anew from the table's
    columns on every call (the largest Python cost of a registration in a profile).
    With ``on_conflict`` (a unique column) a row whose value is taken is not inserted and the
    answer is None, without the error that would end a PostgreSQL transaction.
    """
    columns = tuple(row)
    key = (table, columns, returning, on_conflict)
    sql = _INSERTS.get(key)
    if sql is None:
        names = ", ".join(f'"{column}"' for column in columns)
        values = ", ".join("{}" for _ in columns)
        conflict = f' ON CONFLICT ("{on_conflict}") DO NOTHING' if on_conflict else ""
        sql = _INSERTS[key] = f'INSERT INTO "{table}" ({names}) VALUES ({values}){conflict} RETURNING "{returning}"'
    rows = await raw(sql, *row.values())
    return rows[0][returning] if rows else None


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
