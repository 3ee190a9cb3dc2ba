"""Counseling in a real browser (issue 7).

Done-when 1: a citizen books a first session under a pseudonym and gives consent; the counselor the
engine gave the booking opens a case and writes the session's notes; the other counselor, the
district center's admin and a township center's admin each get 404 on the case; the supervisor
reads it only after giving a reason; the audit log (/audit) and the counselor's case page both show
that reading. axe (WCAG 2.2 AA) and the Nu HTML checker on the notes and review pages, normal and
长辈版.

Done-when 3 (browser half): a citizen's PHQ-9 with item 9 above 0 raises the crisis flag, and the
crisis contact's open page shows the live alert within 2 seconds, without a reload.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.checks import axe_problems, shape_problems, status_problems, vnu_problems
from tests.browser.conftest import elder_link, move_booking, open_guarded, server_db, sign_in
from tests.browser.test_bookings import Recorder, first_slot
from tests.browser.test_matters import citizen_sign_in, navigate, new_phone

CENTER = "甘州区综治中心"
SERVICE = "首次咨询"
NOTES = "来访者谈到与邻居的纠纷让她整夜难以入睡。"
PLAN = "下次咨询练习放松训练。"
REASON = "月度督导会：讨论邻里纠纷引发的睡眠问题"
SUPERVISOR_NAME = "督导咨询师（演示）"
ALERT_WITHIN_MS = 2000


def move_to_now(booking_id: int) -> None:
    """The appointment's time has come (the server's clock is real): the booking starts now."""
    start = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
    move_booking(booking_id, start, 50)


def counselor_of(booking_id: int) -> str:
    with server_db() as conn:
        (username,) = conn.execute(
            "SELECT u.username FROM booking b JOIN booking_resource r ON r.id = b.resource "
            "JOIN staff_user u ON u.id = r.staff WHERE b.id = ?", (booking_id,)).fetchone()
    return username


def book_with_consent(citizen, staff, phone: str, pseudonym: str) -> int:
    """/book → 甘州区综治中心 → 首次咨询 → the first time → sign in → a pseudonym → confirm → consent."""
    citizen.goto("/book")
    navigate(citizen, lambda: citizen.locator("main a").filter(has_text=CENTER).first.click())
    navigate(citizen, lambda: citizen.get_by_role("link", name=SERVICE, exact=True).click())
    slot, _label = first_slot(citizen)
    citizen.locator(f"main input[value='{slot}']").check()
    navigate(citizen, lambda: citizen.locator("main form").first.locator("button[type='submit']").last.click())
    expect(citizen).to_have_url(re.compile(r"/citizen/login"))
    citizen_sign_in(citizen, staff, phone, quote(parse_qs(urlsplit(citizen.url).query)["next"][0], safe="/"))
    expect(citizen).to_have_url(re.compile(r"/check\?slot=\d+$"))
    citizen.locator("main #name").fill(pseudonym)
    navigate(citizen, lambda: citizen.get_by_role("button", name="确认预约").click())
    expect(citizen).to_have_url(re.compile(r"/my/bookings/\d+$"))
    booking_id = int(citizen.url.rsplit("/", 1)[1])
    # The booking page's next step: the consent, separate and unticked.
    navigate(citizen, lambda: citizen.locator("main a[href*='/consent/']").first.click())
    agree = citizen.locator("#agree")
    expect(agree).not_to_be_checked()
    agree.check()
    navigate(citizen, lambda: citizen.locator("main form[action*='/consent/'] button[type='submit']").click())
    expect(citizen.locator("#consent-done")).to_be_visible()
    return booking_id


@pytest.fixture
def pages(browser, server):
    opened = []

    def make(**options):
        context, page, guard = open_guarded(browser, server, None, **options)
        opened.append((context, guard))
        return page

    yield make
    for context, _guard in opened:
        context.close()
    for _context, guard in opened:
        guard.check()


@pytest.mark.browser
def test_notes_are_the_authors_and_a_supervisor_reads_them_only_after_a_reason(pages):
    normal, elder = Recorder("normal"), Recorder("elder")
    staff = pages()
    sign_in(staff, "gzq_window")  # reads the citizen's sign-in code in the demo outbox
    citizen = pages()
    booking_id = book_with_consent(citizen, staff, new_phone(), "青禾")
    move_to_now(booking_id)
    author = counselor_of(booking_id)
    other = "counselor2" if author == "counselor" else "counselor"

    # --- the counselor: the booking → a case → the session's notes
    counselor = pages()
    sign_in(counselor, author)
    counselor.goto(f"/m/counseling/bookings/{booking_id}")
    expect(counselor.locator("#consent-state")).to_be_visible()
    response = navigate(counselor, lambda: counselor.locator(f"main a[href='/m/counseling/cases/new?booking={booking_id}']").click())
    normal.snap(counselor, "/m/counseling/cases/new?booking=<id>", response)
    expect(counselor.locator("#booking")).to_have_value(str(booking_id))
    navigate(counselor, lambda: counselor.locator("main form button[type='submit']").click())
    expect(counselor).to_have_url(re.compile(r"/m/counseling/cases/\d+$"))
    case_url = urlsplit(counselor.url).path
    case_id = int(case_url.rsplit("/", 1)[1])
    expect(counselor.locator("main h1")).to_contain_text("青禾")
    expect(counselor.locator("#consent-state")).to_contain_text("已于")

    response = navigate(counselor, lambda: counselor.locator(f"main a[href='{case_url}/sessions/new']").click())
    normal.snap(counselor, "/m/counseling/cases/<id>/sessions/new", response)
    expect(counselor.locator("#booking")).to_have_value(str(booking_id))
    expect(counselor.locator("#held_at")).not_to_have_value("")
    counselor.get_by_label("邻里与纠纷", exact=True).check()
    counselor.get_by_label("压力与情绪", exact=True).check()
    counselor.locator("#notes").fill(NOTES)
    counselor.locator("#plan").fill(PLAN)
    # Forgetting the risk assessment: the form comes back with the message and everything typed.
    response = navigate(counselor, lambda: counselor.locator("main form button[type='submit']").click())
    assert response.status == 422
    normal.snap(counselor, "/m/counseling/cases/<id>/sessions/new (error)", response, expected=422)
    expect(counselor.locator(".error-summary")).to_contain_text("请选择您评估的风险")
    expect(counselor.locator("#notes")).to_have_value(NOTES)
    counselor.get_by_label("低风险", exact=True).check()
    navigate(counselor, lambda: counselor.locator("main form button[type='submit']").click())
    expect(counselor).to_have_url(re.compile(rf"{case_url}$"))
    main = counselor.locator("main")
    expect(main).to_contain_text(NOTES)
    expect(main).to_contain_text(PLAN)
    expect(main).to_contain_text("邻里与纠纷")
    normal.visit(counselor, case_url, "/m/counseling/cases/<id>")

    # --- nobody else finds it: the other counselor, the district center's admin, a township's admin
    for username in (other, "gzq_admin", "dmz_admin"):
        page = pages()
        sign_in(page, username)
        for url in (case_url, f"{case_url}/sessions/new"):
            response = page.goto(url)
            assert response.status == 404, (username, url, response.status)
            assert NOTES not in page.content() and "青禾" not in page.content()

    # --- the supervisor: the list, the reason, then the notes
    supervisor = pages()
    sign_in(supervisor, "counselor_sup")
    assert supervisor.goto(case_url).status == 404  # never through the author's page
    normal.visit(supervisor, "/m/counseling/review", "/m/counseling/review")
    response = navigate(supervisor, lambda: supervisor.locator(f"main a[href='/m/counseling/review/{case_id}']").click())
    normal.snap(supervisor, "/m/counseling/review/<id>", response)
    assert NOTES not in supervisor.content()
    supervisor.locator("#reason").fill("看看")
    response = navigate(supervisor, lambda: supervisor.locator("main form button[type='submit']").click())
    assert response.status == 422
    normal.snap(supervisor, "/m/counseling/review/<id> (reason too short)", response, expected=422)
    assert NOTES not in supervisor.content()
    supervisor.locator("#reason").fill(REASON)
    navigate(supervisor, lambda: supervisor.locator("main form button[type='submit']").click())
    expect(supervisor).to_have_url(re.compile(r"/m/counseling/review/g/\d+$"))
    grant_url = urlsplit(supervisor.url).path
    expect(supervisor.locator("main")).to_contain_text(NOTES)
    expect(supervisor.locator("main")).to_contain_text(REASON)
    assert "青禾" not in supervisor.locator("main").inner_text()  # supervision needs no identity
    normal.visit(supervisor, grant_url, "/m/counseling/review/g/<id>")

    # --- the audit log and the counselor both show the reading
    auditor = pages()
    sign_in(auditor, "auditor")
    auditor.goto(f"/audit?action=counseling.notes_reviewed&object_id={case_id}")
    row = auditor.locator("main table tbody tr").filter(has_text="counseling.notes_reviewed")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("counselor_sup")
    counselor.goto(case_url)
    expect(counselor.locator("main .review-log")).to_contain_text(re.compile(
        rf"督导 {re.escape(SUPERVISOR_NAME)} 于 \d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}} 查阅，理由：{re.escape(REASON)}"))

    # --- 长辈版: the same pages, large text
    for page, urls in ((counselor, (case_url, f"{case_url}/sessions/new")),
                       (supervisor, ("/m/counseling/review", f"/m/counseling/review/{case_id}", grant_url))):
        elder_link(page, on=True).click()
        expect(page.locator("html")).to_have_class("elder")
        for url in urls:
            elder.visit(page, url, re.sub(r"/\d+", "/<id>", url))

    shots = normal.shots + elder.shots
    problems = status_problems(shots) + shape_problems(shots) + axe_problems(shots) + vnu_problems(shots)
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_a_self_harm_answer_alerts_the_crisis_contact_within_two_seconds(pages):
    contact = pages()
    sign_in(contact, "crisis_duty")
    contact.goto("/dashboard")
    contact.wait_for_load_state("load")
    expect(contact.locator("#live-alerts")).to_be_empty()
    contact.evaluate("window.__notReloaded = true")
    contact.wait_for_timeout(300)  # the page's live stream is open

    staff = pages()
    sign_in(staff, "gzq_window")
    citizen = pages()
    booking_id = book_with_consent(citizen, staff, new_phone(), "小舟")
    navigate(citizen, lambda: citizen.locator(f"main a[href$='/screening/{booking_id}']").click())
    for item in range(1, 9):
        citizen.locator(f"#phq9_{item}").check()  # 0: not at all
    citizen.locator("#phq9_9-1").check()  # item 9 (thoughts of self-harm): several days
    citizen.locator("#phq9_difficulty").check()
    for item in range(1, 8):
        citizen.locator(f"#gad7_{item}").check()
    response = navigate(citizen, lambda: citizen.locator("main form[action*='/screening/'] button[type='submit']").click())
    committed = time.monotonic()  # the answer and the flag are stored before the page answers
    assert response.status == 200
    alert = contact.locator("#live-alerts .live-alert").first
    expect(alert).to_be_visible(timeout=ALERT_WITHIN_MS)
    took = time.monotonic() - committed
    assert took < ALERT_WITHIN_MS / 1000, took
    assert contact.evaluate("window.__notReloaded === true")
    expect(alert).to_contain_text(CENTER)
    # The alert names no one and nothing of the answers; its link opens the flag.
    assert "小舟" not in alert.inner_text()
    expect(alert.locator("a")).to_have_attribute("href", re.compile(r"^/m/counseling/crisis/\d+$"))
