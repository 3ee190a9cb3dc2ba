"""Every page of the shell, in normal mode and in 长辈版: axe (WCAG 2.2 AA), the Nu HTML checker,
landmarks, language, text size, keyboard entry and reflow at 320 px.

One module-scoped walk visits every page once per mode and records what the checks need, so the
slow parts (page loads, one JVM start for vnu) are paid once.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from portal.i18n import gettext
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
from tests.browser.conftest import elder_link, open_guarded, sign_in

class Walk:
    def __init__(self, page, mode: str):
        self.page = page
        self.mode = mode
        self.axe = Axe()
        self.shots: list[Shot] = []

    def snap(self, label: str, response, expected: int = 200) -> None:
        page = self.page
        page.wait_for_load_state("load")
        violations = self.axe.run(page, options=AXE_OPTIONS).response["violations"]
        self.shots.append(
            Shot(
                self.mode, label, page.url, response.status, expected, response.text(), page.content(),
                violations, page.evaluate(FACTS_JS),
            )
        )

    def visit(self, url: str, label: str | None = None, expected: int = 200) -> None:
        self.snap(label or url, self.page.goto(url), expected)

    def submit_empty(self, url: str, label: str) -> None:
        """Open a form and submit it as it is: the answer must be 422 with an error summary."""
        page = self.page
        page.goto(url)
        form = page.locator("main form[method='post']").first
        with page.expect_response(lambda r: r.request.method == "POST" and r.request.is_navigation_request()) as info:
            form.locator("button[type='submit']").last.click()
        page.wait_for_load_state("load")
        expect(page.locator(".error-summary")).to_be_visible()
        self.snap(label, info.value, expected=422)

    def href(self, link) -> str:
        return link.first.get_attribute("href")

    def sign_out(self) -> None:
        self.page.locator("header").get_by_role("button", name=gettext("Sign out"), exact=True).click()
        self.page.wait_for_url("**/login")


def _walk(page, mode: str) -> list[Shot]:
    walk = Walk(page, mode)
    if mode == "elder":
        page.goto("/")
        elder_link(page, on=True).click()  # the real link, once; the cookie does the rest
        expect(page.locator("html")).to_have_class("elder")

    # Public pages.
    for url in ("/", "/centers", "/c/GZQ", "/c/GZQ-DMZ", "/login", "/privacy", "/accessibility", "/feedback"):
        walk.visit(url)
    walk.visit("/no-such-page", expected=404)
    walk.submit_empty("/login", "login submitted empty")

    # A district center admin sees every admin page, including the district's module allow-list.
    sign_in(page, "gzq_admin")
    for url in ("/dashboard", "/account", "/account/password", "/admin/centers"):
        walk.visit(url)
    centers = page.locator("main .tree")
    edit_center = walk.href(centers.get_by_role("link", name="大满镇综治中心", exact=True))
    new_center = walk.href(centers.locator("a[href^='/admin/centers/new?parent=']").filter(has_text="大满镇综治中心"))
    walk.visit(edit_center, "/admin/centers/<id> (大满镇)")
    walk.visit(new_center, "/admin/centers/new?parent=<id>")
    walk.submit_empty(new_center, "create-center form submitted empty")
    walk.visit("/admin/departments")
    walk.visit(walk.href(page.locator("main table tbody a")), "/admin/departments/<id>")
    walk.visit("/admin/departments/new")
    walk.submit_empty("/admin/departments/new", "create-department form submitted empty")
    walk.visit("/admin/staff")
    rows = page.locator("main table tbody tr")
    window_staff = walk.href(rows.filter(has_text="gzq_window").get_by_role("link"))
    # The three administrators' accounts are managed by the security administrator only: no link.
    expect(rows.filter(has_text="sysadmin").get_by_role("link")).to_have_count(0)
    walk.visit(window_staff, "/admin/staff/<id> (gzq_window)")
    walk.visit("/admin/staff/new")
    walk.submit_empty("/admin/staff/new", "create-staff form submitted empty")
    walk.visit("/admin/modules", "/admin/modules (district, with allow-list)")
    walk.sign_out()

    sign_in(page, "auditor")
    walk.visit("/audit")
    # In scope but without the power: the forbidden page.
    walk.visit("/admin/centers", "/admin/centers (auditor: forbidden page)", expected=403)
    walk.sign_out()

    # A township admin: the sample module's nav item, dashboard card and page are on.
    sign_in(page, "dmz_admin")
    walk.visit("/dashboard", "/dashboard (大满镇, sample module on)")
    walk.visit("/admin/modules", "/admin/modules (township)")
    walk.visit("/m/sample_module/")
    walk.sign_out()
    return walk.shots


@pytest.fixture(scope="module")
def shell(browser, server) -> dict[str, list[Shot]]:
    shots: dict[str, list[Shot]] = {}
    for mode in MODES:
        context, page, guard = open_guarded(browser, server)
        try:
            shots[mode] = _walk(page, mode)
        finally:
            context.close()
        guard.check()
    return shots


def _all(shell) -> list[Shot]:
    return [shot for mode in MODES for shot in shell[mode]]


@pytest.mark.browser
def test_every_page_answers_as_expected(shell):
    wrong = status_problems(_all(shell))
    assert not wrong, "\n".join(wrong)


@pytest.mark.browser
@pytest.mark.parametrize("mode", MODES)
def test_axe_finds_no_violations(shell, mode):
    report = axe_problems(shell[mode])
    assert not report, f"{len(report)} axe violation(s):\n" + "\n".join(report)


@pytest.mark.browser
def test_every_page_is_valid_html(shell):
    shots = _all(shell)
    report = vnu_problems(shots)
    assert not report, "vnu --errors-only:\n" + "\n".join(report)


@pytest.mark.browser
def test_language_landmarks_and_one_heading(shell):
    wrong = shape_problems(_all(shell))
    assert not wrong, "\n".join(wrong)


@pytest.mark.browser
@pytest.mark.parametrize("mode", MODES)
def test_body_text_is_large_enough(shell, mode):
    small = small_text(shell[mode], mode)
    assert not small, f"text under {MIN_TEXT_PX[mode]}px in {mode} mode:\n" + "\n".join(small)


@pytest.mark.browser
@pytest.mark.parametrize("url", ["/", "/login", "/c/GZQ-DMZ"])
def test_first_tab_reaches_the_skip_link(page, url):
    page.goto(url)
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_class("skip-link")
    expect(focused).to_have_text(gettext("Skip to main content"))  # 跳到主要内容
    expect(focused).to_have_attribute("href", "#main")
    expect(focused).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator(":focus")).to_have_id("main")


@pytest.mark.browser
@pytest.mark.parametrize("mode", MODES)
def test_no_horizontal_scrolling_at_320_px(new_page, mode):
    page = new_page({"width": 320, "height": 640})
    page.goto("/")
    if mode == "elder":
        elder_link(page, on=True).click()
        expect(page.locator("html")).to_have_class("elder")
    wide = []

    def check(label):
        width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        if width[0] > width[1]:
            culprits = page.evaluate(
                """() => [...document.querySelectorAll('body *')]
                  .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
                  .slice(0, 6).map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''))"""
            )
            wide.append(f"{label}: scrollWidth {width[0]} > {width[1]} ({', '.join(culprits)})")

    check("/")
    page.goto("/login")
    check("/login")
    sign_in(page, "dmz_admin")
    check("/dashboard")
    page.goto("/admin/modules")  # a table page: wide tables scroll inside their box, never the page
    check("/admin/modules")
    assert not wide, f"horizontal scrolling at 320 px ({mode}):\n" + "\n".join(wide)
