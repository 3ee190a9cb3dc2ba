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


def _count_session_reads(monkeypatch) -> list[str]:
    """Every session look-up that reaches the database (the memo's misses)."""
    from portal.auth import sessions

    reads: list[str] = []
    original = sessions.read

    async def counting(sql, *args):
        reads.append(sql)
        return await original(sql, *args)

    monkeypatch.setattr(sessions, "read", counting)
    return reads


@pytest.mark.sqlite_only
async def test_a_registration_does_not_make_signed_in_requests_read_their_session_again(app, client, monkeypatch):
    """The session row is kept in the "access" scope: commits to matters, events, SMS to citizens
    or the audit log leave it alone (on SQLite each one used to cost every request a session read)."""
    from tests.core.matters.helpers import register_at_window

    reads = _count_session_reads(monkeypatch)
    await client.login("dmz_window")
    assert await _dashboard_status(client) == 200
    before = len(reads)
    matter = await register_at_window(client)  # GET the form, POST it, commit
    assert (await client.get(f"/matters/{matter['id']}")).status_code == 200
    assert await _dashboard_status(client) == 200
    assert len(reads) == before, "no session read for four requests around a registration"


@pytest.mark.parametrize(
    ("sql", "shows"),
    [
        ("UPDATE staff_user SET display_name = '改了名字' WHERE id = ?", "改了名字"),
        ("INSERT INTO outbox (channel, staff, kind, body) VALUES ('inapp', ?, 'note', '请查收')", "消息（1 条未读）"),
        ("UPDATE center SET name = '大满镇新名字' WHERE id = (SELECT center FROM staff_user WHERE id = ?)", "大满镇新名字"),
    ],
    ids=["account renamed", "message to this officer", "center renamed"],
)
async def test_a_change_to_the_access_tables_elsewhere_shows_on_the_next_request(app, client, settings, monkeypatch, sql, shows):
    reads = _count_session_reads(monkeypatch)
    await client.login("dmz_window")
    page = await client.get("/dashboard")
    assert page.status_code == 200 and shows not in page.text
    await _settled(app.state.memo)
    before = len(reads)
    user = await StaffUser.select(StaffUser.id).where(StaffUser.username == "dmz_window").first()
    await _other_process(settings, sql, user["id"])

    async def shown() -> bool:
        return shows in (await client.get("/dashboard")).text

    await _until(shown, "changed elsewhere")
    assert len(reads) > before


@pytest.mark.sqlite_only
async def test_an_sms_to_a_citizen_is_not_an_access_change_but_a_staff_message_is(app, settings):
    memo = app.state.memo
    version = memo.version("access")
    assert version is not None
    await _other_process(settings, "INSERT INTO outbox (channel, phone, kind, body) VALUES ('sms', '13800138000', 'x', '短信')")
    await _other_process(settings, "UPDATE outbox SET status = 'sent' WHERE staff IS NULL")
    assert memo.version("access") == version
    user = await StaffUser.select(StaffUser.id).where(StaffUser.username == "dmz_window").first()
    await _other_process(settings, "UPDATE outbox SET read_at = current_timestamp WHERE staff = ?", user["id"])
    assert memo.version("access") == version, "no staff message changed"
    await _other_process(settings, "INSERT INTO outbox (channel, staff, kind, body) VALUES ('inapp', ?, 'x', '站内信')", user["id"])
    assert memo.version("access") != version


@pytest.mark.sqlite_only
async def test_without_the_change_counter_nothing_of_the_access_scope_is_reused(app, settings):
    """A database whose ``portal_change`` is gone (not migrated since, or emptied by hand) is not trusted."""
    memo = app.state.memo
    assert memo.version("access") is not None
    await _other_process(settings, "DELETE FROM portal_change")
    assert memo.version("access") is None
    calls = []

    async def compute():
        calls.append(1)
        return len(calls)

    assert await memo.remember("k", compute, scope="access") == 1
    assert await memo.remember("k", compute, scope="access") == 2


@pytest.mark.sqlite_only
async def test_a_missing_change_trigger_turns_the_access_scope_off(settings):
    """A trigger dropped (by hand, or a table rebuilt by a migration run without ``portal db migrate``)
    would let a change go uncounted: a server that starts without all of them reuses nothing of the scope."""
    from portal.app import create_app

    await _other_process(settings, "DROP TRIGGER portal_change_staff_role_delete")
    application = create_app(settings)
    async with application.lifespan():
        assert application.state.memo.version("access") is None
        assert application.state.memo.version() is not None  # the "any" scope does not depend on them


def test_every_table_the_kept_access_answers_read_is_counted():
    """The "access" scope is only as good as its table list: a join added to the session look-up (or
    to the centers' reads) must come with its table in ``ACCESS_TABLES``, or its changes go unseen."""
    import inspect
    import re

    from portal.auth import sessions
    from portal.centers import scope
    from portal.db import ACCESS_TABLES

    sources = [sessions._LOAD_SQL, inspect.getsource(scope.centers_below), inspect.getsource(scope.center_row)]
    read = {name for text in sources for name in re.findall(r'(?:FROM|JOIN)\s+"?(\w+)', text)}
    assert read and read <= set(ACCESS_TABLES), read - set(ACCESS_TABLES)
