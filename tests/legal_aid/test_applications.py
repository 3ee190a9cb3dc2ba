"""Legal-aid applications: the citizen's form, check page and one submission; the request for
missing materials — once —; the 7-day decision and 3-day assignment limits on the shared calendar
(National Day 2026 and its make-up Saturday); the written refusal; deemed withdrawal; scope."""

from __future__ import annotations

import datetime as dt
import re

from portal import clock
from portal.db import raw
from portal.idnumbers import mask_id_number
from portal.matters.clock import end_of_day
from tests.conftest import html_text
from tests.core.bookings.helpers import citizen_client
from tests.legal_aid.helpers import (
    application_form, application_row, china, id_number, job_context, lawyer_profile, register_at_window,
    sms_to, submission_key, switch_module, travel_to,
)

from plugins.legal_aid.applications import as_dt
from plugins.legal_aid.jobs import DEEMED_WITHDRAWN, deemed_withdrawn

D = dt.date
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PHONE = "13912345678"  # the applicant of application_form()


async def staff(client_factory, username: str):
    """A fresh signed-in browser (staff sessions end after 30 idle minutes: sign in after each trip)."""
    client = await client_factory()
    await client.login(username)
    return client


async def events(application_id: int, kind: str | None = None) -> list[dict]:
    rows = await raw("SELECT * FROM legal_aid_event WHERE application = {} ORDER BY id", application_id)
    return [row for row in rows if kind is None or row["kind"] == kind]


def _citizen_form(**overrides) -> dict:
    data = {key: value for key, value in application_form().items() if key != "phone"}
    data.update(overrides)
    return data


# ----------------------------------------------------------------------------- the citizen


async def test_a_citizen_applies_checks_and_submits_once(app, client_factory, settings):
    citizen = await citizen_client(client_factory, PHONE)
    url = "/m/legal_aid/c/GZQ-DMZ/apply"
    assert (await citizen.get(url)).status_code == 200
    # Bad input: the same form with specific messages and everything typed kept.
    wrong = id_number()[:-1] + ("0" if id_number()[-1] != "0" else "1")
    bad = await citizen.submit(url, _citizen_form(id_number=wrong, pledge="", applicant_name="王秀兰"))
    assert bad.status_code == 422
    text = html_text(bad)
    assert "身份证号码校验不通过" in text and "请勾选个人诚信承诺" in text
    assert f'value="{wrong}"' in bad.text and "王秀兰" in bad.text and "靠打零工维持生活" in bad.text
    # Valid, with a file: the check page (ID masked there), then one submission however often it is sent.
    check = await citizen.submit(url, _citizen_form(id_number=id_number().lower()),
                                 files={"documents": ("工资欠条.pdf", PDF, "application/pdf")})
    assert check.status_code == 200, html_text(check)[-800:]
    page = html_text(check)
    assert "核对申请内容" in page and "工资欠条.pdf" in page and mask_id_number(id_number()) in page
    assert id_number() not in page  # masked on the page (the form carries it back in a hidden field)
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', check.text))
    key = submission_key(check.text)
    data = {name: value for name, value in fields.items() if name not in ("_csrf_token", "edit")}
    data["_submission_key"] = key
    first = await citizen.submit("/m/legal_aid/c/GZQ-DMZ/apply/submit", data)
    second = await citizen.submit("/m/legal_aid/c/GZQ-DMZ/apply/submit", data)
    assert first.status_code == 303 and second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    rows = await raw("SELECT * FROM legal_aid_application WHERE phone = {}", PHONE)
    assert len(rows) == 1
    app_row = rows[0]
    assert app_row["id_number"] == id_number() and app_row["channel"] == "online" and app_row["citizen"] == citizen.citizen_id
    assert app_row["status"] == "received" and app_row["pledge"]
    docs = await raw("SELECT * FROM legal_aid_document WHERE application = {}", app_row["id"])
    assert [d["filename"] for d in docs] == ["工资欠条.pdf"] and docs[0]["content_type"] == "application/pdf"
    assert (settings.data_dir / "attachments" / docs[0]["sha256"][:2] / docs[0]["sha256"]).read_bytes() == PDF
    code = f"{app_row['code'][:4]}-{app_row['code'][4:8]}-{app_row['code'][8:]}"
    sms = await sms_to(PHONE, "legal_aid_received")
    assert len(sms) == 1 and code in sms[0]["body"] and id_number() not in sms[0]["body"]
    done = html_text(await citizen.get(first.headers["location"]))
    assert "申请已提交" in done and code in done
    assert code in html_text(await citizen.get("/m/legal_aid/c/GZQ-DMZ/applications"))


async def test_the_check_page_can_go_back_and_a_forged_file_list_is_refused(app, client_factory):
    citizen = await citizen_client(client_factory, "13912340002")
    back = await citizen.submit("/m/legal_aid/c/GZQ-DMZ/apply", {**_citizen_form(), "edit": "1"})
    assert back.status_code == 200 and "申请法律援助" in html_text(back) and "靠打零工维持生活" in back.text
    forged = await citizen.submit("/m/legal_aid/c/GZQ-DMZ/apply/submit", {
        **_citizen_form(), "documents_token": "W10.0000", "_submission_key": "k" * 32})
    assert forged.status_code == 422 and "文件列表被改动过" in html_text(forged)
    assert not await raw("SELECT id FROM legal_aid_application WHERE phone = '13912340002'")


async def test_the_application_form_needs_a_signed_in_citizen(app, client):
    response = await client.get("/m/legal_aid/c/GZQ-DMZ/apply", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/citizen/login")


# ----------------------------------------------------------------------------- the window


async def test_window_registration_keeps_input_and_creates_one(app, client_factory):
    clerk = await staff(client_factory, "dmz_window")
    form = await clerk.get("/m/legal_aid/applications/new")
    key = submission_key(form.text)
    bad = await clerk.submit("/m/legal_aid/applications/new", {
        **application_form(id_number=id_number()[:17], phone="1391234", on_behalf="representative", relationship=""),
        "_submission_key": key})
    assert bad.status_code == 422
    text = html_text(bad)
    assert "身份证号码应为 18 位，现为 17 位" in text and "请输入 11 位手机号码" in text
    assert "请填写被代理人（为其申请的人）的姓名" in text and "请填写申请人与被代理人的关系" in text
    assert 'value="1391234"' in bad.text and "在某建筑工地务工 4 个月" in bad.text
    good = {**application_form(), "_submission_key": key}
    first = await clerk.submit("/m/legal_aid/applications/new", good)
    again = await clerk.submit("/m/legal_aid/applications/new", good)
    assert first.status_code == 303 and again.headers["location"] == first.headers["location"]
    rows = await raw("SELECT channel, created_by FROM legal_aid_application")
    assert len(rows) == 1 and rows[0]["channel"] == "window"


# ----------------------------------------------------------------------------- materials once, the clocks


async def test_materials_are_requested_once_and_the_decision_clock_runs_from_their_supply(app, client_factory):
    travel_to(china(2026, 9, 25, 10))  # Friday before National Day (10-01..10-07; Saturday 10-10 is worked)
    clerk = await staff(client_factory, "dmz_window")
    application = await register_at_window(clerk)
    aid = application["id"]
    # Provisional decision limit from the receipt: 7 working days, the holiday skipped, 10-10 counted.
    assert as_dt(application["decision_due_at"]) == end_of_day(D(2026, 10, 12))
    assert "剩余 7 个工作日" in html_text(await clerk.get("/m/legal_aid/applications"))

    sent = await clerk.submit(f"/m/legal_aid/applications/{aid}/materials",
                              {"items": ["identity", "matter"], "other": "工地考勤记录"})
    assert sent.status_code == 303
    row = await application_row(aid)
    assert row["status"] == "materials_requested" and row["decision_due_at"] is None
    assert row["materials_items"].splitlines() == ["申请人身份证明（居民身份证或户口簿）",
                                                   "与申请事项有关的材料（合同、欠条、劳动关系证明、判决书等）", "工地考勤记录"]
    # 15 calendar days: 10-10 is a make-up working day, so the period ends that Saturday.
    assert as_dt(row["materials_due_at"]) == end_of_day(D(2026, 10, 10))
    sms = await sms_to(PHONE, "legal_aid_materials")
    assert len(sms) == 1 and "补充材料 3 项" in sms[0]["body"] and "2026年10月10日" in sms[0]["body"]

    twice = await clerk.submit(f"/m/legal_aid/applications/{aid}/materials", {"items": ["form"]})
    assert twice.status_code == 422
    assert "补充材料只能一次性告知" in html_text(twice) and "2026年9月25日" in html_text(twice)
    assert len(await events(aid, "materials_requested")) == 1 and len(await sms_to(PHONE, "legal_aid_materials")) == 1
    assert "工地考勤记录" in html_text(await clerk.get(f"/m/legal_aid/applications/{aid}"))

    # The applicant uploads the materials on Tuesday 09-29: complete now, 7 working days from then.
    travel_to(china(2026, 9, 29, 16))
    citizen = await citizen_client(client_factory, PHONE)
    own = f"/m/legal_aid/c/GZQ-DMZ/applications/{row['code']}"
    page = html_text(await citizen.get(own))
    assert "还需补充的材料" in page and "工地考勤记录" in page
    empty = await citizen.submit(f"{own}/supply", {})
    assert empty.status_code == 422 and "请选择需补充材料的文件" in html_text(empty)
    supplied = await citizen.submit(f"{own}/supply", {}, files={"documents": ("考勤.pdf", PDF, "application/pdf")})
    assert supplied.status_code == 303
    row = await application_row(aid)
    assert row["status"] == "complete" and as_dt(row["complete_at"]) == as_dt(row["materials_supplied_at"])
    assert as_dt(row["received_at"]).date() == D(2026, 9, 25)  # the first receipt is kept
    assert as_dt(row["decision_due_at"]) == end_of_day(D(2026, 10, 14))
    clerk = await staff(client_factory, "dmz_window")
    assert "剩余 7 个工作日" in html_text(await clerk.get("/m/legal_aid/applications"))

    # Decided a day late: overdue shown, the decision recorded as late; the 3 working days to
    # assign run from the decision (10-17/18 are an ordinary weekend).
    travel_to(china(2026, 10, 15, 9))
    clerk = await staff(client_factory, "dmz_window")
    assert "已超期 1 天" in html_text(await clerk.get("/m/legal_aid/applications"))
    assert (await clerk.submit(f"/m/legal_aid/applications/{aid}/decide", {"outcome": "grant", "reasons": ""})).status_code == 303
    row = await application_row(aid)
    assert row["status"] == "granted" and row["decided_late"]
    assert as_dt(row["assign_due_at"]) == end_of_day(D(2026, 10, 20))
    lawyer = await lawyer_profile("lawyer2")
    travel_to(china(2026, 10, 20, 17))
    clerk = await staff(client_factory, "dmz_window")
    assert "今日到期" in html_text(await clerk.get(f"/m/legal_aid/applications/{aid}"))
    assert (await clerk.submit(f"/m/legal_aid/applications/{aid}/assign", {"lawyer": str(lawyer["id"])})).status_code == 303
    row = await application_row(aid)
    assert row["status"] == "assigned" and not row["assigned_late"] and row["assigned_lawyer"] == lawyer["id"]
    assigned = await sms_to(PHONE, "legal_aid_assigned")
    assert len(assigned) == 1 and "大满镇值班律师（演示）" in assigned[0]["body"]
    assert [e["kind"] for e in await events(aid)] == ["received", "materials_requested", "materials_supplied", "granted",
                                                       "assigned"]
    assert len(await raw("SELECT id FROM audit_log WHERE action LIKE 'legal_aid.%' AND object_id = {}", str(aid))) >= 5


async def test_calendar_days_are_a_setting_of_the_center(app, client_factory):
    admin = await staff(client_factory, "dmz_admin")
    bad = await admin.submit("/m/legal_aid/settings", {"day_kind": "calendar", "decision_days": "8", "assign_days": "3",
                                                        "materials_days": "15", "exemption_categories": ""})
    assert bad.status_code == 422 and "法定最长 7 日" in html_text(bad) and 'value="8"' in bad.text
    saved = await admin.submit("/m/legal_aid/settings", {"day_kind": "calendar", "decision_days": "7", "assign_days": "3",
                                                          "materials_days": "15", "exemption_categories": ""})
    assert saved.status_code == 303
    travel_to(china(2026, 9, 29, 10))
    clerk = await staff(client_factory, "dmz_window")
    application = await register_at_window(clerk)
    # 09-29 + 7 calendar days = 10-06, a holiday: the period ends on the next working day, 10-08.
    assert application["day_kind"] == "calendar"
    assert as_dt(application["decision_due_at"]) == end_of_day(D(2026, 10, 8))
    # Another township keeps working days.
    other = await staff(client_factory, "dzz_window")
    elsewhere = await register_at_window(other, phone="13912340003")
    assert as_dt(elsewhere["decision_due_at"]) == end_of_day(D(2026, 10, 14))


async def test_a_province_list_of_exemption_categories_reaches_the_townships(app, client_factory):
    district = await staff(client_factory, "gzq_admin")
    saved = await district.submit("/m/legal_aid/settings", {
        "day_kind": "working", "decision_days": "7", "assign_days": "3", "materials_days": "15",
        "exemption_categories": "城乡最低生活保障对象\n特困供养人员"})
    assert saved.status_code == 303
    guide = html_text(await (await client_factory()).get("/m/legal_aid/c/GZQ-DMZ"))
    assert "城乡最低生活保障对象" in guide and "见义勇为" not in guide
    clerk = await staff(client_factory, "dmz_window")
    refused = await clerk.submit("/m/legal_aid/applications/new", {
        **application_form(hardship_mode="exempt", exemption_category="因见义勇为行为主张相关民事权益（第三十二条）"),
        "_submission_key": submission_key((await clerk.get("/m/legal_aid/applications/new")).text)})
    assert refused.status_code == 422 and "请选择申请人所属的人员类别" in html_text(refused)
    ok = await register_at_window(clerk, hardship_mode="exempt", exemption_category="特困供养人员", pledge="")
    assert ok["exemption_category"] == "特困供养人员" and ok["hardship_statement"] == ""


# ----------------------------------------------------------------------------- refusal, withdrawal


async def test_a_refusal_is_a_numbered_written_notice_with_the_objection_route(app, client_factory):
    clerk = await staff(client_factory, "dmz_window")
    first = await register_at_window(clerk)
    short = await clerk.submit(f"/m/legal_aid/applications/{first['id']}/decide", {"outcome": "refuse", "reasons": "不符合"})
    assert short.status_code == 422 and "至少 10 个字" in html_text(short) and "不符合" in short.text
    reasons = "申请人家庭月收入 8000 元，高于本省经济困难标准，且未提交免予核查的证明。"
    assert (await clerk.submit(f"/m/legal_aid/applications/{first['id']}/decide",
                               {"outcome": "refuse", "reasons": reasons})).status_code == 303
    second = await register_at_window(clerk, phone="13912340004")
    assert (await clerk.submit(f"/m/legal_aid/applications/{second['id']}/decide",
                               {"outcome": "refuse", "reasons": reasons})).status_code == 303
    year = clock.local(clock.now()).year
    numbers = [r["number"] for r in await raw("SELECT number FROM legal_aid_notice ORDER BY id")]
    assert numbers == [f"大满镇综治中心法援不字〔{year}〕第1号", f"大满镇综治中心法援不字〔{year}〕第2号"]
    notice = html_text(await clerk.get(f"/m/legal_aid/applications/{first['id']}/notice"))
    assert "不予法律援助决定书" in notice and reasons in notice and "第四十九条" in notice and "五日内" in notice
    assert "行政复议" in notice and "王秀兰" in notice
    sms = await sms_to(PHONE, "legal_aid_refuse")
    assert len(sms) == 1 and "不予法律援助" in sms[0]["body"]
    # The applicant reads it online; another citizen cannot.
    code = (await application_row(first["id"]))["code"]
    own = await citizen_client(client_factory, PHONE)
    assert reasons in html_text(await own.get(f"/m/legal_aid/c/GZQ-DMZ/applications/{code}/notice"))
    stranger = await citizen_client(client_factory, "13700000001")
    assert (await stranger.get(f"/m/legal_aid/c/GZQ-DMZ/applications/{code}/notice")).status_code == 404
    assert (await stranger.get(f"/m/legal_aid/c/GZQ-DMZ/applications/{code}")).status_code == 404
    assert (await own.get(f"/m/legal_aid/c/GZQ-DZZ/applications/{code}")).status_code == 404


async def test_materials_not_supplied_in_time_mean_the_application_is_withdrawn(app, client_factory):
    travel_to(china(2026, 9, 25, 10))
    clerk = await staff(client_factory, "dmz_window")
    application = await register_at_window(clerk)
    await clerk.submit(f"/m/legal_aid/applications/{application['id']}/materials", {"items": ["hardship"]})
    travel_to(china(2026, 10, 10, 23))  # the last day of the period: still open
    assert await deemed_withdrawn(job_context(app, DEEMED_WITHDRAWN)) == 0
    travel_to(china(2026, 10, 11, 8))
    assert await deemed_withdrawn(job_context(app, DEEMED_WITHDRAWN)) == 1
    assert await deemed_withdrawn(job_context(app, DEEMED_WITHDRAWN)) == 0
    row = await application_row(application["id"])
    assert row["status"] == "withdrawn" and len(await sms_to(PHONE, "legal_aid_withdrawn")) == 1
    citizen = await citizen_client(client_factory, PHONE)
    late = await citizen.submit(f"/m/legal_aid/c/GZQ-DMZ/applications/{row['code']}/supply", {},
                                files={"documents": ("a.pdf", PDF, "application/pdf")})
    assert late.status_code == 422 and "不在等待补充材料的状态" in html_text(late)


# ----------------------------------------------------------------------------- scope


async def test_applications_are_scoped_to_the_centers_below(app, client_factory):
    clerk = await staff(client_factory, "dmz_window")
    application = await register_at_window(clerk)
    aid = application["id"]
    await clerk.submit(f"/m/legal_aid/applications/{aid}/materials", {"items": ["form"]})
    citizen = await citizen_client(client_factory, PHONE)
    await citizen.submit(f"/m/legal_aid/c/GZQ-DMZ/applications/{application['code']}/supply", {},
                         files={"documents": ("a.pdf", PDF, "application/pdf")})
    document = (await raw("SELECT id FROM legal_aid_document WHERE application = {}", aid))[0]["id"]
    urls = [f"/m/legal_aid/applications/{aid}", f"/m/legal_aid/documents/{document}"]
    # Another township, and the village below the township: 404, forged ids too.
    for username in ("dzz_window", "xxc_window"):
        other = await staff(client_factory, username)
        for url in urls:
            assert (await other.get(url)).status_code == 404, (username, url)
        assert (await other.submit(f"/m/legal_aid/applications/{aid}/decide",
                                   {"outcome": "grant"})).status_code == 404
        assert "王秀兰" not in html_text(await other.get("/m/legal_aid/applications"))
        assert (await other.get("/m/legal_aid/applications/999999")).status_code == 404
    assert (await application_row(aid))["status"] == "complete"
    # The district sees it; a lawyer has no power over applications.
    district = await staff(client_factory, "gzq_window")
    assert (await district.get(f"/m/legal_aid/applications/{aid}")).status_code == 200
    assert (await district.get(f"/m/legal_aid/documents/{document}")).content == PDF
    lawyer = await staff(client_factory, "lawyer")
    assert (await lawyer.get(f"/m/legal_aid/applications/{aid}")).status_code == 403
    # Lists show personal numbers masked; the full ones only on the (audited) application page.
    listing = await district.get("/m/legal_aid/applications")
    assert "139****5678" in html_text(listing) and PHONE not in listing.text
    assert await raw("SELECT id FROM audit_log WHERE action = 'legal_aid.application_read' AND actor = 'gzq_window'")
    # Switched off at the township: its applications are out of reach even for the district.
    await switch_module(app, "GZQ-DMZ", False)
    assert (await district.get(f"/m/legal_aid/applications/{aid}")).status_code == 404
    assert (await district.get(f"/m/legal_aid/documents/{document}")).status_code == 404
    assert (await district.get("/m/legal_aid/applications")).status_code == 200  # the district's own pages still answer
