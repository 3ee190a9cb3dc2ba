"""Message delivery, the staff inbox and the scheduled jobs page in a real browser: axe (WCAG 2.2
AA) and the Nu checker in normal mode and 长辈版, the outbox filter and "run now" with JavaScript
off (plain GET form, POST-redirect-GET) and on."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.conftest import elder_link, open_guarded, sign_in, vnu
from tests.browser.checks import AXE_OPTIONS

PAGES = ("/admin/outbox", "/admin/outbox?status=sent&channel=sms", "/admin/jobs", "/messages")


def _check(page, url: str, found: list[str], documents: list[tuple[str, str]], label: str) -> None:
    response = page.goto(url)
    assert response.status == 200, (label, url, response.status)
    page.wait_for_load_state("load")
    for violation in Axe().run(page, options=AXE_OPTIONS).response["violations"]:
        found.append(f"[{label}] {url}: {violation['id']} {violation['help']}")
    documents.append((f"[{label}] {url}", response.text()))


@pytest.mark.browser
@pytest.mark.parametrize("js", [False, True], ids=["no-js", "js"])
def test_delivery_and_jobs_pages_are_accessible_and_work(browser, server, js):
    context, page, guard = open_guarded(browser, server, java_script_enabled=js)
    try:
        sign_in(page, "sysadmin")
        violations: list[str] = []
        documents: list[tuple[str, str]] = []
        for mode in ("normal", "elder") if js else ():  # axe needs scripts; the pages are the same
            if mode == "elder":
                page.goto("/dashboard")
                elder_link(page, on=True).click()
                expect(page.locator("html")).to_have_class("elder")
            for url in PAGES:
                _check(page, url, violations, documents, mode)
        assert not violations, "\n".join(violations)
        errors = vnu([html for _name, html in documents]) if documents else []
        report = [f"{name}: {problems}" for (name, _html), problems in zip(documents, errors) if problems]
        assert not report, "\n".join(report)

        # The filter is a plain GET form: the choice lands in the URL (a bookmark).
        page.goto("/admin/outbox")
        form = page.locator("main form.filters")
        form.locator("#filter-status").select_option("failed")
        form.locator("#filter-channel").select_option("email")
        form.get_by_role("button").click()
        page.wait_for_load_state("load")
        assert "status=failed" in page.url and "channel=email" in page.url
        expect(page.locator("#filter-status")).to_have_value("failed")

        # Run a job now: POST, redirect back to the list with a message, the run recorded.
        page.goto("/admin/jobs")
        row = page.locator("main table").first.locator("tbody tr").filter(has_text="notify.retry")
        row.get_by_role("button").click()
        page.wait_for_url("**/admin/jobs")
        expect(page.locator("main table").first.locator("tbody tr").filter(has_text="notify.retry")).to_contain_text("claimed=")
    finally:
        context.close()
    guard.check()
