"""The database layer: pooled SQLite connections, write transactions, one-time submission keys."""

from __future__ import annotations

import asyncio
import threading

import pytest

from portal.db import PooledSQLiteEngine, claim_submission, complete_submission, current_engine, raw, read, write_transaction
from portal.tables import Center, SubmissionKey


sqlite_only = pytest.mark.sqlite_only


@sqlite_only
async def test_pool_keeps_connections_with_pragmas_set_once(app):
    engine = current_engine()
    assert isinstance(engine, PooledSQLiteEngine)
    before = list(engine._connections)
    threads_before = threading.active_count()
    for _ in range(50):
        await Center.select(Center.id).first()
    assert engine._connections == before and len(before) == engine.pool_size
    assert threading.active_count() == threads_before
    assert (await raw("PRAGMA journal_mode"))[0]["journal_mode"] == "wal"
    assert (await raw("PRAGMA synchronous"))[0]["synchronous"] == 2  # FULL
    assert (await raw("PRAGMA foreign_keys"))[0]["foreign_keys"] == 1
    assert (await raw("PRAGMA busy_timeout"))[0]["timeout"] == 5000


@sqlite_only
async def test_pool_closes_its_connections_at_shutdown(settings):
    from portal.app import create_app

    application = create_app(settings)
    async with application.lifespan():
        engine = application.state.engine
        connections = list(engine._connections)
        assert all(c._running for c in connections)
    assert engine._connections == [] and not any(c._running for c in connections)


async def test_fast_read_sees_committed_rows_and_a_transaction_sees_its_own(app):
    """``read`` (the session look-up's path) must never serve stale or foreign data."""
    sql = "SELECT name FROM center WHERE code = {}"
    assert (await read(sql, "GZQ"))[0]["name"] == (await Center.select(Center.name).where(Center.code == "GZQ").first())["name"]
    async with write_transaction():
        await Center.update({Center.name: "改名中"}).where(Center.code == "GZQ")
        # Inside the transaction the uncommitted name is what this request sees.
        assert (await read(sql, "GZQ"))[0]["name"] == "改名中"
    assert (await read(sql, "GZQ"))[0]["name"] == "改名中"
    assert await read(sql, "NO-SUCH") == []


@sqlite_only
async def test_fast_read_runs_on_the_loop_thread_and_closes_at_shutdown(settings):
    from portal.app import create_app

    application = create_app(settings)
    async with application.lifespan():
        engine = application.state.engine
        reader = engine._reader
        assert reader is not None
        assert engine.read_now("SELECT count(*) AS n FROM center", ())[0]["n"] >= 1
        # A write through the reader is refused: it is a query-only connection.
        assert engine.read_now("DELETE FROM center", ()) is None
        assert await Center.count() >= 1
    assert engine._reader is None
    with pytest.raises(Exception):
        reader.execute("SELECT 1")


@sqlite_only
async def test_read_then_write_transactions_do_not_lose_updates(app):
    await raw("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)")
    await raw("INSERT INTO counter (id, n) VALUES (1, 0)")

    async def increment():
        async with write_transaction():
            n = (await raw("SELECT n FROM counter WHERE id = 1"))[0]["n"]
            await asyncio.sleep(0)  # let the others run between the read and the write
            await raw("UPDATE counter SET n = {} WHERE id = 1", n + 1)

    await asyncio.gather(*[increment() for _ in range(40)])
    assert (await raw("SELECT n FROM counter WHERE id = 1"))[0]["n"] == 40


async def test_failed_transaction_writes_nothing(app):
    count = await Center.count()
    with pytest.raises(ZeroDivisionError):
        async with write_transaction():
            await Center.insert(Center(code="TMP-1", name="临时", level="village", path="/x/"))
            1 / 0
    assert await Center.count() == count


async def test_cancelled_transaction_leaves_the_pool_clean(app):
    started = asyncio.Event()

    async def slow():
        async with write_transaction():
            await Center.insert(Center(code="TMP-2", name="临时", level="village", path="/y/"))
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Every pooled connection is usable and none holds the write lock or the half-done insert.
    results = await asyncio.gather(*[Center.count().where(Center.code == "TMP-2") for _ in range(8)])
    assert results == [0] * 8
    async with write_transaction():
        await Center.insert(Center(code="TMP-3", name="临时", level="village", path="/z/"))
    assert await Center.exists().where(Center.code == "TMP-3")


async def test_submission_key_is_claimed_once(app):
    key = "k" * 30
    async with write_transaction():
        assert await claim_submission(key, "test") is None
        await complete_submission(key, "/things/1")
    async with write_transaction():
        assert await claim_submission(key, "test") == "/things/1"
    # Hand-made requests without a well-formed key are simply not deduplicated.
    async with write_transaction():
        assert await claim_submission(None, "test") is None
        assert await claim_submission("short", "test") is None
    assert await SubmissionKey.count() == 1


async def test_double_submitted_create_form_creates_one_record(app, client):
    await client.login("dmz_admin")
    dmz = await Center.select().where(Center.code == "GZQ-DMZ").first()
    form = (await client.get(f"/admin/centers/new?parent={dmz['id']}")).text
    key = form.split('name="_submission_key" value="')[1].split('"')[0]
    data = {"name": "红星村综治中心", "code": "GZQ-DMZ-HXC", "address": "", "phone": "", "hours": "", "_submission_key": key}
    responses = await asyncio.gather(*[client.submit(f"/admin/centers/new?parent={dmz['id']}", data) for _ in range(10)])
    assert [r.status_code for r in responses] == [303] * 10
    locations = {r.headers["location"] for r in responses}
    assert len(locations) == 1
    assert await Center.count().where(Center.code == "GZQ-DMZ-HXC") == 1
    # Back-and-resubmit later: the same record, not a duplicate and not an error.
    again = await client.submit(f"/admin/centers/new?parent={dmz['id']}", data)
    assert again.status_code == 303 and again.headers["location"] in locations
    assert await Center.count().where(Center.code == "GZQ-DMZ-HXC") == 1


def _hold_write_lock(path: str, seconds: float, held: threading.Event) -> None:
    """Another process's writer (the CLI, a second server): its own connection, BEGIN IMMEDIATE."""
    import sqlite3
    import time

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    held.set()
    time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()


@sqlite_only
async def test_write_waits_for_another_process_without_blocking_requests(app, settings):
    """While another connection holds SQLite's write lock, a write transaction waits for it,
    and the event loop keeps serving (reads, other requests) meanwhile."""
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(str(settings.sqlite_path), 0.4, held))
    holder.start()
    await asyncio.get_running_loop().run_in_executor(None, held.wait)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    try:
        async with write_transaction():
            await Center.insert(Center(code="TMP-W", name="临时", level="village", path="/w/"))
        assert ticks >= 10  # ~0.4 s of waiting, and the loop ran all along
        assert await read("SELECT code FROM center WHERE code = {}", "TMP-W") == [{"code": "TMP-W"}]
    finally:
        ticking.cancel()
        holder.join()


@sqlite_only
async def test_write_gives_up_like_sqlite_after_the_busy_timeout(app, settings):
    import sqlite3

    engine = current_engine()
    engine.busy_timeout_ms, engine._loop_writer.busy_timeout_ms = 200, 200
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(str(settings.sqlite_path), 1.0, held))
    holder.start()
    await asyncio.get_running_loop().run_in_executor(None, held.wait)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            async with write_transaction():
                await Center.insert(Center(code="TMP-X", name="临时", level="village", path="/x2/"))
    finally:
        holder.join()
    async with write_transaction():  # the writer is usable again afterwards
        await Center.insert(Center(code="TMP-Y", name="临时", level="village", path="/y2/"))
    assert not await Center.exists().where(Center.code == "TMP-X")
    assert await Center.exists().where(Center.code == "TMP-Y")


@sqlite_only
async def test_writers_take_turns_in_arrival_order(app):
    """The process's writers queue first come, first served (no busy-handler lottery)."""
    await raw("CREATE TABLE turn (id INTEGER PRIMARY KEY, who INTEGER)")
    order = []

    async def writer(who: int):
        async with write_transaction():
            await asyncio.sleep(0.001)
            await raw("INSERT INTO turn (who) VALUES ({})", who)
        order.append(who)

    tasks = []
    for who in range(20):
        tasks.append(asyncio.create_task(writer(who)))
        await asyncio.sleep(0)  # arrive one after another
    await asyncio.gather(*tasks)
    assert [row["who"] for row in await raw("SELECT who FROM turn ORDER BY id")] == list(range(20))
    assert order == list(range(20))


@sqlite_only
async def test_the_wal_is_checkpointed_while_the_app_writes(app, settings):
    """The writer does not checkpoint itself (it would hold everyone's turn); the pool does, so the
    WAL file stays bounded under a steady stream of writes."""
    import os

    from portal.db import CHECKPOINT_EVERY

    await raw("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)")
    for _ in range(CHECKPOINT_EVERY * 6):
        async with write_transaction():
            await raw("INSERT INTO filler (body) VALUES ({})", "x" * 3000)  # about one page each
    engine = current_engine()
    assert engine._checkpoint is not None
    await engine._checkpoint
    wal = os.path.getsize(str(settings.sqlite_path) + "-wal")
    # Unchecked, the WAL keeps every page written (22 MB here); checkpointed and restarted, it
    # holds about CHECKPOINT_EVERY commits' pages (~4 MB).
    assert wal < 8 * 1024 * 1024, wal
    assert (await raw("SELECT count(*) AS n FROM filler"))[0]["n"] == CHECKPOINT_EVERY * 6


@sqlite_only
async def test_an_error_after_sqlite_ended_the_transaction_is_the_error_raised(app):
    """The writer's ROLLBACK after SQLite has already ended the transaction is a no-op, so the
    caller sees the error that ended it, not "cannot rollback - no transaction is active"."""
    with pytest.raises(ZeroDivisionError):
        async with write_transaction():
            await Center.insert(Center(code="TMP-R", name="临时", level="village", path="/r/"))
            await raw("ROLLBACK")  # as SQLite does by itself on some errors
            1 / 0
    assert not await Center.exists().where(Center.code == "TMP-R")
    async with write_transaction():  # and the writer works afterwards
        await Center.insert(Center(code="TMP-S", name="临时", level="village", path="/s/"))
    assert await Center.exists().where(Center.code == "TMP-S")


@pytest.fixture
async def grouped(app):
    """A scratch table the group-commit tests write to, one row per writer (``who``)."""
    await raw("CREATE TABLE grouped (id INTEGER PRIMARY KEY, who INTEGER)")


def _count_group_commits(engine, monkeypatch) -> list[int]:
    """The members of every group COMMIT the writer makes."""
    sizes: list[int] = []
    original = engine._commit_done

    def counting(transactions: int) -> None:
        sizes.append(transactions)
        original(transactions)

    monkeypatch.setattr(engine, "_commit_done", counting)
    return sizes


def _rows_seen_elsewhere(path, who: int) -> int:
    """What another process reads: only committed rows."""
    import sqlite3

    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("SELECT count(*) FROM grouped WHERE who = ?", (who,)).fetchone()[0]
    finally:
        conn.close()


@sqlite_only
async def test_waiting_writers_share_one_commit_and_each_returns_once_durable(grouped, settings, monkeypatch):
    """Writers that queue for the turn join the open group; one COMMIT (one fsync) covers them all,
    and no write_transaction() returns before its row is visible to another process."""
    sizes = _count_group_commits(current_engine(), monkeypatch)
    seen = {}

    async def writer(who: int):
        async with write_transaction():
            await raw("INSERT INTO grouped (who) VALUES ({})", who)
        seen[who] = _rows_seen_elsewhere(settings.sqlite_path, who)

    await asyncio.gather(*(writer(who) for who in range(20)))
    assert seen == {who: 1 for who in range(20)}
    assert sum(sizes) == 20 and len(sizes) < 5, sizes


@sqlite_only
async def test_a_failed_writer_in_a_group_undoes_only_its_own_work(grouped, monkeypatch):
    sizes = _count_group_commits(current_engine(), monkeypatch)

    async def writer(who: int):
        async with write_transaction():
            await raw("INSERT INTO grouped (who) VALUES ({})", who)
            if who == 2:
                raise ValueError("this request's own mistake")
            async with write_transaction():  # nested: joins, as before
                await raw("INSERT INTO grouped (who) VALUES ({})", who + 100)

    results = await asyncio.gather(*(writer(who) for who in range(1, 5)), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["NoneType", "ValueError", "NoneType", "NoneType"]
    rows = sorted(row["who"] for row in await raw("SELECT who FROM grouped"))
    assert rows == [1, 3, 4, 101, 103, 104]
    assert len(sizes) == 1, "the four were one group"


@sqlite_only
async def test_when_the_group_commit_fails_every_member_fails_and_nothing_is_kept(app):
    """A COMMIT that fails (here: a deferred foreign key) fails the whole group, as each member's own
    COMMIT would have failed it; the writer is usable afterwards."""
    import sqlite3

    await raw("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    await raw("CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id))")

    async def plain():
        async with write_transaction():
            await raw("INSERT INTO parent (id) VALUES (1)")

    async def dangling():
        async with write_transaction():
            await raw("PRAGMA defer_foreign_keys = ON")
            await raw("INSERT INTO child (id, parent) VALUES (1, 42)")

    results = await asyncio.gather(plain(), dangling(), return_exceptions=True)
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results), results
    assert await raw("SELECT id FROM parent") == [] and await raw("SELECT id FROM child") == []
    await plain()
    assert await raw("SELECT id FROM parent") == [{"id": 1}]


@sqlite_only
async def test_a_write_outside_a_transaction_waits_for_its_commit(grouped, settings):
    """A single statement (Piccolo's autocommit write) is a member of its own: durable on return."""

    async def one(who: int) -> int:
        await raw("INSERT INTO grouped (who) VALUES ({})", who)
        return _rows_seen_elsewhere(settings.sqlite_path, who)

    assert await asyncio.gather(*(one(who) for who in range(10))) == [1] * 10


@sqlite_only
async def test_a_member_that_cannot_be_undone_ends_its_group_and_the_writer_recovers(grouped):
    """If rolling back to a member's savepoint fails while the transaction is still open, the whole
    group is rolled back and failed; the next write opens a new group instead of meeting a
    transaction left open."""
    import sqlite3

    async def fine():
        async with write_transaction():
            await raw("INSERT INTO grouped (who) VALUES (1)")

    async def broken():
        async with write_transaction():
            await raw("INSERT INTO grouped (who) VALUES (2)")
            await raw("RELEASE SAVEPOINT portal_write")  # its savepoint is gone: nothing to roll back to
            raise ValueError("and then it fails")

    results = await asyncio.gather(fine(), broken(), return_exceptions=True)
    assert isinstance(results[0], sqlite3.OperationalError) and isinstance(results[1], ValueError)
    assert await raw("SELECT who FROM grouped") == []
    await fine()
    assert await raw("SELECT who FROM grouped") == [{"who": 1}]


@sqlite_only
async def test_a_commit_that_finished_is_reported_even_if_its_task_was_cancelled(grouped, monkeypatch):
    """Shutting down can cancel the commit task while it waits for its COMMIT: the members are told
    what happened to their rows (committed), not that the commit was interrupted."""
    engine = current_engine()
    writer = engine._loop_writer
    finish = writer._off_loop

    async def commit_then_linger(sql, args):
        rows = await finish(sql, args)
        await asyncio.sleep(0.5)  # the cancellation arrives here, after the COMMIT
        return rows

    monkeypatch.setattr(writer, "_off_loop", commit_then_linger)

    async def member():
        async with write_transaction():
            await raw("INSERT INTO grouped (who) VALUES (1)")

    task = asyncio.create_task(member())
    await asyncio.sleep(0.1)
    engine._committer.cancel()
    await task  # no error
    assert await raw("SELECT who FROM grouped") == [{"who": 1}]
