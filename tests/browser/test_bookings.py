"""The appointments engine in a real browser (issue 4, done-when 1), JavaScript off and on.

* A center admin of 大满镇 adds a resource for the sample module's consultation with opening hours,
  through the admin pages.
* Citizen A books (center → service → a time from the radios grouped by day → check → confirm),
  receives the SMS (in the development outbox) and the .ics (parsed with ``icalendar``: the time
  zone is Asia/Shanghai), changes the time, and cancels with a reason.
* Citizen B, on the waiting list, is offered the freed slot (SMS + page) and accepts it.
* Window staff check B in by code; A books again and never comes: the no-show job (``portal jobs
  run``) marks it, staff see 未到 and can correct it.
* axe (WCAG 2.2 AA) and the Nu HTML checker on every booking page, normal and 长辈版.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import traceback
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import icalendar
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from portal.bookings.views import STATUS_LABELS
from tests.browser.conftest import BIN, ROOT, SERVER_ENV, elder_link, move_booking, open_guarded, sign_in
from tests.browser.test_matters import citizen_sign_in, navigate, new_phone
from tests.browser.checks import (
    AXE_OPTIONS,
    FACTS_JS,
    MODES,
    Shot,
    axe_problems,
    shape_problems,
    status_problems,
    vnu_problems,
)

CENTER = "大满镇综治中心"
SERVICE = "示例咨询"
EMPTY_SERVICE = "示例会谈"  # offered at the center, but no resource provides it: the no-slot page
CODE = re.compile(r"^[2-9A-HJ-NP-Z]{6}$")


class Recorder:
    """Keeps a Shot (axe result, HTML as sent and as parsed) of each page it is shown."""

    def __init__(self, mode: str, enabled: bool = True):
        self.mode = mode
        self.enabled = enabled  # axe needs JavaScript: the JS-off journey only checks status codes
        self.axe = Axe()
        self.shots: list[Shot] = []

    def snap(self, page, label: str, response, expected: int = 200) -> None:
        page.wait_for_load_state("load")
        if not self.enabled:
            assert response is None or response.status == expected, f"{label}: {response.status}, expected {expected}"
            return
        violations = self.axe.run(page, options=AXE_OPTIONS).response["violations"]
        self.shots.append(Shot(self.mode, label, page.url, response.status if response else None, expected,
                               response.text() if response else page.content(), page.content(), violations,
                               page.evaluate(FACTS_JS)))

    def visit(self, page, url: str, label: str | None = None, expected: int = 200) -> None:
        self.snap(page, label or url, page.goto(url), expected)


def submit(page, form, button=None):
    target = button if button is not None else form.locator("button[type='submit']").last
    return navigate(page, lambda: target.click())


def outbox_texts(staff, phone: str) -> list[str]:
    staff.goto("/admin/outbox")
    rows = staff.locator("main table tbody tr").filter(has_text=phone[-4:])
    return [rows.nth(i).inner_text() for i in range(rows.count())]


def booking_code(page) -> str:
    code = page.locator("#booking-code").inner_text().strip()
    assert CODE.match(code), code
    return code


# ------------------------------------------------------------------------------ set-up

def add_resource(admin, rec: Recorder) -> str:
    """Through the admin pages: a person providing the consultation, open 0:00–23:40 every day."""
    rec.visit(admin, "/admin/booking-resources")
    form = admin.locator("main form[action='/admin/booking-resources']")
    response = submit(admin, form)  # empty name first: 422 with the problem
    assert response.status == 422
    rec.snap(admin, "/admin/booking-resources (no name)", response, expected=422)
    form = admin.locator("main form[action='/admin/booking-resources']")
    form.locator("#name").fill("王律师（浏览器测试）")
    submit(admin, form)
    expect(admin).to_have_url(re.compile(r"/admin/booking-resources/\d+$"))
    url = admin.url.split("127.0.0.1")[-1].split("/", 1)[1]
    url = "/" + url
    services = admin.locator("main form[action$='/services']")
    services.get_by_label(SERVICE, exact=True).check()
    submit(admin, services)
    for weekday in range(7):
        rules = admin.locator("main form[action$='/rules']")
        rules.locator("#weekday").select_option(str(weekday))
        rules.locator("#start").fill("0:00")
        rules.locator("#end").fill("23:40")
        submit(admin, rules)
    bad = admin.locator("main form[action$='/exceptions']")
    bad.locator("#day").fill("2020-01-01")
    response = submit(admin, bad)
    assert response.status == 422
    rec.snap(admin, "/admin/booking-resources/<id> (past exception)", response, expected=422)
    rec.visit(admin, url, "/admin/booking-resources/<id>")
    expect(admin.locator("main")).to_contain_text("周日 0:00–23:40")
    return url


# ------------------------------------------------------------------------------ journey

def first_slot(page) -> tuple[str, str]:
    radio = page.locator("main input[type='radio'][name='slot']").first
    return radio.get_attribute("value"), page.locator(f"label[for='{radio.get_attribute('id')}']").inner_text()


def journey(new_page, javascript: bool, rec: Recorder) -> None:
    options = {} if javascript else {"java_script_enabled": False}
    staff = new_page(None, **options)
    sign_in(staff, "dmz_window")
    a = new_page(None, **options)
    b = new_page(None, **options)
    phone_a, phone_b = new_phone(), new_phone()

    # --- A chooses center, service and time before signing in
    rec.visit(a, "/book")
    navigate(a, lambda: a.locator("main a").filter(has_text=CENTER).first.click())
    rec.snap(a, "/book/<center>", a.goto(a.url))
    center_url = a.url.split("127.0.0.1")[-1].split("/", 1)[1]
    navigate(a, lambda: a.get_by_role("link", name=SERVICE, exact=True).click())
    rec.snap(a, "/book/<center>/<service>", a.goto(a.url))
    expect(a.locator("main fieldset legend").first).to_be_visible()
    expect(a.locator("#next-free")).to_contain_text("下一可约日期")
    if javascript:
        # htmx: later days replace the slot list in place and the URL can be bookmarked.
        a.locator("main a", has_text="更多日期").click()
        expect(a).to_have_url(re.compile(r"\?from=\d{4}-\d{2}-\d{2}$"))
        expect(a.locator("main input[name='slot']").first).to_be_visible()
        a.goto(a.url.split("?")[0])
    slot_value, slot_label = first_slot(a)
    a.locator(f"main input[value='{slot_value}']").check()
    submit(a, a.locator("main form").first)
    # Signing in (phone + SMS code) brings A back to the check page.
    expect(a).to_have_url(re.compile(r"/citizen/login"))
    citizen_sign_in(a, staff, phone_a, quote(parse_qs(urlsplit(a.url).query)["next"][0], safe="/"))
    expect(a).to_have_url(re.compile(r"/check\?slot=\d+$"))
    rec.snap(a, "/book/<center>/<service>/check", a.goto(a.url))
    expect(a.locator("main dl")).to_contain_text(slot_label)
    navigate(a, lambda: a.get_by_role("button", name="确认预约").click())
    expect(a).to_have_url(re.compile(r"/my/bookings/\d+$"))
    booking_a = a.url
    rec.snap(a, "/my/bookings/<id>", a.goto(booking_a))
    code_a = booking_code(a)
    expect(a.locator("main svg.qr")).to_be_visible()
    expect(a.locator("#booking-status")).to_have_text(STATUS_LABELS["booked"])

    # SMS in the development outbox, with the code.
    assert any(code_a in text and "预约成功" in text for text in outbox_texts(staff, phone_a))
    # The .ics file.
    with a.expect_download() as download:
        a.get_by_role("link", name="加入我的日历（.ics 文件）").click()
    calendar = icalendar.Calendar.from_ical(Path(download.value.path()).read_bytes())
    event = next(iter(calendar.walk("VEVENT")))
    assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert event["DTSTART"].dt.utcoffset() == dt.timedelta(hours=8)
    assert event["DTSTART"].dt.strftime("%-H:%M") in slot_label

    # --- A changes to another time
    navigate(a, lambda: a.get_by_role("link", name="改约时间").click())
    rec.snap(a, "/my/bookings/<id>/change", a.goto(a.url))
    radios = a.locator("main input[type='radio'][name='slot']")
    other = radios.nth(1)
    new_label = a.locator(f"label[for='{other.get_attribute('id')}']").inner_text()
    other.check()
    submit(a, a.locator("main form[action$='/change']"))
    expect(a).to_have_url(re.compile(r"/my/bookings/\d+$"))
    expect(a.locator("main dl")).to_contain_text(new_label)
    assert booking_code(a) == code_a
    assert any("已改约" in text for text in outbox_texts(staff, phone_a))

    # --- B joins the waiting list of the service
    citizen_sign_in(b, staff, phone_b, "/my/bookings")
    b.goto("/" + center_url)
    navigate(b, lambda: b.get_by_role("link", name=SERVICE, exact=True).click())
    submit(b, b.locator("main form[action$='/waitlist']"))
    expect(b).to_have_url(re.compile(r"/my/bookings$"))
    rec.snap(b, "/my/bookings (waiting)", b.goto("/my/bookings"))

    # --- A cancels: a reason is required
    a.goto(booking_a)
    cancel = a.locator("main form[action$='/cancel']")
    response = submit(a, cancel)
    assert response.status == 422
    rec.snap(a, "/my/bookings/<id> (cancel without reason)", response, expected=422)
    cancel = a.locator("main form[action$='/cancel']")
    cancel.locator("#reason").fill("临时有事，改天再约")
    submit(a, cancel)
    expect(a.locator("#booking-status")).to_have_text(STATUS_LABELS["cancelled"])

    # --- B is offered the freed slot (SMS + page) and accepts it
    assert any("有空位" in text for text in outbox_texts(staff, phone_b))
    b.goto("/my/bookings")
    rec.snap(b, "/my/bookings (offer)", b.goto("/my/bookings"))
    navigate(b, lambda: b.locator("#offers a").first.click())
    rec.snap(b, "/my/bookings/<id> (offer)", b.goto(b.url))
    expect(b.locator("main dl")).to_contain_text(new_label)
    navigate(b, lambda: b.get_by_role("button", name="确认预约这个时间").click())
    expect(b.locator("#booking-status")).to_have_text(STATUS_LABELS["booked"])
    code_b = booking_code(b)
    # Check-in is for the appointment's day; late on a Friday the first free time is on Monday.
    expect(b).to_have_url(re.compile(r"/my/bookings/\d+$"))
    move_booking(int(b.url.rsplit("/", 1)[1]), dt.datetime.now(dt.timezone.utc).replace(microsecond=0), 20)

    # --- staff check B in by code
    rec.visit(staff, "/bookings")
    rec.visit(staff, "/bookings?view=week", "/bookings?view=week")
    rec.visit(staff, "/bookings/checkin")
    form = staff.locator("main form[action='/bookings/checkin']")
    form.locator("#code").fill("ZZZZZZ")
    response = submit(staff, form)
    assert response.status == 422
    rec.snap(staff, "/bookings/checkin (unknown code)", response, expected=422)
    form = staff.locator("main form[action='/bookings/checkin']")
    form.locator("#code").fill(code_b.lower())
    submit(staff, form)
    expect(staff).to_have_url(re.compile(r"/bookings/\d+$"))
    expect(staff.locator("#booking-status")).to_have_text(STATUS_LABELS["checked_in"])
    rec.snap(staff, "/bookings/<id>", staff.goto(staff.url))

    # --- A books again and never comes: a no-show after the grace period
    a.goto("/" + center_url)
    navigate(a, lambda: a.get_by_role("link", name=SERVICE, exact=True).click())
    a.locator("main input[type='radio'][name='slot']").first.check()
    submit(a, a.locator("main form").first)
    navigate(a, lambda: a.get_by_role("button", name="确认预约").click())
    code_late = booking_code(a)
    booking_id = int(a.url.rsplit("/", 1)[1])
    move_booking(booking_id, dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1), 20)
    run_cli("jobs", "run", "bookings.no_shows")
    staff.goto(f"/bookings/{booking_id}")
    expect(staff.locator("#booking-status")).to_have_text(STATUS_LABELS["no_show"])
    expect(staff.locator("main")).to_contain_text(code_late)
    navigate(staff, lambda: staff.get_by_role("button", name="更正：群众已到场").click())
    expect(staff.locator("#booking-status")).to_have_text(STATUS_LABELS["checked_in"])

    # Walk-in form and the no-slot page.
    rec.visit(staff, "/bookings/walk-in")
    a.goto("/" + center_url)
    navigate(a, lambda: a.get_by_role("link", name=EMPTY_SERVICE, exact=True).click())
    rec.snap(a, "/book/<center>/<empty service> (no slots)", a.goto(a.url))
    expect(a.locator("main")).to_contain_text("0936-8561000")


def run_cli(*args: str) -> None:
    result = subprocess.run([str(BIN / "portal"), *args], cwd=ROOT, env=SERVER_ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"portal {' '.join(args)}: {result.stdout}\n{result.stderr}"


# ------------------------------------------------------------------------------ fixture

@pytest.fixture(scope="module")
def bookings(browser, server):
    """Set-up, both journeys and the 长辈版 pass, once; tests read the outcome and the shots."""
    outcome: dict = {"shots": {mode: [] for mode in MODES}, "errors": {}}
    opened = []

    def new_page(viewport=None, **options):
        context, page, guard = open_guarded(browser, server, viewport, **options)
        opened.append((context, guard))
        return page

    normal = Recorder("normal")
    admin = new_page()
    sign_in(admin, "dmz_admin")
    resource_url = add_resource(admin, normal)
    for javascript in (False, True):
        try:
            journey(new_page, javascript, normal if javascript else Recorder("normal", enabled=False))
        except Exception:  # reported by the test of that journey
            outcome["errors"][javascript] = traceback.format_exc()
    elder = Recorder("elder")
    page = new_page()
    page.goto("/")
    elder_link(page, on=True).click()
    expect(page.locator("html")).to_have_class("elder")
    sign_in(page, "dmz_admin")
    for url in ("/book", "/bookings", "/bookings/checkin", "/bookings/walk-in", "/admin/booking-resources", resource_url):
        elder.visit(page, url)
    page.goto("/book")
    elder.visit(page, page.locator("main a").filter(has_text=CENTER).first.get_attribute("href"), "/book/<center>")
    outcome["shots"]["normal"] = normal.shots
    outcome["shots"]["elder"] = elder.shots
    yield outcome
    for context, _guard in opened:
        context.close()
    for _context, guard in opened:
        guard.check()


@pytest.mark.browser
def test_booking_journey_without_javascript(bookings):
    assert False not in bookings["errors"], bookings["errors"].get(False)


@pytest.mark.browser
def test_booking_journey_with_htmx(bookings):
    assert True not in bookings["errors"], bookings["errors"].get(True)


def _all(bookings) -> list[Shot]:
    return [shot for mode in MODES for shot in bookings["shots"][mode]]


@pytest.mark.browser
def test_booking_pages_answer_as_expected(bookings):
    wrong = status_problems(_all(bookings))
    assert not wrong, "\n".join(wrong)


@pytest.mark.browser
@pytest.mark.parametrize("mode", MODES)
def test_booking_pages_axe(bookings, mode):
    report = axe_problems(bookings["shots"][mode])
    assert not report, f"{len(report)} axe violation(s):\n" + "\n".join(report)


@pytest.mark.browser
def test_booking_pages_are_valid_html(bookings):
    shots = _all(bookings)
    assert len(shots) > 15
    report = vnu_problems(shots)
    assert not report, "vnu --errors-only:\n" + "\n".join(report)


@pytest.mark.browser
def test_booking_pages_have_one_main_and_heading(bookings):
    wrong = shape_problems(_all(bookings))
    assert not wrong, "\n".join(wrong)


@pytest.mark.browser
@pytest.mark.parametrize("mode", MODES)
def test_no_sideways_scrolling_on_a_phone(bookings, new_page, mode):
    from tests.browser.conftest import PHONE
    from tests.browser.test_matters import WIDE_JS

    staff = new_page(PHONE)
    citizen = new_page(PHONE)
    if mode == "elder":
        for page in (staff, citizen):
            page.goto("/")
            elder_link(page, on=True).click()
    sign_in(staff, "dmz_window")
    wide = []

    def check(page, label) -> None:
        found = page.evaluate(WIDE_JS)
        if found:
            wide.append(f"{label}: scrollWidth {found[0]} > {found[1]} ({', '.join(found[2])})")

    citizen_sign_in(citizen, staff, new_phone(), "/book")
    check(citizen, "/book")
    navigate(citizen, lambda: citizen.locator("main a").filter(has_text=CENTER).first.click())
    check(citizen, "/book/<center>")
    navigate(citizen, lambda: citizen.get_by_role("link", name=SERVICE, exact=True).click())
    check(citizen, "/book/<center>/<service>")
    citizen.locator("main input[type='radio'][name='slot']").first.check()
    submit(citizen, citizen.locator("main form").first)
    check(citizen, "check page")
    navigate(citizen, lambda: citizen.get_by_role("button", name="确认预约").click())
    check(citizen, "/my/bookings/<id>")
    citizen.goto("/my/bookings")
    check(citizen, "/my/bookings")
    for url in ("/bookings", "/bookings?view=week", "/bookings/checkin", "/bookings/walk-in"):
        staff.goto(url)
        check(staff, url)
    assert not wide, f"horizontal scrolling on a {PHONE['width']} px phone ({mode}):\n" + "\n".join(wide)
