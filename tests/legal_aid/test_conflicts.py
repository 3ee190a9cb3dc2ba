"""Conflict check: logging a consultation against a matter warns the lawyer when they or a lawyer of
the same firm advised the matter's opposing party before (by name or phone); saving needs the
warning acknowledged, and the acknowledged conflicts are recorded on the entry."""

from __future__ import annotations

import json

from portal.matters.codes import format_code
from tests.conftest import html_text
from tests.core.matters.helpers import register_at_window
from tests.legal_aid.helpers import (
    consultation_row, enable_legal_aid, lawyer_client, log_consultation, log_page_data, set_firm,
)

NEW = "/m/legal_aid/log/new"
FIRM = "甘肃正义律师事务所"


async def _setting(app, client_factory, settings):
    """A matter of 张三 against 李四 and a company; lawyer A advised 李四 last week (firm FIRM)."""
    await enable_legal_aid(app, "GZQ")
    window = await client_factory()
    await window.login("gzq_window")
    matter = await register_at_window(window, petitioner_name="张三", petitioner_phone="13800138000",
                                      parties="李四\n某建筑公司")
    a = await lawyer_client(client_factory, settings, "lawyer")
    b = await lawyer_client(client_factory, settings, "lawyer_same_firm")
    c = await lawyer_client(client_factory, settings, "lawyer_other_firm")
    await set_firm("lawyer", FIRM)
    await set_firm("lawyer_same_firm", FIRM)
    await set_firm("lawyer_other_firm", "甘肃另一律师事务所")
    earlier = await log_consultation(a, person_name="李四", person_phone="13700000002", question="张三找我要钱")
    return matter, earlier, a, b, c


async def test_a_colleague_of_the_firm_must_acknowledge_the_conflict(app, client_factory, settings):
    matter, earlier, _a, b, _c = await _setting(app, client_factory, settings)
    data = await log_page_data(b, person_name="张三", person_phone="13800138000", matter_code=format_code(matter["code"]))
    check = await b.submit(NEW, {**data, "action": "check"})
    assert check.status_code == 200
    text = html_text(check)
    assert "可能存在利益冲突" in text and "同所律师 值班律师（演示） 曾为 李* 提供咨询" in text and "姓名相同" in text
    assert "张三找我要钱" not in check.text and "李四" not in check.text  # masked, and not the colleague's notes
    unacknowledged = await b.submit(NEW, {**data, "action": "save"})
    assert unacknowledged.status_code == 422
    assert "保存前请确认您已知悉可能存在的利益冲突。" in html_text(unacknowledged)
    assert 'name="_submission_key" value="%s"' % data["_submission_key"] in unacknowledged.text
    saved = await b.submit(NEW, {**data, "action": "save", "conflict_ack": "1"})
    assert saved.status_code == 303
    entry = await consultation_row(int(saved.headers["location"].rsplit("/", 1)[1]))
    recorded = json.loads(entry["conflicts"])
    assert [(c["entry"], c["by"], c["party"], c["via"]) for c in recorded] == [(earlier["id"], "firm", "李*", "name")]
    assert "已知悉的利益冲突" in html_text(await b.get(saved.headers["location"]))


async def test_the_lawyer_himself_and_a_phone_match(app, client_factory, settings):
    matter, earlier, a, _b, _c = await _setting(app, client_factory, settings)
    # The company's side: its staff member gave only a phone — the petitioner's phone — earlier.
    await log_consultation(a, person_name="", person_phone="13800138000", question="公司怎么应诉")
    # Now 李四 (a party) asks about the matter: the petitioner's side is the other side.
    data = await log_page_data(a, person_name="李四", person_phone="13700000002", matter_code=matter["code"])
    check = html_text(await a.submit(NEW, {**data, "action": "check"}))
    assert "您曾为 张* 提供咨询" in check and "电话相同" in check
    assert "李*" not in check  # his own earlier consultation is not a conflict with himself


async def test_no_warning_for_another_firm_or_without_a_matter(app, client_factory, settings):
    matter, _earlier, _a, b, c = await _setting(app, client_factory, settings)
    data = await log_page_data(c, person_name="张三", matter_code=format_code(matter["code"]))
    check = await c.submit(NEW, {**data, "action": "check"})
    assert check.status_code == 200 and "可能存在利益冲突" not in html_text(check)
    entry = await log_consultation(c, person_name="张三", matter_code=format_code(matter["code"]))
    assert json.loads(entry["conflicts"]) == []
    plain = await b.submit(NEW, {**await log_page_data(b, person_name="张三"), "action": "check"})
    assert "可能存在利益冲突" not in html_text(plain)  # no matter linked: nothing to check against
