"""Answers reused while the database is unchanged (portal.memo): never stale after a commit.

"Another process" below is a connection of its own, as a second server worker or the command
line would have: SQLite sees its commit through ``PRAGMA data_version``, PostgreSQL through the
change trigger's notification.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import asyncpg
import pytest

from portal import clock
from portal.db import current_engine, write_transaction
from portal.memo import MISSING
from portal.tables import StaffUser
from tests.conftest import LANE

NOTIFY_WAIT_S = 2.0  # PostgreSQL delivers the notification a moment after the commit


async def _other_process(settings, sql: str, *args) -> None:
    """Commit ``sql`` through a connection the app does not own."""
    if LANE == "postgres":
        connection = await asyncpg.connect(settings.database_url)
        try:
            await connection.execute(sql.replace("?", "$1"), *args)
        finally:
            await connection.close()
        return
    connection = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    try:
        connection.execute(sql, args)
    finally:
        connection.close()


async def _until(check, what: str) -> float:
    """Seconds until ``check()`` holds: at once on SQLite, within NOTIFY_WAIT_S on PostgreSQL."""
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        if LANE != "postgres" or time.monotonic() - started > NOTIFY_WAIT_S:
            raise AssertionError(f"{what}: still the old answer")
        await asyncio.sleep(0.005)


async def _settled(memo) -> None:
    """On PostgreSQL the notifications of the commits just made arrive a moment later (each one
    empties the store again, as it should): wait until the version holds still."""
    if LANE != "postgres":
        return
    deadline = time.monotonic() + NOTIFY_WAIT_S
    while time.monotonic() < deadline:
        version = memo.version()
        await asyncio.sleep(0.05)
        if memo.version() == version:
            return
    raise AssertionError("the data version kept changing with nothing written")


async def _dashboard_status(client) -> int:
    return (await client.get("/dashboard", follow_redirects=False)).status_code


async def test_a_session_deleted_by_another_process_is_refused_on_the_next_request(app, client, settings):
    await client.login("gzq_admin")
    assert await _dashboard_status(client) == 200
    assert await _dashboard_status(client) == 200  # the second view reuses the session row
    await _other_process(settings, "DELETE FROM auth_session")

    async def signed_out() -> bool:
        return await _dashboard_status(client) == 303

    await _until(signed_out, "session deleted elsewhere")
    response = await client.get("/dashboard", follow_redirects=False)
    assert response.headers["location"].startswith("/login")


@pytest.mark.parametrize(
    ("username", "sql", "answer"),
    [
        ("dmz_window", "UPDATE staff_user SET active = false WHERE id = ?", 303),  # disabled: signed out
        ("gzq_admin", 'DELETE FROM staff_role WHERE "user" = ?', 403),  # no roles left: no workbench
    ],
    ids=["account disabled", "roles removed"],
)
async def test_an_account_changed_by_another_process_applies_at_once(app, client, settings, username, sql, answer):
    await client.login(username)
    assert await _dashboard_status(client) == 200
    user = await StaffUser.select(StaffUser.id).where(StaffUser.username == username).first()
    await _other_process(settings, sql, user["id"])

    async def applied() -> bool:
        return await _dashboard_status(client) == answer

    await _until(applied, f"{username} changed elsewhere")


async def test_the_apps_own_write_is_seen_by_the_very_next_read(app):
    """No waiting for a notification after this process's own commit (read your own writes)."""
    memo = app.state.memo
    version = memo.version()
    assert version is not None
    memo.put("probe", version, "before")
    assert memo.get("probe", memo.version()) == "before"

    async with write_transaction():
        await StaffUser.update({StaffUser.display_name: "改名后"}).where(StaffUser.username == "dmz_window")
    assert memo.get("probe", memo.version()) is MISSING

    memo.put("probe", memo.version(), "again")
    await StaffUser.update({StaffUser.display_name: "再次改名"}).where(StaffUser.username == "dmz_window")
    assert memo.get("probe", memo.version()) is MISSING


async def test_an_answer_read_while_someone_commits_is_not_kept(app, settings):
    memo = app.state.memo
    version = memo.version()  # taken before the read, as remember() does
    await _other_process(settings, "UPDATE staff_user SET display_name = 'x' WHERE username = 'dmz_window'")
    await _until(lambda: _changed(memo, version), "version after another process's commit")
    memo.put("late", version, "read before the commit")
    assert memo.get("late", memo.version()) is MISSING


async def _changed(memo, version) -> bool:
    return memo.version() != version


async def test_nothing_is_reused_inside_a_transaction(app):
    """A transaction's own uncommitted writes are invisible to the version: it must read afresh."""
    memo = app.state.memo
    async with write_transaction():
        assert memo.version() is None
        called = []

        async def compute():
            called.append(1)
            return len(called)

        assert await memo.remember("k", compute) == 1
        assert await memo.remember("k", compute) == 2


async def test_workbench_cards_are_read_again_after_a_commit_or_ten_seconds(app, client):
    registry = app.state.registry
    calls = []
    collect = registry.collect

    async def counting(hook, *args, **kwargs):
        if hook == "dashboard_widgets":
            calls.append(hook)
        return await collect(hook, *args, **kwargs)

    registry.collect = counting
    await client.login("gzq_admin")
    await _settled(app.state.memo)
    clock.travel(seconds=10 - clock.now().timestamp() % 10 + 0.2)  # just after a 10-second mark
    assert await _dashboard_status(client) == 200
    assert await _dashboard_status(client) == 200
    assert len(calls) == 1, "the second view within the same seconds reuses the cards"

    clock.travel(seconds=10)
    assert await _dashboard_status(client) == 200
    assert len(calls) == 2, "figures such as 'overdue' change with time alone"

    await StaffUser.update({StaffUser.display_name: "改名"}).where(StaffUser.username == "dmz_window")
    assert await _dashboard_status(client) == 200
    assert len(calls) == 3, "any commit makes the cards stale"


@pytest.mark.postgres_only
async def test_a_table_without_the_change_trigger_turns_reuse_off(settings):
    """A database migrated by a portal without the trigger (or a table added by hand) is never trusted."""
    from portal.app import create_app

    await _other_process(settings, "CREATE TABLE hand_made (id integer)")
    application = create_app(settings)
    async with application.lifespan():
        assert application.state.memo.version() is None
        assert current_engine().data_version() is None


@pytest.mark.postgres_only
async def test_a_lost_notification_connection_stops_reuse_until_it_is_back(app, settings):
    engine = current_engine()
    assert engine.data_version() is not None
    pid = engine._listener.get_server_pid()
    await _other_process(settings, "SELECT pg_terminate_backend(?)", pid)

    async def off() -> bool:
        return engine.data_version() is None

    await _until(off, "listener terminated")
    deadline = time.monotonic() + 10
    while engine.data_version() is None:
        assert time.monotonic() < deadline, "the notification connection was not opened again"
        await asyncio.sleep(0.05)
    assert engine._listener.get_server_pid() != pid
