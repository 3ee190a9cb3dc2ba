"""The one-stop window in a real browser (issue 3).

* The whole online journey without JavaScript: a citizen signs in by phone + SMS code, answers the
  intake questions one page at a time (uploading a PDF through the real file input), checks the
  answers and submits; someone else follows the matter by code + last 4 digits; the village
  center's window staff accept and reply with the action forms (``<details>``) of the matter page;
  the citizen rates and asks for a review; every step is on both timelines.
* The same with htmx loaded, plus the staff queue filter that swaps ``#queue-results`` in place
  and pushes a bookmarkable URL.
* axe (WCAG 2.2 AA) and the Nu HTML checker on every page of the window, normal and 长辈版.
* No sideways scrolling on a phone.

Assertions use structure, ids, roles and the Chinese domain labels of ``portal.matters.vocab``
(timeline and status wording), not interface wording that may still be untranslated.
"""

from __future__ import annotations

import random
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from portal.matters.vocab import CATEGORIES, EVENT_LABELS, RATINGS, STATUS_LABELS
from tests.browser.conftest import DESKTOP, PHONE, elder_link, open_guarded, sign_in
from tests.browser.checks import (
    AXE_OPTIONS,
    FACTS_JS,
    MIN_TEXT_PX,
    MODES,
    Shot,
    axe_problems,
    shape_problems,
    small_text,
    status_problems,
    vnu_problems,
)

VILLAGE = "新新村综治中心"  # xxc_window's center
TOWNSHIP = "大满镇综治中心"  # its upper center: reviews go there
CATEGORY = "labour"
CODE_SHAPE = re.compile(r"^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$")
SIX_DIGITS = re.compile(r"(?<!\d)(\d{6})(?!\d)")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PDF_NAME = "工资条.pdf"
INTAKE_PAGES = ("center", "category", "matter", "place", "people", "files", "consent")
# What both timelines show after: submitted, accepted (with its notice), replied (with its
# notice), rated, review requested.
JOURNEY_EVENTS = [
    EVENT_LABELS[kind]
    for kind in ("registered", "accepted", "notice", "replied", "notice", "rated", "review_requested")
]


def new_phone() -> str:
    """A fresh mobile number per sign-in: codes have a per-number cooldown, matters a repeat check."""
    return f"139{random.randrange(10**8):08d}"


def plain(code: str) -> str:
    return code.replace("-", "")


# --------------------------------------------------------------------------- citizen helpers


def read_sms_code(staff, phone: str) -> str:
    """The newest sign-in code sent to ``phone``, read from /admin/outbox by a signed-in staff page."""
    staff.goto("/admin/outbox")
    rows = staff.locator("main table tbody tr").filter(has_text=phone)
    for index in range(rows.count()):
        found = SIX_DIGITS.search(rows.nth(index).locator("td").nth(2).inner_text())
        if found:
            return found.group(1)
    pytest.fail(f"no sign-in SMS to {phone} in /admin/outbox")


def navigate(page, action) -> object:
    """Run ``action`` (a click) and wait for the navigation it starts; returns the final response."""
    with page.expect_navigation() as info:
        action()
    page.wait_for_load_state("load")
    return info.value


def submit(page, form) -> object:
    return navigate(page, lambda: form.locator("button[type='submit']").last.click())


def citizen_sign_in(page, staff, phone: str, next_url: str, snap=None) -> None:
    """Phone number, then the 6-digit code from the outbox; ends on ``next_url`` (or where it leads)."""
    response = page.goto(f"/citizen/login?next={next_url}")
    if snap:
        snap(page, "/citizen/login", response)
    form = page.locator("main form[action='/citizen/login']")
    form.locator("#phone").fill(phone)
    response = submit(page, form)
    expect(page).to_have_url(re.compile(r"/citizen/login/code\?"))
    if snap:
        snap(page, "/citizen/login/code", response)
    code = read_sms_code(staff, phone)
    form = page.locator("main form[action='/citizen/login/code']")
    form.locator("#code").fill(code)
    submit(page, form)


def center_value(page, name: str) -> str:
    """The value of the center <select>'s option for ``name`` (options are indented with spaces)."""
    option = page.locator("#center option").filter(has_text=name)
    expect(option).to_have_count(1)
    return option.get_attribute("value")


def answer_intake(page, summary: str, on_page=None) -> str:
    """From /submit/center to the confirmation; returns the tracking code as shown (XXXX-XXXX-XXXX).

    ``on_page(label, response)`` is called on each page as it arrives.
    """
    report = on_page or (lambda label, response: None)

    def seen(label: str, response) -> None:
        assert response.status == 200, f"{response.request.method} {urlsplit(response.url).path} answered {response.status}"
        report(label, response)

    expect(page).to_have_url(re.compile(r"/submit/center$"))

    form = page.locator("main form[action='/submit/center']")
    form.locator("#center").select_option(center_value(page, VILLAGE))
    seen("/submit/category", submit(page, form))
    expect(page).to_have_url(re.compile(r"/submit/category$"))

    form = page.locator("main form[action='/submit/category']")
    form.get_by_label(CATEGORIES[CATEGORY], exact=True).check()
    seen("/submit/matter", submit(page, form))
    expect(page).to_have_url(re.compile(r"/submit/matter$"))

    form = page.locator("main form[action='/submit/matter']")
    form.locator("#summary").fill(summary)
    form.locator("#request").fill("请求用人单位支付拖欠的三个月工资共一万二千元。")
    form.locator("#facts").fill("2026年8月至10月在新新村某建筑工地务工，工资至今未发。")
    seen("/submit/place", submit(page, form))
    expect(page).to_have_url(re.compile(r"/submit/place$"))

    form = page.locator("main form[action='/submit/place']")
    form.locator("#place").fill("大满镇新新村三社")
    seen("/submit/people", submit(page, form))
    expect(page).to_have_url(re.compile(r"/submit/people$"))

    form = page.locator("main form[action='/submit/people']")
    form.locator("#petitioner_name").fill("张三")
    expect(form.locator("#people_count")).to_have_value("1")
    seen("/submit/files", submit(page, form))
    expect(page).to_have_url(re.compile(r"/submit/files$"))

    # The real file input, in its own multipart form.
    upload = page.locator("main form[action='/submit/files/upload']")
    expect(upload).to_have_attribute("enctype", "multipart/form-data")
    upload.locator("input[type='file']#file").set_input_files(
        files=[{"name": PDF_NAME, "mimeType": "application/pdf", "buffer": PDF}]
    )
    seen("/submit/files (with a file)", submit(page, upload))
    expect(page).to_have_url(re.compile(r"/submit/files$"))
    expect(page.locator("main ul li").filter(has_text=PDF_NAME)).to_have_count(1)
    expect(page.locator("main form[action^='/submit/files/'][action$='/remove']")).to_have_count(1)
    seen("/submit/consent", navigate(page, lambda: page.locator("main a.button[href='/submit/consent']").click()))
    expect(page).to_have_url(re.compile(r"/submit/consent$"))

    form = page.locator("main form[action='/submit/consent']")
    form.locator("#consent").check()
    seen("/submit/check", submit(page, form))
    expect(page).to_have_url(re.compile(r"/submit/check$"))

    answers = page.locator("main dl.summary-list")
    for text in (VILLAGE, CATEGORIES[CATEGORY], summary, "大满镇新新村三社", "张三", PDF_NAME):
        expect(answers).to_contain_text(text)
    # Every answer has its change link back to its question page.
    for step in ("center", "category", "matter", "place", "people", "files"):
        expect(answers.locator(f"a[href='/submit/{step}?from=check']").first).to_be_visible()
    seen("/submit/done/<code>", submit(page, page.locator("main form[action='/submit/check']")))
    expect(page).to_have_url(re.compile(r"/submit/done/[2-9A-HJ-NP-Z]{12}$"))
    code = page.locator("main .confirmation .code").inner_text().strip()
    assert CODE_SHAPE.match(code), f"tracking code {code!r} is not XXXX-XXXX-XXXX"
    assert page.url.endswith("/" + plain(code))
    expect(page.locator(f"main a[href='/track/{plain(code)}']")).to_have_count(1)
    return code


def timeline(page) -> list[str]:
    """The event labels of the page's timeline, in order."""
    return [text.strip() for text in page.locator("main ol.timeline > li > strong").all_inner_texts()]


def open_details(page, selector: str):
    """Open one <details> action section by clicking its summary (works without JavaScript)."""
    details = page.locator(selector)
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    expect(details).to_have_attribute("open", "")
    return details


def status_tag(page):
    return page.locator("main h1 + p .tag").first


# --------------------------------------------------------------------------- the journey


def _queue_filter_with_htmx(staff, code: str) -> None:
    """The queue's filters replace #queue-results in place and push a bookmarkable URL."""
    staff.goto("/matters")
    assert staff.evaluate("() => typeof window.htmx") == "object"
    form = staff.locator("main form.filters")
    expect(form).to_have_attribute("data-hx-get", "/matters")
    expect(form).to_have_attribute("data-hx-target", "#queue-results")
    expect(form).to_have_attribute("data-hx-push-url", "true")
    staff.evaluate("() => { window.__sameDocument = true; }")
    results = staff.locator("#queue-results")
    ours = results.locator("tbody a.code").filter(has_text=code)
    expect(ours).to_have_count(1)

    def fragment_request(response) -> bool:
        return urlsplit(response.url).path == "/matters" and response.request.headers.get("hx-request") == "true"

    with staff.expect_response(fragment_request) as info:
        form.locator("select[name=status]").select_option("closed")
    response = info.value
    assert response.status == 200
    body = response.text()
    assert "<html" not in body and 'id="queue-results"' in body, body[:200]  # the table only
    expect(staff).to_have_url(re.compile(r"/matters\?(.+&)?status=closed(&|$)"))
    expect(ours).to_have_count(0)
    expect(results.locator("tbody tr td[colspan]")).to_have_count(1)

    with staff.expect_response(fragment_request):
        form.locator("select[name=status]").select_option("registered")
    expect(staff).to_have_url(re.compile(r"/matters\?(.+&)?status=registered(&|$)"))
    expect(ours).to_have_count(1)
    for cell in results.locator("tbody tr td:nth-child(5)").all_inner_texts():
        assert cell.strip() == STATUS_LABELS["registered"]

    # The code search: typing and Enter (the form's submit) filters in place too.
    with staff.expect_response(fragment_request):
        form.locator("#q").fill(code.lower())
        form.locator("#q").press("Enter")
    expect(staff).to_have_url(re.compile(r"[?&]q="))
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(ours).to_have_count(1)
    assert staff.evaluate("() => window.__sameDocument === true"), "the filter reloaded the whole page"
    assert staff.locator("#queue-results").count() == 1 and staff.locator("main form.filters").count() == 1

    # The pushed URL is a bookmark: loaded afresh it gives the same filters and rows.
    bookmark = staff.url
    query = parse_qs(urlsplit(bookmark).query)
    assert query.get("status") == ["registered"] and query.get("q") == [code.lower()], bookmark
    response = staff.goto(bookmark)
    assert response.status == 200
    assert staff.evaluate("() => window.__sameDocument") is None
    expect(staff.locator("main form.filters select[name=status]")).to_have_value("registered")
    expect(staff.locator("#q")).to_have_value(code.lower())
    expect(staff.locator("#queue-results tbody tr")).to_have_count(1)
    expect(ours).to_have_count(1)


def _journey(new_page, *, javascript: bool) -> None:
    options = {} if javascript else {"java_script_enabled": False}
    staff = new_page(DESKTOP, **options)
    citizen = new_page(DESKTOP, **options)
    sign_in(staff, "xxc_window")
    phone = new_phone()

    # --- the citizen signs in and answers the questions
    citizen_sign_in(citizen, staff, phone, "/submit")
    expect(citizen).to_have_url(re.compile(r"/submit/center$"))
    if not javascript:
        # A wrong answer first: the page comes back (422) with the error summary linking to the field.
        response = submit(citizen, citizen.locator("main form[action='/submit/center']"))
        assert response.status == 422
        summary = citizen.locator("main .error-summary")
        expect(summary).to_be_visible()
        expect(summary.locator("a[href='#center']")).to_have_count(1)
        expect(citizen.locator("#center")).to_have_attribute("aria-invalid", "true")
        expect(summary).not_to_be_focused()  # portal.js would focus it: proof that no script ran
    summary_text = f"讨要拖欠的工资（{'有' if javascript else '无'}脚本 {random.randrange(10**6):06d}）"
    code = answer_intake(citizen, summary_text)
    raw = plain(code)

    # --- someone else follows it with the code and the last 4 digits
    viewer = new_page(DESKTOP, **options)
    viewer.goto("/track")
    form = viewer.locator("main form[action='/track']")
    form.locator("#code").fill(code)
    form.locator("#last4").fill(phone[-4:])
    submit(viewer, form)
    expect(viewer).to_have_url(re.compile(rf"/track/{raw}$"))
    expect(viewer.locator("main h1")).to_have_text(summary_text)
    expect(viewer.locator("main .caption .code")).to_have_text(code)
    expect(viewer.locator("main dl.summary-list")).to_contain_text(STATUS_LABELS["registered"])
    expect(viewer.locator("main dl.summary-list")).to_contain_text(VILLAGE)
    assert timeline(viewer) == [EVENT_LABELS["registered"]]
    # The code is not in the address of anything but this page; the grant is a cookie for /track.
    assert viewer.context.cookies() and any(c["path"] == "/track" for c in viewer.context.cookies())

    # --- the village center's window staff find it in the queue
    if javascript:
        _queue_filter_with_htmx(staff, code)
    staff.goto("/matters")
    navigate(staff, lambda: staff.locator("#queue-results tbody a.code").filter(has_text=code).click())
    expect(staff).to_have_url(re.compile(r"/matters/\d+$"))
    matter_url = urlsplit(staff.url).path
    expect(staff.locator("main h1")).to_have_text(summary_text)
    expect(status_tag(staff)).to_have_text(STATUS_LABELS["registered"])
    expect(staff.locator("main dl.summary-list a[href^='/attachments/']")).to_have_text(PDF_NAME)
    # The action forms are closed <details> sections, each with one form posting to its action.
    actions = staff.locator("main details.action")
    assert actions.count() >= 4
    for index in range(actions.count()):
        details = actions.nth(index)
        expect(details).not_to_have_attribute("open", "")
        name = details.get_attribute("id").removeprefix("action-")
        expect(details.locator(f"form[method='post'][action='{matter_url}/act/{name}']")).to_have_count(1)

    # Accept (受理): the notice is issued and the state changes.
    accept = open_details(staff, "details#action-accept")
    navigate(staff, lambda: accept.locator("button[type='submit']").click())
    expect(staff).to_have_url(re.compile(rf"{matter_url}$"))
    expect(staff.locator("main .notice.success")).to_be_visible()
    expect(status_tag(staff)).to_have_text(STATUS_LABELS["accepted"])
    expect(staff.locator("main details#action-accept")).to_have_count(0)

    # Reply (处理意见书): first without an outcome (422, the section stays open with the problem and
    # what was typed), then properly.
    opinion = "经调解，用人单位同意于2026年12月31日前支付全部拖欠工资。"
    reply = open_details(staff, "details#action-reply")
    reply.locator("#reply-opinion").fill(opinion)
    reply.locator("#reply-basis").fill("《保障农民工工资支付条例》第三条")
    response = navigate(staff, lambda: reply.locator("button[type='submit']").click())
    assert response.status == 422
    reply = staff.locator("main details#action-reply")
    expect(reply).to_have_attribute("open", "")
    expect(reply.locator(".error-summary")).to_be_visible()
    expect(reply.locator("#reply-opinion")).to_have_value(opinion)
    expect(reply.locator("#reply-basis")).to_have_value("《保障农民工工资支付条例》第三条")
    reply.locator("#reply-outcome").select_option("support")
    navigate(staff, lambda: reply.locator("button[type='submit']").click())
    expect(staff).to_have_url(re.compile(rf"{matter_url}$"))
    expect(status_tag(staff)).to_have_text(STATUS_LABELS["replied"])
    notices = staff.locator("main ul li a[href^='/notices/']")
    expect(notices).to_have_count(2)

    # --- the citizen (signed in: the owner) rates it and asks for a review
    citizen.goto(f"/track/{raw}")
    expect(citizen.locator("main dl.summary-list")).to_contain_text(STATUS_LABELS["replied"])
    expect(citizen.locator("main a[href^='/track/'][href*='/notices/']")).to_have_count(2)
    rate = citizen.locator(f"main form[action='/track/{raw}/rate']")
    rate.locator("#rating-satisfied").check()
    navigate(citizen, lambda: rate.locator("button[type='submit']").click())
    expect(citizen).to_have_url(re.compile(rf"/track/{raw}$"))
    expect(citizen.locator("main dl.summary-list")).to_contain_text(RATINGS["satisfied"])
    expect(citizen.locator(f"main form[action='/track/{raw}/rate']")).to_have_count(0)
    review = citizen.locator(f"main form[action='/track/{raw}/review']")
    review.locator("#review-reason").fill("单位只承诺支付，未说明逾期不付怎么办。")
    navigate(citizen, lambda: review.locator("button[type='submit']").click())
    expect(citizen).to_have_url(re.compile(rf"/track/{raw}$"))
    expect(citizen.locator("main dl.summary-list")).to_contain_text(STATUS_LABELS["review"])
    expect(citizen.locator("main dl.summary-list")).to_contain_text(TOWNSHIP)  # handled by the upper center now

    # --- every step on the citizen's timeline, the code viewer's and the staff matter page's
    assert timeline(citizen) == JOURNEY_EVENTS
    expect(citizen.locator("main ol.timeline > li").last).to_contain_text(TOWNSHIP)
    viewer.reload()
    assert timeline(viewer) == JOURNEY_EVENTS
    staff.goto(matter_url)  # the village center keeps read access to what went up
    assert timeline(staff) == JOURNEY_EVENTS
    expect(status_tag(staff)).to_have_text(STATUS_LABELS["review"])
    # The matter is in the citizen's list.
    citizen.goto("/my/matters")
    expect(citizen.locator(f"main a[href='/track/{raw}']")).to_have_text(summary_text)


@pytest.mark.browser
def test_online_matter_without_javascript(new_page):
    _journey(new_page, javascript=False)


@pytest.mark.browser
def test_online_matter_with_htmx(new_page):
    _journey(new_page, javascript=True)


# --------------------------------------------------------------------------- a11y and HTML


class Walk:
    """Records a Shot (axe result, HTML as sent and as parsed) of each page it is shown."""

    def __init__(self, mode: str):
        self.mode = mode
        self.axe = Axe()
        self.shots: list[Shot] = []

    def snap(self, page, label: str, response, expected: int = 200, open_details: bool = False) -> None:
        page.wait_for_load_state("load")
        source = response.text()
        self._record(page, label, response.status, expected, source)
        if open_details and page.locator("main details:not([open])").count():
            # The action forms inside closed <details> are hidden from axe: check them open too.
            page.evaluate("() => document.querySelectorAll('main details').forEach((d) => { d.open = true; })")
            self._record(page, f"{label}, every <details> open", response.status, expected, source)

    def _record(self, page, label, status, expected, source) -> None:
        violations = self.axe.run(page, options=AXE_OPTIONS).response["violations"]
        self.shots.append(Shot(self.mode, label, page.url, status, expected, source, page.content(), violations,
                               page.evaluate(FACTS_JS)))

    def visit(self, page, url: str, label: str | None = None, expected: int = 200, open_details: bool = False) -> None:
        self.snap(page, label or url, page.goto(url), expected, open_details)


def _elder(page) -> None:
    page.goto("/")
    elder_link(page, on=True).click()
    expect(page.locator("html")).to_have_class("elder")


def _walk(staff, citizen, mode: str) -> list[Shot]:
    walk = Walk(mode)
    if mode == "elder":
        _elder(staff)
        _elder(citizen)
    sign_in(staff, "xxc_window")

    # --- citizen: follow a matter, sign in, the question pages, check, confirmation
    walk.visit(citizen, "/track")
    response = submit(citizen, citizen.locator("main form[action='/track']"))
    walk.snap(citizen, "/track submitted empty", response, expected=422)
    citizen_sign_in(citizen, staff, new_phone(), "/submit", snap=walk.snap)
    walk.snap(citizen, "/submit/center", citizen.reload())
    response = submit(citizen, citizen.locator("main form[action='/submit/center']"))
    walk.snap(citizen, "/submit/center submitted empty", response, expected=422)
    citizen.goto("/submit/center")
    code = answer_intake(citizen, f"讨要拖欠的工资（{mode}）", lambda label, response: walk.snap(citizen, label, response))
    raw = plain(code)
    walk.visit(citizen, f"/track/{raw}", "/track/<code> (registered, owner)")
    walk.visit(citizen, "/my/matters")

    # --- staff: the queue, registration, the matter page and its actions
    walk.visit(staff, "/matters", "/matters (queue with data)")
    walk.visit(staff, "/matters?status=registered&category=labour", "/matters (filtered)")
    walk.visit(staff, "/matters/new")
    response = submit(staff, staff.locator("main form[action='/matters/new']"))
    expect(staff.locator("main .error-summary")).to_be_visible()
    walk.snap(staff, "/matters/new submitted empty", response, expected=422)
    staff.goto("/matters")
    response = navigate(staff, lambda: staff.locator("#queue-results tbody a.code").filter(has_text=code).click())
    matter_url = urlsplit(staff.url).path
    walk.snap(staff, "/matters/<id> (registered: accept, decline, forward, assign…)", response, open_details=True)
    staff.goto(matter_url)
    decline = open_details(staff, "details#action-decline")
    response = navigate(staff, lambda: decline.locator("button[type='submit']").click())
    walk.snap(staff, "/matters/<id> after a failed decline", response, expected=422, open_details=True)
    accept = open_details(staff, "details#action-accept")
    response = navigate(staff, lambda: accept.locator("button[type='submit']").click())
    walk.snap(staff, "/matters/<id> (accepted: assign, reply, extension…)", response, open_details=True)
    notice_url = staff.locator("main a[href^='/notices/']").first.get_attribute("href")
    walk.visit(staff, notice_url, "/notices/<id> (受理告知书)")
    staff.goto(matter_url)
    reply = open_details(staff, "details#action-reply")
    reply.locator("#reply-outcome").select_option("explain")
    reply.locator("#reply-opinion").fill("已向用人单位核实，工资已于本月发放。")
    reply.locator("#reply-basis").fill("《保障农民工工资支付条例》")
    response = navigate(staff, lambda: reply.locator("button[type='submit']").click())
    walk.snap(staff, "/matters/<id> (replied)", response, open_details=True)
    walk.visit(staff, "/numbers")
    walk.visit(staff, "/numbers?from=2026-13-01", "/numbers with a wrong date", expected=422)
    walk.visit(staff, "/numbers/definitions")
    walk.visit(staff, "/admin/notice-templates")
    template_url = staff.locator("main table tbody a").first.get_attribute("href")
    walk.visit(staff, template_url, "/admin/notice-templates/<kind>")
    form = staff.locator(f"main form[action='{template_url}']")
    form.locator("#body").fill("$no_such_field")
    walk.snap(staff, "/admin/notice-templates/<kind> with an unknown field", submit(staff, form), expected=422)
    walk.visit(staff, "/admin/limits")

    # --- citizen again: the answered matter with its rating and review forms, a notice
    walk.visit(citizen, f"/track/{raw}", "/track/<code> (replied: rate and review)")
    rate = citizen.locator(f"main form[action='/track/{raw}/rate']")
    rate.locator("#rating-unsatisfied").check()
    response = navigate(citizen, lambda: rate.locator("button[type='submit']").click())
    walk.snap(citizen, "/track/<code> after a rating without a reason", response, expected=422)
    notice = citizen.locator("main a[href*='/notices/']").first.get_attribute("href")
    walk.visit(citizen, notice, "/track/<code>/notices/<id>")

    # --- the working calendar belongs to the system administrator
    navigate(staff, lambda: staff.locator("header form[action='/logout'] button[type='submit']").click())
    sign_in(staff, "sysadmin")
    walk.visit(staff, "/admin/calendar")
    return walk.shots


@pytest.fixture(scope="module")
def window(browser, server) -> dict[str, list[Shot]]:
    shots: dict[str, list[Shot]] = {}
    for mode in MODES:
        opened = [open_guarded(browser, server), open_guarded(browser, server)]
        try:
            shots[mode] = _walk(opened[0][1], opened[1][1], mode)
        finally:
            for context, _page, _guard in opened:
                context.close()
        for _context, _page, guard in opened:
            guard.check()
    return shots


def _all(window) -> list[Shot]:
    return [shot for mode in MODES for shot in window[mode]]


@pytest.mark.browser
def test_window_pages_answer_as_expected(window):
    wrong = status_problems(_all(window))
    assert not wrong, "\n".join(wrong)


@pytest.mark.browser
@pytest.mark.parametrize("mode", MODES)
def test_window_axe_finds_no_violations(window, mode):
    report = axe_problems(window[mode])
    assert not report, f"{len(report)} axe violation(s):\n" + "\n".join(report)


@pytest.mark.browser
def test_window_pages_are_valid_html(window):
    shots = [shot for shot in _all(window) if not shot.label.endswith("every <details> open")]
    report = vnu_problems(shots)
    assert not report, "vnu --errors-only:\n" + "\n".join(report)


@pytest.mark.browser
def test_window_language_landmarks_and_one_heading(window):
    wrong = shape_problems(_all(window))
    assert not wrong, "\n".join(wrong)


@pytest.mark.browser
@pytest.mark.parametrize("mode", MODES)
def test_window_text_is_large_enough(window, mode):
    small = small_text(window[mode], mode)
    assert not small, f"text under {MIN_TEXT_PX[mode]}px in {mode} mode:\n" + "\n".join(small)


# --------------------------------------------------------------------------- phone


WIDE_JS = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) return null;
  return [document.documentElement.scrollWidth, width, [...document.querySelectorAll('body *')]
    .filter((el) => el.getBoundingClientRect().right > width + 0.5
      || (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible'))
    .slice(0, 6).map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : ''))];
}"""


@pytest.mark.browser
@pytest.mark.parametrize("mode", MODES)
def test_no_sideways_scrolling_on_a_phone(new_page, mode):
    staff = new_page(PHONE)
    citizen = new_page(PHONE)
    if mode == "elder":
        _elder(staff)
        _elder(citizen)
    sign_in(staff, "xxc_window")
    wide = []

    def check(page, label) -> None:
        found = page.evaluate(WIDE_JS)
        if found:
            wide.append(f"{label}: scrollWidth {found[0]} > {found[1]} ({', '.join(found[2])})")

    citizen_sign_in(citizen, staff, new_phone(), "/submit")
    check(citizen, "/submit/center")
    code = answer_intake(citizen, f"讨要拖欠的工资（手机，{mode}）", lambda label, _response: check(citizen, label))
    for step in INTAKE_PAGES:
        citizen.goto(f"/submit/{step}")
        check(citizen, f"/submit/{step} (empty)")
    citizen.goto(f"/track/{plain(code)}")
    check(citizen, "/track/<code>")

    staff.goto("/matters")
    check(staff, "/matters")
    navigate(staff, lambda: staff.locator("#queue-results tbody a.code").filter(has_text=code).click())
    check(staff, "/matters/<id>")
    staff.evaluate("() => document.querySelectorAll('main details').forEach((d) => { d.open = true; })")
    check(staff, "/matters/<id>, every <details> open")
    accept = staff.locator("details#action-accept")
    navigate(staff, lambda: accept.locator("button[type='submit']").click())
    check(staff, "/matters/<id> (accepted)")
    citizen.goto(f"/track/{plain(code)}")
    check(citizen, "/track/<code> (accepted)")
    assert not wide, f"horizontal scrolling on a {PHONE['width']} px phone ({mode}):\n" + "\n".join(wide)
