"""The portal command line against the test's own database."""

from __future__ import annotations

import asyncio
import re

from click.testing import CliRunner

from portal.cli import cli
from portal.db import bind_engine, make_engine
from portal.demo import DEMO_USERS
from portal.modules import BUNDLED_PLUGINS
from portal.tables import AuditLog, Center, CenterModule, StaffRole, StaffUser


def run(settings, *args: str, plugins: str = "tests.sample_module", blocked: str = ""):
    env = {
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_PLUGINS": plugins,
        "PORTAL_BLOCKED_PLUGINS": blocked,
        "PORTAL_LOAD_ENTRYPOINTS": "0",
    }
    return CliRunner().invoke(cli, list(args), env=env)


def query(settings, fn):
    bind_engine(make_engine(settings))
    return asyncio.run(fn())


def test_migrate_and_demo_load_are_idempotent(settings):
    first = run(settings, "db", "migrate")
    assert first.exit_code == 0 and "up to date" in first.output
    result = run(settings, "demo", "load")
    assert result.exit_code == 0
    # The test database has the demo people but no matters: the first run adds the demo matters only.
    assert "0 centers, 0 departments, 0 accounts, 5 matters created" in result.output
    again = run(settings, "demo", "load")
    assert again.exit_code == 0 and "0 accounts, 0 matters created" in again.output

    async def counts():
        return await Center.count(), await StaffUser.count()

    assert query(settings, counts) == (10, len(DEMO_USERS))


def test_user_create_prints_a_one_time_password(settings):
    result = run(settings, "user", "create", "--username", "Zhaolei", "--name", "赵磊", "--center", "GZQ-DZZ", "--role", "window_staff", "--role", "leader")
    assert result.exit_code == 0, result.output
    password = re.search(r"temporary password \(shown once\): (\S+)", result.output).group(1)

    async def check():
        user = await StaffUser.select().where(StaffUser.username == "zhaolei").first()
        roles = {r["role"] for r in await StaffRole.select().where(StaffRole.user == user["id"])}
        audited = await AuditLog.exists().where((AuditLog.action == "staff.created") & (AuditLog.actor.like("cli:%")))
        return user, roles, audited

    user, roles, audited = query(settings, check)
    assert roles == {"window_staff", "leader"} and user["must_change_password"] and audited
    assert password not in user["password_hash"]


def test_user_create_refuses_bad_input(settings):
    result = run(settings, "user", "create", "--username", "dmz_window", "--name", "x", "--center", "GZQ", "--role", "window_staff")
    assert result.exit_code != 0 and "username" in result.output
    result = run(settings, "user", "create", "--username", "newbie", "--name", "x", "--center", "NOPE", "--role", "window_staff")
    assert result.exit_code != 0 and "no center with code NOPE" in result.output


def test_modules_list_enable_disable(settings):
    listing = run(settings, "modules", "list")
    assert listing.exit_code == 0 and "sample_module" in listing.output and "not allowed anywhere" in listing.output
    assert run(settings, "modules", "enable", "sample_module", "--center", "GZQ-DMZ").exit_code == 0
    listing = run(settings, "modules", "list", "--center", "GZQ-DMZ")
    assert "GZQ-DMZ(on)" in listing.output
    assert run(settings, "modules", "disable", "sample_module", "--center", "GZQ-DMZ").exit_code == 0

    async def state():
        return await CenterModule.select(CenterModule.allowed, CenterModule.enabled).where(
            CenterModule.module == "sample_module"
        ).first()

    assert query(settings, state) == {"allowed": True, "enabled": False}
    missing = run(settings, "modules", "enable", "no_such", "--center", "GZQ")
    assert missing.exit_code != 0 and "no installed module" in missing.output
    # The bundled modules (plugins/…) are installed unless blocked.
    bundled = ",".join(package.rsplit(".", 1)[-1] for package in BUNDLED_PLUGINS)
    none_installed = run(settings, "modules", "list", plugins="", blocked=bundled)
    assert "no optional modules are installed" in none_installed.output


def test_demo_remove_takes_every_demo_account_out_of_service(settings):
    """Production refuses demo accounts and says "run: portal demo remove": that must then work, even
    after demo accounts made records (here: a matter registered by the district's window staff)."""
    from portal.matters.tables import Matter

    run(settings, "demo", "load")

    async def window_staff_registered_one() -> None:
        staff = await StaffUser.select(StaffUser.id).where(StaffUser.username == "gzq_window").first()
        matter = await Matter.select(Matter.id).order_by(Matter.id).first()
        await Matter.update({Matter.registered_by: staff["id"]}).where(Matter.id == matter["id"])

    query(settings, window_staff_registered_one)

    async def authors() -> set[str]:
        rows = await StaffUser.select(StaffUser.username).where(
            StaffUser.id.is_in([m["registered_by"] for m in await Matter.select(Matter.registered_by)
                                if m["registered_by"]] or [0]))
        return {row["username"] for row in rows}

    assert "gzq_window" in query(settings, authors)
    result = run(settings, "demo", "remove")
    assert result.exit_code == 0, result.output
    deleted, deactivated = map(int, re.match(r"(\d+) demo accounts deleted, (\d+) deactivated", result.output).groups())
    assert deleted + deactivated == len(DEMO_USERS) and deactivated >= 1

    async def state():
        return await StaffUser.select(StaffUser.username, StaffUser.is_demo, StaffUser.active, StaffUser.password_hash)

    rows = {row["username"]: row for row in query(settings, state)}
    assert not any(row["is_demo"] for row in rows.values())
    kept = set(rows) & {u for u, *_ in DEMO_USERS}
    assert "gzq_window" in kept and len(kept) == deactivated
    assert all(not rows[name]["active"] and rows[name]["password_hash"] == "!" for name in kept)
    assert run(settings, "demo", "remove").output.startswith("0 demo accounts deleted, 0 deactivated")
