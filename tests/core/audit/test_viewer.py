"""The audit viewer page: audit viewers only, filters as GET parameters, keyset pages."""

from __future__ import annotations

from portal.audit.chain import SYSTEM, AuditTrail
from portal.i18n import gettext
from portal.tables import AuditLog


async def test_only_the_audit_viewer_reads_the_log(client_factory):
    for username in ("gzq_admin", "sysadmin", "secadmin", "leader"):
        browser = await client_factory()
        await browser.login(username)
        assert (await browser.get("/audit")).status_code == 403, username
    anonymous = await client_factory()
    response = await anonymous.get("/audit", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    auditor = await client_factory()
    await auditor.login("auditor")
    page = await auditor.get("/audit")
    assert page.status_code == 200 and "login.success" in page.text


async def test_filters_and_pages(app, client):
    trail = AuditTrail(app.state.audit_key, SYSTEM)
    for i in range(60):
        await trail("test.bulk", object_type="thing", object_id=i, center_id=None)
    await client.login("auditor")
    page = await client.get("/audit", params={"action": "test.bulk"})
    assert page.text.count("<td>test.bulk</td>") == 50
    assert "#59" in page.text and "#10" in page.text and "#9<" not in page.text
    assert "before=" in page.text
    last_seq = (await AuditLog.select(AuditLog.seq).where((AuditLog.object_id == "10") & (AuditLog.action == "test.bulk")).first())["seq"]
    older = await client.get("/audit", params={"action": "test.bulk", "before": last_seq})
    assert older.text.count("<td>test.bulk</td>") == 10
    only_failed = await client.get("/audit", params={"result": "denied"})
    assert "<td>test.bulk</td>" not in only_failed.text


async def test_bad_date_filter_is_explained(client):
    await client.login("auditor")
    page = await client.get("/audit", params={"from": "2026-13-45"})
    assert page.status_code == 422
    assert gettext("Enter a date like 2026-11-26.") in page.text
    assert 'value="2026-13-45"' in page.text
