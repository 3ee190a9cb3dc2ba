"""The duty lawyer's consultation log: one form, check step, one-time key, draft, snippets, bookings
of today, the same-day edit rule, the matter link and the hand-over to the window."""

from __future__ import annotations

import asyncio
import re

from portal.db import raw
from portal.matters.codes import format_code
from tests.conftest import html_text
from tests.core.matters.helpers import register_at_window
from tests.legal_aid.helpers import (
    LOG_FORM, booking_today, center_id, china, consultation_row, enable_legal_aid, lawyer_client, log_consultation,
    log_page_data, staff_id, travel_to,
)

NEW = "/m/legal_aid/log/new"
HX = {"HX-Request": "true"}


async def _lawyer(app, client_factory, settings, username: str = "lawyer", center: str = "GZQ"):
    await enable_legal_aid(app, center)
    return await lawyer_client(client_factory, settings, username, center)


def _value(page_text: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page_text)
    return match.group(1) if match else ""


async def _count(author: str) -> int:
    return (await raw("SELECT count(*) AS n FROM legal_aid_consultation WHERE author = {}", await staff_id(author)))[0]["n"]


async def test_check_step_keeps_the_input_both_ways_and_saves_once(app, client_factory, settings):
    lawyer = await _lawyer(app, client_factory, settings)
    data = await log_page_data(lawyer, person_phone="139 1234 5678", minutes="０", question="")
    wrong = await lawyer.submit(NEW, {**data, "action": "check"})
    assert wrong.status_code == 422
    text = html_text(wrong)
    for message in ("请填写咨询的问题。", "请填写用时（整数分钟），1 到 480 之间。"):
        assert message in text, message
    assert _value(wrong.text, "person_name") == "张三" and _value(wrong.text, "_submission_key") == data["_submission_key"]
    assert "保留考勤记录" in wrong.text  # the advice typed so far is still there

    data.update(question=LOG_FORM["question"], minutes="15")
    check = await lawyer.submit(NEW, {**data, "action": "check"})
    assert check.status_code == 200
    text = html_text(check)
    assert "核对咨询记录" in text and "13912345678" in text and "劳动与工资" in text and "仲裁" in text
    assert await _count("lawyer") == 0  # the check step saves nothing

    back = await lawyer.submit(NEW, {**data, "person_phone": "13912345678", "action": "back"})
    assert back.status_code == 200
    assert _value(back.text, "person_phone") == "13912345678" and LOG_FORM["question"] in back.text
    assert _value(back.text, "_submission_key") == data["_submission_key"]

    first = await lawyer.submit(NEW, {**data, "action": "save"})
    second = await lawyer.submit(NEW, {**data, "action": "save"})  # a double click, or the back button and again
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert await _count("lawyer") == 1
    entry = await consultation_row(int(first.headers["location"].rsplit("/", 1)[1]))
    assert (entry["person_phone"], entry["topic"], entry["route"], entry["minutes"], bool(entry["eligible"])) == (
        "13912345678", "labour", "arbitration", 15, True)
    assert await raw("SELECT id FROM audit_log WHERE action = 'legal_aid.consultation_logged' AND object_id = {}",
                     str(entry["id"]))


async def test_concurrent_saves_of_one_form_create_one_entry(app, client_factory, settings):
    lawyer = await _lawyer(app, client_factory, settings)
    data = {**await log_page_data(lawyer), "action": "save"}
    answers = await asyncio.gather(*(lawyer.submit(NEW, data) for _ in range(3)))
    assert {a.status_code for a in answers} == {303}
    assert len({a.headers["location"] for a in answers}) == 1
    assert await _count("lawyer") == 1


async def test_anonymous_person_without_phone_and_wrong_choices(app, client_factory, settings):
    lawyer = await _lawyer(app, client_factory, settings)
    data = await log_page_data(lawyer, person_name="匿名", person_phone="", topic="astrology", route="", eligible="",
                               channel="pigeon", minutes="481")
    wrong = await lawyer.submit(NEW, {**data, "action": "check"})
    assert wrong.status_code == 422
    text = html_text(wrong)
    for message in ("请选择咨询的问题类别。", "请选择建议的解决途径。", "请选择是否可能符合法律援助条件。",
                    "请选择咨询人是怎样找到您的。", "请填写用时（整数分钟），1 到 480 之间。"):
        assert message in text, message
    phone = await lawyer.submit(NEW, {**data, "person_phone": "1391234", "action": "check"})
    assert "请输入 11 位手机号码或带区号的固定电话" in html_text(phone) and _value(phone.text, "person_phone") == "1391234"
    entry = await log_consultation(lawyer, person_name="匿名", person_phone="")
    assert entry["person_name"] == "" and entry["person_phone"] == ""
    page = html_text(await lawyer.get(f"/m/legal_aid/log/{entry['id']}"))
    assert "匿名" in page


async def test_draft_is_saved_as_they_type_and_restored(app, client_factory, settings):
    lawyer = await _lawyer(app, client_factory, settings)
    data = await log_page_data(lawyer)
    typed = {**data, "question": "邻居占了我家的宅基地", "advice": ""}
    saved = await lawyer.submit("/m/legal_aid/log/draft", typed, headers=HX)
    assert saved.status_code == 200 and "草稿已于" in saved.text
    again = await lawyer.get(NEW)
    assert "邻居占了我家的宅基地" in again.text and "已恢复您" in html_text(again)
    assert _value(again.text, "_submission_key") == data["_submission_key"]
    assert "未完成的草稿" in html_text(await lawyer.get("/m/legal_aid/desk"))
    # Without JavaScript the draft endpoint is never the target of a page: it sends the form back.
    plain = await lawyer.submit("/m/legal_aid/log/draft", typed)
    assert plain.status_code == 303 and plain.headers["location"] == NEW

    cleared = await lawyer.submit("/m/legal_aid/log/draft/clear", {})
    assert cleared.status_code == 303
    fresh = await lawyer.get(NEW)
    assert "邻居占了我家的宅基地" not in fresh.text and _value(fresh.text, "_submission_key") != data["_submission_key"]

    # Saving ends the draft; an autosave arriving after the save does not bring it back.
    await lawyer.submit("/m/legal_aid/log/draft", typed, headers=HX)
    restored = await log_page_data(lawyer, question="邻居占了我家的宅基地")
    assert restored["_submission_key"] == data["_submission_key"]  # the draft kept the form's key
    checked = await lawyer.submit(NEW, {**restored, "action": "check"})
    assert checked.status_code == 200
    saved = await lawyer.submit(NEW, {**restored, "action": "save"})
    assert saved.status_code == 303
    after = await lawyer.get(NEW)
    assert "邻居占了我家的宅基地" not in after.text and _value(after.text, "_submission_key") != data["_submission_key"]
    late = await lawyer.submit("/m/legal_aid/log/draft", {**restored, "question": "迟到的自动保存"}, headers=HX)
    assert late.status_code == 200
    assert "迟到的自动保存" not in (await lawyer.get(NEW)).text


async def test_drafts_are_per_lawyer(app, client_factory, settings):
    lawyer = await _lawyer(app, client_factory, settings)
    other = await _lawyer(app, client_factory, settings, "lawyer_b")
    await lawyer.submit("/m/legal_aid/log/draft", {**await log_page_data(lawyer), "question": "只属于我的草稿"}, headers=HX)
    assert "只属于我的草稿" not in (await other.get(NEW)).text
    assert "只属于我的草稿" in (await lawyer.get(NEW)).text


async def test_snippets_own_and_shared_are_inserted_with_and_without_javascript(app, client_factory, settings):
    lawyer = await _lawyer(app, client_factory, settings)
    colleague = await _lawyer(app, client_factory, settings, "lawyer_c")
    for client, title, body, shared in ((lawyer, "欠薪步骤", "第一步：保留证据。", False),
                                        (colleague, "仲裁时效", "劳动仲裁时效为一年。", True),
                                        (colleague, "私人备忘", "只给自己看的文字。", False)):
        page = await client.get("/m/legal_aid/snippets")
        key = _value(page.text, "_submission_key")
        data = {"title": title, "body": body, "_submission_key": key, **({"shared": "1"} if shared else {})}
        assert (await client.submit("/m/legal_aid/snippets", data)).status_code == 303
    rows = {r["title"]: r["id"] for r in await raw("SELECT id, title FROM legal_aid_snippet")}
    form = await lawyer.get(NEW)
    assert "欠薪步骤" in form.text and "仲裁时效" in form.text and "私人备忘" not in form.text

    data = await log_page_data(lawyer, advice="先协商。")
    # Without JavaScript: the 插入 button posts the whole form, which comes back with the text added.
    inserted = await lawyer.submit(NEW, {**data, "snippet": str(rows["仲裁时效"]), "action": "snippet"})
    assert inserted.status_code == 200
    assert "先协商。\n劳动仲裁时效为一年。" in inserted.text and _value(inserted.text, "person_name") == "张三"
    # With htmx: only the advice field comes back.
    fragment = await lawyer.submit("/m/legal_aid/log/snippet", {**data, "snippet": str(rows["欠薪步骤"])}, headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "先协商。\n第一步：保留证据。" in fragment.text and 'id="advice-group"' in fragment.text
    # Someone else's private snippet cannot be inserted, even by a forged id.
    forged = await lawyer.submit(NEW, {**data, "snippet": str(rows["私人备忘"]), "action": "snippet"})
    assert forged.status_code == 422 and "只给自己看的文字" not in forged.text and "请选择要插入的常用解答。" in html_text(forged)
    # Only the owner changes a snippet.
    assert (await lawyer.get(f"/m/legal_aid/snippets/{rows['仲裁时效']}/edit")).status_code == 404
    assert (await lawyer.submit(f"/m/legal_aid/snippets/{rows['仲裁时效']}/delete", {})).status_code == 404
    assert (await colleague.submit(f"/m/legal_aid/snippets/{rows['仲裁时效']}/delete", {})).status_code == 303
    assert "仲裁时效" not in (await lawyer.get(NEW)).text
    empty = await lawyer.submit("/m/legal_aid/snippets", {"title": "", "body": "x" * 2001,
                                                           "_submission_key": _value(form.text, "_submission_key")})
    assert empty.status_code == 422 and "请给常用解答起一个简短的标题。" in html_text(empty)


async def test_todays_bookings_prefill_the_form(app, client_factory, settings):
    lawyer = await _lawyer(app, client_factory, settings)
    booking = await booking_today("lawyer", "GZQ", phone="13700001111")
    desk = await lawyer.get("/m/legal_aid/desk")
    assert "LAW123" in desk.text and "137****1111" in desk.text and "13700001111" not in desk.text
    assert f"/m/legal_aid/log/new?booking={booking}" in desk.text
    form = await lawyer.get(f"{NEW}?booking={booking}")
    assert _value(form.text, "person_phone") == "13700001111"
    assert re.search(r'value="booked" checked', form.text)
    entry = await log_consultation(lawyer, channel="booked", booking=str(booking), person_name="", person_phone="")
    assert entry["booking"] == booking and entry["channel"] == "booked" and entry["person_phone"] == "13700001111"
    assert f'href="/m/legal_aid/log/{entry["id"]}"' in (await lawyer.get("/m/legal_aid/desk")).text

    # Another lawyer's booking is not offered, and a forged id is not taken.
    other = await _lawyer(app, client_factory, settings, "lawyer_d")
    theirs = await booking_today("lawyer_d", "GZQ", phone="13700002222", code="OTH456")
    assert (await lawyer.get(f"{NEW}?booking={theirs}")).status_code == 404
    assert "OTH456" not in (await lawyer.get("/m/legal_aid/desk")).text
    data = await log_page_data(lawyer, channel="booked", booking=str(theirs))
    refused = await lawyer.submit(NEW, {**data, "action": "check"})
    assert refused.status_code == 422 and "请从今天的预约中选择。" in html_text(refused)
    assert "OTH456" in (await other.get("/m/legal_aid/desk")).text


async def test_entries_change_on_their_own_day_only(app, client_factory, settings):
    travel_to(china(2026, 12, 1, 23, 40))
    lawyer = await _lawyer(app, client_factory, settings)
    entry = await log_consultation(lawyer)
    url = f"/m/legal_aid/log/{entry['id']}/edit"
    form = await lawyer.get(url)
    assert form.status_code == 200 and _value(form.text, "version") == "1"
    data = {**LOG_FORM, "version": "1", "minutes": "25", "advice": "补充：可申请法律援助。"}
    check = await lawyer.submit(url, {**data, "action": "check"})
    assert check.status_code == 200 and "补充：可申请法律援助。" in check.text
    saved = await lawyer.submit(url, {**data, "action": "save"})
    assert saved.status_code == 303
    row = await consultation_row(entry["id"])
    assert (row["minutes"], row["advice"], row["version"]) == (25, "补充：可申请法律援助。", 2)
    audit = await raw("SELECT fields FROM audit_log WHERE action = 'legal_aid.consultation_changed' AND object_id = {}",
                      str(entry["id"]))
    assert audit and "minutes" in audit[0]["fields"] and "advice" in audit[0]["fields"]
    # A stale form (version 1) is not saved over the change.
    stale = await lawyer.submit(url, {**data, "minutes": "40", "action": "save"})
    assert stale.status_code == 409 and (await consultation_row(entry["id"]))["minutes"] == 25

    travel_to(china(2026, 12, 2, 0, 5))  # past midnight in China: the next day
    lawyer = await lawyer_client(client_factory, settings, "lawyer")
    refused = await lawyer.get(url)
    assert refused.status_code == 303 and refused.headers["location"] == f"/m/legal_aid/log/{entry['id']}"
    page = await lawyer.get(refused.headers["location"])
    assert "只能在登记当天（12月1日）修改" in html_text(page) and url not in page.text
    posted = await lawyer.submit(url, {**data, "version": "2", "minutes": "60", "action": "save"})
    assert posted.status_code == 303
    assert (await consultation_row(entry["id"]))["minutes"] == 25


async def test_the_matter_link_is_validated_and_only_the_code_is_shown(app, client_factory, settings):
    window = await client_factory()
    await window.login("dzz_window")
    matter = await register_at_window(window, summary="征地补偿款未发放", petitioner_name="赵六")
    dmz_lawyer = await _lawyer(app, client_factory, settings, "lawyer_e", "GZQ-DMZ")
    data = await log_page_data(dmz_lawyer, matter_code=format_code(matter["code"]))
    outside = await dmz_lawyer.submit(NEW, {**data, "action": "check"})
    assert outside.status_code == 422 and "本中心及下级中心没有这个受理编号的事项。" in html_text(outside)
    typo = await dmz_lawyer.submit(NEW, {**data, "matter_code": matter["code"][:-1] + ("A" if matter["code"][-1] != "A" else "B"),
                                         "action": "check"})
    assert typo.status_code == 422 and "受理编号由 12 位字母和数字组成" in html_text(typo)

    lawyer = await _lawyer(app, client_factory, settings)  # the district lawyer: the township is below
    entry = await log_consultation(lawyer, matter_code=matter["code"].lower())
    assert entry["matter"] == matter["id"]
    page = await lawyer.get(f"/m/legal_aid/log/{entry['id']}")
    assert format_code(matter["code"]) in page.text
    assert "征地补偿款未发放" not in page.text and "赵六" not in page.text
    assert (await lawyer.get(f"/matters/{matter['id']}")).status_code in (403, 404)


async def test_hand_over_registers_a_matter_at_the_window_once(app, client_factory, settings):
    lawyer = await _lawyer(app, client_factory, settings)
    entry = await log_consultation(lawyer, person_name="钱七", person_phone="13912340000")
    handed = await lawyer.submit(f"/m/legal_aid/log/{entry['id']}/handover", {"kind": "matter"})
    assert handed.status_code == 303
    again = await lawyer.submit(f"/m/legal_aid/log/{entry['id']}/handover", {"kind": "matter"})
    assert again.status_code == 303
    assert len(await raw("SELECT id FROM legal_aid_handover WHERE consultation = {}", entry["id"])) == 1
    assert (await lawyer.submit(f"/m/legal_aid/log/{entry['id']}/handover", {"kind": "other"})).status_code == 404
    window_id = await staff_id("gzq_window")
    messages = await raw("SELECT body, link FROM outbox WHERE channel = 'inapp' AND staff = {} AND kind = 'legal_aid.handover'",
                         window_id)
    assert len(messages) == 1 and messages[0]["link"] == "/m/legal_aid/handovers" and "钱七" not in messages[0]["body"]

    window = await client_factory()
    await window.login("gzq_window")
    listing = await window.get("/m/legal_aid/handovers")
    assert listing.status_code == 200 and "钱*" in listing.text and "139****0000" in listing.text
    handover = (await raw("SELECT id FROM legal_aid_handover WHERE consultation = {}", entry["id"]))[0]["id"]
    form = await window.get(f"/m/legal_aid/handovers/{handover}/matter")
    assert form.status_code == 200 and 'action="/matters/new"' in form.text
    assert _value(form.text, "petitioner_name") == "钱七" and _value(form.text, "petitioner_phone") == "13912340000"
    assert re.search(r'<option value="labour" selected>', form.text)
    data = {name: _value(form.text, name) for name in ("_submission_key", "petitioner_name", "petitioner_phone",
                                                       "summary", "people_count")}
    data.update(channel="visit", kind="dispute", category="labour", request=entry["question"])
    created = await window.submit("/matters/new", data)
    twice = await window.submit("/matters/new", data)
    assert created.status_code == twice.status_code == 303 and created.headers["location"] == twice.headers["location"]
    matter_id = int(created.headers["location"].rsplit("/", 1)[1])
    code = (await raw("SELECT code FROM matter WHERE id = {}", matter_id))[0]["code"]
    assert (await window.get(f"/m/legal_aid/handovers/{handover}/matter")).headers["location"] == f"/matters/{matter_id}"
    assert "已登记为事项" in html_text(await lawyer.get(f"/m/legal_aid/log/{entry['id']}"))
    assert format_code(code) in (await lawyer.get(f"/m/legal_aid/log/{entry['id']}")).text

    # A window of another township does not see the district's hand-overs.
    other = await client_factory()
    await other.login("dmz_window")
    assert (await other.get(f"/m/legal_aid/handovers/{handover}/matter")).status_code == 404
    assert "钱*" not in (await other.get("/m/legal_aid/handovers")).text
    assert (await other.submit(f"/m/legal_aid/handovers/{handover}/close", {})).status_code == 404


async def test_hand_over_for_a_legal_aid_application_carries_the_details(app, client_factory, settings):
    lawyer = await _lawyer(app, client_factory, settings)
    entry = await log_consultation(lawyer, person_name="孙八", person_phone="13912349999", route="legal_aid")
    window = await client_factory()
    await window.login("gzq_window")
    url = f"/m/legal_aid/applications/new?consultation={entry['id']}"
    assert (await window.get(url)).status_code == 404  # not handed over yet
    await lawyer.submit(f"/m/legal_aid/log/{entry['id']}/handover", {"kind": "application"})
    listing = await window.get("/m/legal_aid/handovers")
    assert url in listing.text
    form = await window.get(url)
    assert form.status_code == 200
    assert _value(form.text, "applicant_name") == "孙八" and _value(form.text, "phone") == "13912349999"
    handover = (await raw("SELECT id FROM legal_aid_handover WHERE consultation = {}", entry["id"]))[0]["id"]
    assert (await window.submit(f"/m/legal_aid/handovers/{handover}/close", {})).status_code == 303
    assert "窗口已办理法律援助申请" in html_text(await lawyer.get(f"/m/legal_aid/log/{entry['id']}"))


async def test_desk_and_widget_count_today(app, client_factory, settings):
    lawyer = await _lawyer(app, client_factory, settings)
    await booking_today("lawyer", "GZQ")
    await log_consultation(lawyer)
    dashboard = html_text(await lawyer.get("/dashboard"))
    assert "今天的预约： 1" in dashboard and "今天已登记咨询： 1" in dashboard
    desk = html_text(await lawyer.get("/m/legal_aid/desk"))
    assert "张*" in desk and "劳动与工资" in desk and "13912345678" not in desk
