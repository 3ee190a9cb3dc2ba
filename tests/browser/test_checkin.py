"""Department check-in (吹哨报到) in a real browser (issue 5, done-when 1).

* Window staff of 甘州区 register a matter and, from its 「吹哨」 action, summon 区住建局, 公安甘州分局
  and 区市场监管局 (特急, on site). Each department's officer already has a page open (one on a
  phone); the summons appears there as a live alert within 2 seconds, without a reload.
* 区住建局 checks in by typing the code shown on the staff page (phone), 公安甘州分局 by the QR
  code's target; 区市场监管局 does not. The escalation job, run with the server's environment as if
  after the limit (``portal jobs run checkin.escalate --now``), re-notifies it (another live alert)
  and walks its chain; the whistle page shows the steps and the department as overdue.
* The whistle does not close while a department has not reported: the close form names it and
  refuses. 区市场监管局 checks in late and reports; then it closes.
* axe (WCAG 2.2 AA) and the Nu HTML checker on the new-whistle form, the whistle page, the code
  page (phone) and the confirmation page, normal and 长辈版.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import qrcode
import qrcode.image.svg
from playwright.sync_api import expect

from plugins.checkin.service import DEFAULT_POLICY
from plugins.checkin.vocab import EVENT_LABELS, GRADES, METHODS, STATUS_LABELS
from portal.i18n import gettext
from tests.browser.checks import MODES, axe_problems, shape_problems, small_text, status_problems, vnu_problems
from tests.browser.conftest import BIN, DESKTOP, PHONE, ROOT, SERVER_ENV, elder_link, open_guarded, sign_in
from tests.browser.test_matters import Walk, navigate, new_phone, open_details

ALERT_WITHIN = 2.0  # seconds from the commit to the alert on an open page
CENTER = "甘州区综治中心"  # gzq_window's center: the three departments serve the district level
STAFF = "gzq_window"
ZJJ, GAFJ, SCJGJ = "区住建局", "公安甘州分局", "区市场监管局"
OFFICERS = {ZJJ: "zjj_officer", GAFJ: "gafj_officer", SCJGJ: "scjgj_officer"}
ESCALATION = ("renotified", "leader_alerted", "upper_alerted")
WHISTLE_URL = re.compile(r"/m/checkin/w/(\d+)$")
SUMMONS_TEXT = ("Whistle from %(center)s: %(department)s is summoned (%(grade)s). Reason: %(reason)s. Check in by "
                "%(due)s. %(where)s")
REMINDER_TEXT = ("Reminder: %(department)s has not checked in for the whistle of %(center)s (%(grade)s); the time "
                 "limit was %(due)s. Check in now. %(where)s")


# ------------------------------------------------------------------------------ helpers


def path_of(page) -> str:
    return urlsplit(page.url).path


def server_of(page) -> str:
    parts = urlsplit(page.url)
    return f"{parts.scheme}://{parts.netloc}"


def run_cli(*args: str) -> str:
    """The CLI against the browser server's database (its environment: ``SERVER_ENV``)."""
    result = subprocess.run([str(BIN / "portal"), *args], cwd=ROOT, env=SERVER_ENV, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"portal {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result.stdout


def open_live(page, url: str) -> None:
    """Open ``url`` and wait until its live-alert stream is connected; mark the document so a later
    reload (which would show alerts by other means) is noticed."""
    with page.expect_response(lambda response: urlsplit(response.url).path == "/live"):
        page.goto(url)
    expect(page.locator("#live-alerts")).to_have_attribute("role", "alert")
    page.evaluate("window.__notReloaded = true")


def alerts_for(page, link: str):
    """The live alerts on ``page`` whose 查看 link opens ``link``."""
    return page.locator("#live-alerts .live-alert").filter(has=page.locator(f"a[href='{link}']"))


def wait_alerts(page, link: str, count: int, deadline: float) -> None:
    left_ms = max(50.0, (deadline - time.monotonic()) * 1000)
    expect(alerts_for(page, link)).to_have_count(count, timeout=left_ms)
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"


def flash(page):
    return page.locator("main .notice[role='status']")


def row(page, department: str):
    return page.locator("main table tbody tr").filter(has=page.locator("th", has_text=department))


def state(page, department: str):
    return row(page, department).locator("td").first.locator(".tag")


def timeline_items(page, kind: str):
    return page.locator("main ol.timeline > li").filter(has=page.get_by_text(EVENT_LABELS[kind], exact=True))


def check_in_by_code(page, typed: str, attendees: str) -> None:
    """/m/checkin/code → the confirmation page → the whistle page."""
    page.goto("/m/checkin/code")
    form = page.locator("main form[action='/m/checkin/code']")
    form.locator("#code").fill(typed)
    navigate(page, lambda: form.locator("button[type='submit']").click())
    expect(page).to_have_url(re.compile(r"/m/checkin/c/[2-9A-HJ-NP-Z]{6}\?via=code$"))
    confirm(page, attendees)


def confirm(page, attendees: str) -> None:
    form = page.locator("main form[action^='/m/checkin/c/']")
    form.locator("#attendees").fill(attendees)
    navigate(page, lambda: form.locator("button[type='submit']").click())
    expect(page).to_have_url(WHISTLE_URL)


def report_result(page, text: str, department: str | None = None) -> None:
    """An officer reports the own department's result; the center names the department."""
    details = open_details(page, "details#action-result")
    if department is not None:
        details.locator("#result-department").select_option(label=department)
    details.locator("#result-text").fill(text)
    navigate(page, lambda: details.locator("button[type='submit']").click())
    expect(flash(page)).to_have_text(gettext("Result saved."))


def register_matter(staff, summary: str) -> str:
    """A visit registered at the window; returns the matter page's path."""
    staff.goto("/matters/new")
    form = staff.locator("main form[action='/matters/new']")
    form.locator("#category").select_option(index=1)
    form.locator("#petitioner_name").fill("李四")
    form.locator("#petitioner_phone").fill(new_phone())
    form.locator("#summary").fill(summary)
    form.locator("#request").fill("请求有关部门联合查处小区内的违法建筑和无证经营。")
    navigate(staff, lambda: form.locator("button[type='submit']").click())
    expect(staff).to_have_url(re.compile(r"/matters/\d+$"))
    return path_of(staff)


def fill_whistle(staff, departments: list[str], place: str, *, standalone: bool = False) -> str:
    """Fill the new-whistle form (特急, on site); returns the reason chosen."""
    form = staff.locator("main form[action^='/m/checkin/new']")
    if standalone:
        form.locator("input[name='source'][value='emergency']").check()
    for name in departments:
        form.get_by_label(name, exact=True).check()
    form.locator("#reason").select_option(index=1)
    form.locator("input[name='grade'][value='emergency']").check()
    form.locator("input[name='mode'][value='onsite']").check()
    form.locator("#place").fill(place)
    form.locator("#instruction").fill("请带执法证件到场，联合查处违建和无证经营。")
    return form.locator("#reason option:checked").inner_text().strip()


def due_text(page, department: str) -> str:
    found = re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", row(page, department).locator("td").first.inner_text())
    assert found, row(page, department).inner_text()
    return found.group(0)


def qr_path(data: str) -> str:
    """The path of the QR code the page should show for ``data`` (the same generator, same size)."""
    import io

    buffer = io.BytesIO()
    qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10).save(buffer)
    return re.search(r'<path[^>]* d="([^"]+)"', buffer.getvalue().decode()).group(1)


# ------------------------------------------------------------------------------ the journey


@pytest.mark.browser
def test_blow_alert_check_in_escalate_and_close(browser, server):
    opened = []

    def context(viewport, username):
        context_, page, guard = open_guarded(browser, server, viewport)
        opened.append((context_, guard))
        sign_in(page, username)
        return page

    try:
        staff = context(DESKTOP, STAFF)
        officers = {ZJJ: context(PHONE, OFFICERS[ZJJ]), GAFJ: context(DESKTOP, OFFICERS[GAFJ]),
                    SCJGJ: context(DESKTOP, OFFICERS[SCJGJ])}
        _journey(staff, officers)
    finally:
        for context_, _guard in opened:
            context_.close()
    for _context, guard in opened:
        guard.check()


def _journey(staff, officers: dict) -> None:
    tag = secrets.token_hex(3)
    place = f"甘州区南关社区活动室（{tag}）"

    # --- every officer has a page open before the whistle is blown
    for department, page in officers.items():
        open_live(page, "/dashboard" if department != GAFJ else "/m/checkin/")
        expect(page.locator("#live-alerts .live-alert")).to_have_count(0)

    # --- staff: a matter, its 吹哨 action, the form
    matter_url = register_matter(staff, f"小区违建与无证经营（{tag}）")
    navigate(staff, lambda: staff.locator("main a.button", has_text="吹哨（召集部门报到）").click())
    expect(staff).to_have_url(re.compile(r"/m/checkin/new\?matter_id=\d+$"))
    reason = fill_whistle(staff, [ZJJ, GAFJ, SCJGJ], place)
    report_at = staff.locator("#report_at").input_value()
    blown = time.monotonic()
    navigate(staff, lambda: staff.locator("main form[action^='/m/checkin/new'] button[type='submit']").click())
    expect(staff).to_have_url(WHISTLE_URL)
    link = path_of(staff)

    # --- each officer's open page shows the alert within 2 seconds, without a reload
    deadline = blown + ALERT_WITHIN
    for page in officers.values():
        wait_alerts(page, link, 1, deadline)
    took = time.monotonic() - blown
    assert took < ALERT_WITHIN, f"the last alert appeared {took:.2f} s after the blow"
    expect(flash(staff)).to_have_text(gettext("Whistle blown: the departments have been notified."))
    expect(staff.locator("main h1")).to_have_text(reason)
    where = gettext("Report on site at %(place)s at %(time)s.", place=place, time=report_at)
    for department, page in officers.items():
        expect(state(staff, department)).to_have_text("等待报到")
        expected = gettext(SUMMONS_TEXT, center=CENTER, department=department, grade=GRADES["emergency"],
                           reason=reason, due=due_text(staff, department), where=where)
        expect(alerts_for(page, link).locator(".live-alert-body")).to_have_text(expected)

    # --- the staff page shows the code and a QR code for the meeting place
    code = staff.locator("#checkin-code").inner_text().strip()
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{6}", code), code
    qr_target = f"{server_of(staff)}/m/checkin/c/{code}"
    assert staff.locator("main figure.qr svg path").get_attribute("d") == qr_path(qr_target)

    # --- 区住建局 types the code on the phone (lower case, with a dash: as people type it)
    phone = officers[ZJJ]
    phone.goto("/m/checkin/code")
    form = phone.locator("main form[action='/m/checkin/code']")
    form.locator("#code").fill("0O1IL0")
    response = navigate(phone, lambda: form.locator("button[type='submit']").click())
    assert response.status == 422
    expect(phone.locator("#code-error")).to_contain_text(
        gettext("No whistle has this check-in code, or it does not summon your department."))
    expect(phone.locator("#code")).to_have_value("0O1IL0")
    check_in_by_code(phone, f"{code[:3].lower()}-{code[3:].lower()}", "张工、王工")
    assert path_of(phone) == link
    expect(flash(phone)).to_have_text(gettext("Checked in. Thank you."))
    expect(state(phone, ZJJ)).to_have_text("已报到")
    expect(row(phone, ZJJ)).to_contain_text(METHODS["code"])
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scrolling"

    # --- 公安甘州分局 follows its alert, then scans the QR code (its target)
    police = officers[GAFJ]
    navigate(police, lambda: alerts_for(police, link).get_by_role("link").click())
    assert path_of(police) == link
    police.goto(qr_target)
    expect(police.locator("main form input[name='method']")).to_have_value("qr")
    confirm(police, "李警官")
    expect(flash(police)).to_have_text(gettext("Checked in. Thank you."))
    expect(row(police, GAFJ)).to_contain_text(METHODS["qr"])

    # --- 区市场监管局 does not check in. The job runs as if just after its last escalation step.
    market = officers[SCJGJ]
    staff.reload()
    expect(state(staff, SCJGJ)).to_have_text("等待报到")
    chain = DEFAULT_POLICY
    due = dt.datetime.strptime(due_text(staff, SCJGJ), "%Y-%m-%d %H:%M")
    assert max(chain["renotify_after"], chain["leader_after"]) < chain["upper_after"]
    moment = due + dt.timedelta(minutes=chain["upper_after"] + 2)  # China time, as the CLI takes it
    run_cli("jobs", "run", "checkin.escalate", "--now", moment.strftime("%Y-%m-%dT%H:%M:%S"))
    ran = time.monotonic()
    wait_alerts(market, link, 2, ran + ALERT_WITHIN)
    reminder = gettext(REMINDER_TEXT, center=CENTER, department=SCJGJ, grade=GRADES["emergency"],
                       due=due_text(staff, SCJGJ), where=where)
    expect(alerts_for(market, link).last.locator(".live-alert-body")).to_have_text(reminder)

    staff.reload()
    for kind in ESCALATION:
        items = timeline_items(staff, kind)
        expect(items).to_have_count(1)
        expect(items).to_contain_text(SCJGJ)
    expect(state(staff, SCJGJ)).to_have_text("超时未报到")
    for department in (ZJJ, GAFJ):  # checked in: nothing more for them
        expect(state(staff, department)).to_have_text("已报到")

    # --- results: 区住建局 by its officer, 公安甘州分局 entered by the center
    report_result(phone, "已对违建部分下达限期拆除通知书。")
    report_result(staff, "已对无证经营户登记并责令停业。", department=GAFJ)
    expect(row(staff, GAFJ)).to_contain_text(gettext("(entered by the center)"))

    # --- the whistle cannot close while 区市场监管局 has not reported
    close = open_details(staff, "details#action-close")
    expect(close).to_contain_text(gettext(
        "Not reported yet: %(departments)s. The whistle closes only when every department has reported its result.",
        departments=SCJGJ))
    close.locator("#close-note").fill("各部门已到场处置，同意办结。")
    response = navigate(staff, lambda: close.locator("button[type='submit']").click())
    assert response.status == 422
    expect(staff.locator("#close-note-error")).to_contain_text(
        gettext("Not every department has reported its result yet: %(departments)s.", departments=SCJGJ))
    expect(staff.locator("#close-note")).to_have_value("各部门已到场处置，同意办结。")
    expect(staff.locator("main h1 + p .tag").first).to_have_text(STATUS_LABELS["open"])

    # --- 区市场监管局 follows the reminder, checks in late, reports
    navigate(market, lambda: alerts_for(market, link).last.get_by_role("link").click())
    assert path_of(market) == link
    check_in_by_code(market, code, "赵科长")
    expect(flash(market)).to_have_text(gettext("Checked in, after the time limit: recorded as late."))
    expect(state(market, SCJGJ)).to_have_text("迟到报到")
    report_result(market, "已对涉事商户立案调查。")

    # --- now it closes (goto, not reload: the page is the refused close's answer to a POST)
    staff.goto(link)
    close = open_details(staff, "details#action-close")
    expect(close).not_to_contain_text(SCJGJ)
    close.locator("#close-note").fill("各部门均已反馈处置结果，同意办结。")
    navigate(staff, lambda: close.locator("button[type='submit']").click())
    expect(flash(staff)).to_have_text(gettext("The whistle is closed."))
    expect(staff.locator("main h1 + p .tag").first).to_have_text(STATUS_LABELS["closed"])
    expect(staff.locator("details#action-close")).to_have_count(0)
    expect(timeline_items(staff, "closed")).to_have_count(1)
    expect(state(staff, SCJGJ)).to_have_text("迟到报到")

    # --- the matter's page shows the whistle and its outcome
    staff.goto(matter_url)
    panel = staff.locator("main section.panel").filter(has=staff.locator(f"a[href='{link}']"))
    expect(panel).to_contain_text(STATUS_LABELS["closed"])


# ------------------------------------------------------------------------------ axe and vnu


def _elder(page) -> None:
    page.goto("/dashboard")
    elder_link(page, on=True).click()
    expect(page.locator("html")).to_have_class("elder")


@pytest.mark.browser
def test_checkin_pages_pass_axe_and_the_html_checker(browser, server):
    """The new-whistle form (also refused), the whistle page (staff: code, QR and every action form
    open; officer), the code page on a phone (also refused) and the confirmation page, normal and
    长辈版. The whistle is withdrawn at the end, so it is not left open for other tests."""
    opened = [open_guarded(browser, server, DESKTOP), open_guarded(browser, server, PHONE)]
    staff, officer = opened[0][1], opened[1][1]
    shots = []
    link = None
    try:
        sign_in(staff, STAFF)
        sign_in(officer, OFFICERS[ZJJ])
        for mode in MODES:
            walk = Walk(mode)
            if mode == "elder":
                _elder(staff)
                _elder(officer)
            walk.visit(staff, "/m/checkin/new")
            form = staff.locator("main form[action='/m/checkin/new']")
            response = navigate(staff, lambda: form.locator("button[type='submit']").click())
            expect(staff.locator("main .error-summary")).to_be_visible()
            walk.snap(staff, "/m/checkin/new submitted empty", response, expected=422)
            if link is None:
                staff.goto("/m/checkin/new")
                fill_whistle(staff, [ZJJ, SCJGJ], f"大满镇政府三楼会议室（{secrets.token_hex(3)}）", standalone=True)
                blow = staff.locator("main form[action='/m/checkin/new'] button[type='submit']")
                navigate(staff, lambda: blow.click())
                expect(staff).to_have_url(WHISTLE_URL)
                link = path_of(staff)
            walk.visit(staff, link, "/m/checkin/w/<id> (staff, open)", open_details=True)
            code = staff.locator("#checkin-code").inner_text().strip()

            walk.visit(officer, "/m/checkin/code")
            form = officer.locator("main form[action='/m/checkin/code']")
            form.locator("#code").fill("no such")
            response = navigate(officer, lambda: form.locator("button[type='submit']").click())
            walk.snap(officer, "/m/checkin/code with a wrong code", response, expected=422)
            walk.visit(officer, f"/m/checkin/c/{code}?via=code", "/m/checkin/c/<code>")
            walk.visit(officer, link, "/m/checkin/w/<id> (officer, not checked in)", open_details=True)
            shots += walk.shots
    finally:
        try:
            if link is not None:
                staff.goto(link)
                cancel = open_details(staff, "details#action-cancel")
                cancel.locator("#cancel-reason").fill("浏览器测试结束，撤回。")
                navigate(staff, lambda: cancel.locator("button[type='submit']").click())
                expect(flash(staff)).to_have_text(gettext("The whistle was withdrawn."))
        finally:
            for context, _page, _guard in opened:
                context.close()
    for _context, _page, guard in opened:
        guard.check()
    # 8 shots a mode: the staff whistle page twice (its <details> shut, then open).
    assert [shot.mode for shot in shots].count("elder") == len(shots) // 2 == 8
    problems = status_problems(shots) + shape_problems(shots) + axe_problems(shots) + vnu_problems(shots)
    problems += [line for mode in MODES for line in small_text([s for s in shots if s.mode == mode], mode)]
    assert not problems, "\n".join(problems)
