"""The audit trail: append-only on both engines, hash-chained, verifiable from the CLI."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from portal.audit.chain import SYSTEM, AuditTrail, verify
from portal.cli import cli
from portal.db import bind_engine, current_engine, make_engine, raw, write_transaction
from portal.tables import AuditHead, AuditLog
from tests.conftest import LANE


def run_cli(settings, *args: str):
    env = {"PORTAL_DATABASE_URL": settings.database_url, "PORTAL_SECRET_KEY": settings.secret_key}
    return CliRunner().invoke(cli, list(args), env=env)


async def tamper(sql: str, *args) -> None:
    """What a database superuser could do: bypass the append-only triggers."""
    engine = current_engine()
    if engine.engine_type == "sqlite":
        await raw("DROP TRIGGER IF EXISTS audit_log_no_update")
        await raw("DROP TRIGGER IF EXISTS audit_log_no_delete")
        await raw(sql, *args)
    else:
        await raw("ALTER TABLE audit_log DISABLE TRIGGER USER")
        await raw(sql, *args)
        await raw("ALTER TABLE audit_log ENABLE TRIGGER USER")


def in_db(settings, coro_fn):
    bind_engine(make_engine(settings))
    return asyncio.run(coro_fn())


def test_cli_verify_passes_on_untouched_data(settings):
    result = run_cli(settings, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "audit chain intact" in result.output
    checked = int(result.output.split(":")[1].split()[0])
    async def count():
        return await AuditLog.count()

    assert checked == in_db(settings, count)


def test_cli_verify_reports_an_altered_row(settings):
    async def alter():
        row = await AuditLog.select(AuditLog.seq).where(AuditLog.action == "staff.created").order_by(AuditLog.seq).first()
        await tamper("UPDATE audit_log SET actor = {} WHERE seq = {}", "mallory", row["seq"])
        return row["seq"]

    seq = in_db(settings, alter)
    result = run_cli(settings, "audit", "verify")
    assert result.exit_code == 1
    assert f"seq={seq}: content does not match its hash" in result.output
    # Only the altered row is flagged: its successor still links to the stored hash.
    assert result.output.count("does not match") == 1


def test_cli_verify_reports_a_deleted_row_and_a_deleted_tail(settings):
    async def delete_middle_and_last():
        last = await AuditLog.select(AuditLog.seq).order_by(AuditLog.seq, ascending=False).first()
        await tamper("DELETE FROM audit_log WHERE seq = {}", 5)
        await tamper("DELETE FROM audit_log WHERE seq = {}", last["seq"])
        return last["seq"]

    last = in_db(settings, delete_middle_and_last)
    result = run_cli(settings, "audit", "verify")
    assert result.exit_code == 1
    assert "seq=6: expected seq 5 (rows missing)" in result.output
    assert f"chain tip is seq {last}" in result.output


async def test_database_refuses_update_and_delete(app):
    with pytest.raises(Exception, match="append-only"):
        await raw("UPDATE audit_log SET actor = 'x' WHERE seq = 1")
    with pytest.raises(Exception, match="append-only"):
        await raw("DELETE FROM audit_log WHERE seq = 1")
    if LANE == "postgres":
        with pytest.raises(Exception, match="append-only"):
            await raw("TRUNCATE audit_log")
    assert (await verify(app.state.audit_key)).ok


async def test_audit_row_is_rolled_back_with_the_change(app):
    trail = AuditTrail(app.state.audit_key, SYSTEM)
    before = await AuditLog.count()
    head = await AuditHead.select().first()
    with pytest.raises(RuntimeError):
        async with write_transaction():
            await trail("test.action", object_type="thing", object_id=1)
            raise RuntimeError("the change failed after its audit row was written")
    assert await AuditLog.count() == before
    assert await AuditHead.select().first() == head


async def test_concurrent_writers_keep_one_unbroken_chain(app):
    trail = AuditTrail(app.state.audit_key, SYSTEM)
    before = await AuditLog.count()
    seqs = await asyncio.gather(*[trail("test.concurrent", object_id=i) for i in range(30)])
    assert sorted(seqs) == list(range(before + 1, before + 31))
    report = await verify(app.state.audit_key)
    assert report.ok, report.problems
    assert report.checked == before + 30


async def test_rows_hold_field_names_never_values(app, client):
    await client.login("gzq_admin")
    dmz = await client.get("/admin/centers")
    assert dmz.status_code == 200
    from portal.tables import Center

    row = await Center.select().where(Center.code == "GZQ-DMZ").first()
    response = await client.submit(
        f"/admin/centers/{row['id']}",
        {"name": "大满镇综治中心（新址）", "code": "GZQ-DMZ", "address": "秘密路 99 号", "phone": "0936-8561000", "hours": row["hours"], "active": "1"},
    )
    assert response.status_code == 303
    audit = await AuditLog.select().where(AuditLog.action == "center.updated").first()
    assert audit["fields"] == "address,name"
    assert audit["actor"] == "gzq_admin" and audit["center_id"] == row["id"]
    assert audit["ip"] == "198.51.100.7" and len(audit["request_id"]) == 16
    joined = " ".join(str(v) for v in audit.values())
    assert "秘密路" not in joined and "新址" not in joined
