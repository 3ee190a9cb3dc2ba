"""Who reads the consultation log: a lawyer their own entries only (404 otherwise, forged ids too),
the center admin and leader counts without personal details, the audit viewer everything in scope
(audited), also after the module is switched off at the center; switching off is per center."""

from __future__ import annotations

from portal.db import raw
from tests.conftest import html_text
from tests.legal_aid.helpers import (
    LOG_FORM, enable_legal_aid, lawyer_client, log_consultation, log_page_data, switch_module,
)

SECRET_QUESTION = "我的邻居王五每天晚上噪音扰民怎么办"
SECRET_ADVICE = "建议先找村委会调解，保留录音证据"


async def _two_lawyers(app, client_factory, settings):
    await enable_legal_aid(app, "GZQ")
    mine = await lawyer_client(client_factory, settings, "lawyer")
    theirs = await lawyer_client(client_factory, settings, "lawyer_x")
    return mine, theirs


async def test_another_lawyers_entry_is_not_found_everywhere(app, client_factory, settings):
    mine, theirs = await _two_lawyers(app, client_factory, settings)
    entry = await log_consultation(mine, question=SECRET_QUESTION, advice=SECRET_ADVICE, person_name="周九",
                                   person_phone="13911112222")
    base = f"/m/legal_aid/log/{entry['id']}"
    assert (await mine.get(base)).status_code == 200
    for url in (base, f"{base}/edit"):
        assert (await theirs.get(url)).status_code == 404, url
    edit = {**LOG_FORM, "version": "1", "action": "save", "question": "冒名修改"}
    assert (await theirs.submit(f"{base}/edit", edit)).status_code == 404
    assert (await theirs.submit(f"{base}/edit", {**edit, "action": "check"})).status_code == 404
    assert (await theirs.submit(f"{base}/handover", {"kind": "matter"})).status_code == 404
    assert (await raw("SELECT question FROM legal_aid_consultation WHERE id = {}", entry["id"]))[0]["question"] == SECRET_QUESTION
    assert not await raw("SELECT id FROM legal_aid_handover")
    for forged in ("/m/legal_aid/log/999999", "/m/legal_aid/log/0", "/m/legal_aid/log/999999/edit",
                   "/m/legal_aid/log/abc"):
        assert (await mine.get(forged)).status_code == 404, forged
    assert (await mine.submit("/m/legal_aid/log/999999/handover", {"kind": "matter"})).status_code == 404
    # Their log, search and export never show my entry.
    for url in ("/m/legal_aid/log", f"/m/legal_aid/log?q={SECRET_QUESTION[:4]}", "/m/legal_aid/desk"):
        page = await theirs.get(url)
        assert page.status_code == 200 and SECRET_QUESTION not in page.text and "周*" not in page.text, url
    export = await theirs.get("/m/legal_aid/log/export.xlsx")
    assert export.status_code == 200
    from tests.legal_aid.test_export import workbook_text

    assert "噪音扰民" not in workbook_text(export.content)
    # Other staff do not get the lawyer's pages at all.
    window = await client_factory()
    await window.login("gzq_window")
    assert (await window.get(base)).status_code == 403
    assert (await window.get("/m/legal_aid/log/export.xlsx")).status_code == 403


async def test_my_log_search_and_keyset_pages(app, client_factory, settings, monkeypatch):
    from plugins.legal_aid import log_routes

    monkeypatch.setattr(log_routes, "PAGE_SIZE", 2)
    mine, _theirs = await _two_lawyers(app, client_factory, settings)
    for topic, question in (("labour", "工资一"), ("family", "离婚抚养权"), ("labour", "工资二"), ("labour", "工资三")):
        await log_consultation(mine, topic=topic, question=question)
    first = await mine.get("/m/legal_aid/log?topic=labour")
    text = html_text(first)
    assert "工资三" in text and "工资二" in text and "工资一" not in text and "离婚" not in text
    more = first.text.split('class="pagination"')[1].split('href="')[1].split('"')[0].replace("&amp;", "&")
    assert "topic=labour" in more and "before=" in more
    second = html_text(await mine.get(more))
    assert "工资一" in second and "工资三" not in second
    assert "离婚抚养权" in html_text(await mine.get("/m/legal_aid/log?q=抚养"))
    wrong = await mine.get("/m/legal_aid/log?from=2026-13-01&to=yesterday")
    assert wrong.status_code == 422
    assert "请按 2026-11-01 的格式输入开始日期。" in html_text(wrong) and 'value="2026-13-01"' in wrong.text
    reversed_range = await mine.get("/m/legal_aid/log?from=2026-11-30&to=2026-11-01")
    assert "结束日期早于开始日期。" in html_text(reversed_range)
    future = html_text(await mine.get("/m/legal_aid/log?from=2099-01-01"))
    assert "没有符合条件的咨询记录。" in future


async def test_center_admin_sees_counts_without_personal_details(app, client_factory, settings):
    mine, theirs = await _two_lawyers(app, client_factory, settings)
    await log_consultation(mine, question=SECRET_QUESTION, advice=SECRET_ADVICE, person_name="周九",
                           person_phone="13911112222", route="litigation", topic="neighbour")
    await log_consultation(theirs, person_name="吴十", person_phone="13933334444", route="mediation")
    for username in ("gzq_admin", "leader"):
        viewer = await client_factory()
        await viewer.login(username)
        page = await viewer.get("/m/legal_aid/log/summary")
        assert page.status_code == 200, username
        for secret in ("周九", "周*", "13911112222", "139****2222", "吴十", SECRET_QUESTION, SECRET_ADVICE, "噪音", "工地"):
            assert secret not in page.text, (username, secret)
        text = html_text(page)
        assert "邻里与土地" in text and "诉讼" in text and "调解" in text
        assert "值班律师（演示）" in text  # per lawyer: the lawyers' own names, with their counts
    admin = await client_factory()
    await admin.login("gzq_admin")
    wrong = await admin.get("/m/legal_aid/log/summary?year=20x6")
    assert wrong.status_code == 422 and "请按 2026 的格式输入年份。" in html_text(wrong)
    assert "2025 年没有登记咨询。" in html_text(await admin.get("/m/legal_aid/log/summary?year=2025"))
    # A township admin counts the township only.
    await enable_legal_aid(app, "GZQ-DMZ")
    township = await client_factory()
    await township.login("dmz_admin")
    assert "值班律师（演示）" not in html_text(await township.get("/m/legal_aid/log/summary"))
    # Neither the lawyers nor the window get the summary; the admin cannot open an entry.
    assert (await mine.get("/m/legal_aid/log/summary")).status_code == 403
    entry_id = (await raw("SELECT min(id) AS id FROM legal_aid_consultation"))[0]["id"]
    assert (await admin.get(f"/m/legal_aid/log/{entry_id}")).status_code == 403
    assert (await admin.get(f"/m/legal_aid/audit/log/{entry_id}")).status_code == 403


async def test_audit_viewer_reads_every_entry_in_scope_and_each_read_is_audited(app, client_factory, settings):
    mine, theirs = await _two_lawyers(app, client_factory, settings)
    entry = await log_consultation(mine, question=SECRET_QUESTION, person_name="周九", person_phone="13911112222")
    other = await log_consultation(theirs, question="另一位律师的记录")
    auditor = await client_factory()
    await auditor.login("auditor")
    listing = await auditor.get("/m/legal_aid/audit/log")
    assert listing.status_code == 200
    text = html_text(listing)
    assert "周*" in text and "13911112222" not in listing.text
    assert f"/m/legal_aid/audit/log/{entry['id']}" in listing.text and f"/m/legal_aid/audit/log/{other['id']}" in listing.text
    page = await auditor.get(f"/m/legal_aid/audit/log/{entry['id']}")
    assert page.status_code == 200 and SECRET_QUESTION in page.text and "139****2222" in page.text
    assert "<form" not in page.text.split("<main", 1)[1].split("</main>", 1)[0]  # read-only
    for forged in ("/m/legal_aid/audit/log/999999", "/m/legal_aid/audit/log/0", "/m/legal_aid/audit/log/x"):
        assert (await auditor.get(forged)).status_code == 404, forged
    reads = await raw("SELECT object_id, center_id FROM audit_log WHERE action = 'legal_aid.log_read'")
    assert [r["object_id"] for r in reads] == [str(entry["id"])]
    assert await raw("SELECT id FROM audit_log WHERE action = 'legal_aid.log_listed'")
    # Nobody else reads through that door.
    for username in ("gzq_admin", "gzq_window"):
        staff = await client_factory()
        await staff.login(username)
        assert (await staff.get(f"/m/legal_aid/audit/log/{entry['id']}")).status_code == 403, username
    assert (await mine.get("/m/legal_aid/audit/log")).status_code == 403


async def test_switching_the_module_off_hides_it_at_that_center_but_the_log_stays_readable(app, client_factory, settings):
    await enable_legal_aid(app, "GZQ")
    await enable_legal_aid(app, "GZQ-DMZ")
    district = await lawyer_client(client_factory, settings, "lawyer")
    township = await lawyer_client(client_factory, settings, "lawyer_t", "GZQ-DMZ")
    entry = await log_consultation(district, question=SECRET_QUESTION)
    await log_consultation(township, question="大满镇的咨询")

    await switch_module(app, "GZQ", False)

    for url in ("/m/legal_aid/desk", "/m/legal_aid/log/new", "/m/legal_aid/log", f"/m/legal_aid/log/{entry['id']}",
                "/m/legal_aid/log/export.xlsx", "/m/legal_aid/snippets"):
        assert (await district.get(url)).status_code == 404, url
    assert (await district.submit("/m/legal_aid/log/new", {**LOG_FORM, "action": "save"})).status_code == 404
    assert "/m/legal_aid/desk" not in (await district.get("/dashboard")).text
    # The township keeps the module.
    assert (await township.get("/m/legal_aid/desk")).status_code == 200
    assert "/m/legal_aid/desk" in (await township.get("/dashboard")).text
    assert (await log_page_data(township))["_submission_key"]
    # The audit viewer (at the district, where the module is now off) still reads the district's log.
    auditor = await client_factory()
    await auditor.login("auditor")
    listing = await auditor.get("/m/legal_aid/audit/log")
    assert listing.status_code == 200 and f"/m/legal_aid/audit/log/{entry['id']}" in listing.text
    page = await auditor.get(f"/m/legal_aid/audit/log/{entry['id']}")
    assert page.status_code == 200 and SECRET_QUESTION in page.text
    assert (await raw("SELECT count(*) AS n FROM legal_aid_consultation"))[0]["n"] == 2  # nothing was deleted

    await switch_module(app, "GZQ", True)
    assert (await district.get(f"/m/legal_aid/log/{entry['id']}")).status_code == 200
