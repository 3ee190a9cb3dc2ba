"""Live alerts in a real browser: a message queued for a staff member by another process appears on
their open page within 2 seconds, without a reload, as an alert (role=alert) with its 查看 link and
a close button; the nav's unread count follows; axe and the Nu checker pass with alerts shown, in
normal mode and 长辈版. Without JavaScript nothing pops up and /messages still lists the message."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from portal.i18n import gettext
from tests.browser.checks import AXE_OPTIONS
from tests.browser.conftest import ROOT, SERVER_ENV, elder_link, open_guarded, sign_in, vnu

ALERT_WITHIN_MS = 2000

# Another process writes the message, as the job scheduler or a second app worker would: this
# server learns of it only by polling the outbox.
_QUEUE = """
import asyncio, json, sys
from portal.db import bind_engine, make_engine, read, write_transaction
from portal.notify.outbox import queue_inapp
from portal.settings import Settings

async def main(username, messages):
    bind_engine(make_engine(Settings.from_env()))
    rows = await read("SELECT id FROM staff_user WHERE username = {}", username)
    async with write_transaction():
        for body, link in messages:
            await queue_inapp(body=body, kind="whistle", staff=rows[0]["id"], link=link)
    rows = await read(
        "SELECT count(*) AS n FROM outbox WHERE staff = {} AND read_at IS NULL AND channel = 'inapp'", rows[0]["id"])
    print(rows[0]["n"])

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
"""


def queue_for(username: str, *messages: tuple[str, str]) -> int:
    """Commit in-app messages for ``username`` from another process; returns their unread count."""
    import json

    result = subprocess.run(
        [sys.executable, "-c", _QUEUE, username, json.dumps(messages)],
        cwd=ROOT, env=SERVER_ENV, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


def _alerts(page):
    return page.locator("#live-alerts .live-alert")


def _checked(page, label: str, found: list[str], documents: list[tuple[str, str]]) -> None:
    for violation in Axe().run(page, options=AXE_OPTIONS).response["violations"]:
        targets = ", ".join(str(node["target"]) for node in violation["nodes"][:5])
        found.append(f"[{label}] {violation['id']} {violation['help']} — {targets}")
    documents.append((label, page.content()))


@pytest.mark.browser
def test_an_alert_appears_on_the_open_page_without_reload(browser, server):
    context, page, guard = open_guarded(browser, server)
    try:
        sign_in(page, "rsj_officer")
        page.goto("/matters")
        page.wait_for_load_state("load")
        region = page.locator("#live-alerts")
        expect(region).to_have_attribute("role", "alert")
        expect(region).to_be_empty()
        page.evaluate("window.__notReloaded = true")
        page.wait_for_timeout(300)  # the page script's stream is open

        unread = queue_for("rsj_officer", ("区人社局：甘州区综治中心吹哨，请于 30 分钟内报到。", "/messages"))
        committed = time.monotonic()
        alert = _alerts(page).first
        expect(alert).to_be_visible(timeout=ALERT_WITHIN_MS)
        took = time.monotonic() - committed
        assert took < ALERT_WITHIN_MS / 1000, took
        assert page.evaluate("window.__notReloaded === true")
        expect(alert).to_contain_text("区人社局：甘州区综治中心吹哨，请于 30 分钟内报到。")
        expect(region.get_by_role("link", name=gettext("Open the linked page"), exact=True)).to_have_attribute("href", "/messages")
        nav = page.locator(".service-nav a[href='/messages']")
        expect(nav).to_have_text(gettext("Messages (%(count)s unread)", count=unread))

        # A second message stacks under the first; a message without a link has no 查看.
        queue_for("rsj_officer", ("第二条提醒：没有链接。", ""))
        expect(_alerts(page)).to_have_count(2, timeout=ALERT_WITHIN_MS)
        second = _alerts(page).nth(1)
        expect(second).to_contain_text("第二条提醒：没有链接。")
        expect(second.get_by_role("link")).to_have_count(0)

        violations: list[str] = []
        documents: list[tuple[str, str]] = []
        _checked(page, "normal, two alerts", violations, documents)

        # Closing one leaves the other; keyboard focus moves to what remains, not to nowhere.
        _alerts(page).first.get_by_role("button", name=gettext("Dismiss"), exact=True).focus()
        page.keyboard.press("Enter")
        expect(_alerts(page)).to_have_count(1)
        expect(_alerts(page).first).to_contain_text("第二条提醒")
        assert page.evaluate("document.activeElement.classList.contains('live-alert-close')")

        # 长辈版: the alert is as large as the rest of the page.
        page.goto("/dashboard")
        elder_link(page, on=True).click()
        expect(page.locator("html")).to_have_class("elder")
        page.wait_for_timeout(300)
        queue_for("rsj_officer", ("长辈版下的提醒。", "/matters"))
        expect(_alerts(page)).to_have_count(1, timeout=ALERT_WITHIN_MS)
        size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.live-alert-body')).fontSize)")
        assert size >= 22.0, size
        _checked(page, "elder, one alert", violations, documents)

        assert not violations, "\n".join(violations)
        errors = vnu([html for _label, html in documents])
        report = [f"{label}: {problems}" for (label, _html), problems in zip(documents, errors) if problems]
        assert not report, "\n".join(report)
    finally:
        context.close()
    guard.check()


@pytest.mark.browser
def test_without_javascript_nothing_pops_up_and_the_inbox_has_the_message(browser, server):
    context, page, guard = open_guarded(browser, server, java_script_enabled=False)
    try:
        sign_in(page, "leader")
        page.goto("/dashboard")
        queue_for("leader", ("无脚本时的提醒。", "/matters"))
        page.wait_for_timeout(1500)
        expect(page.locator("#live-alerts")).to_be_empty()
        page.goto("/messages")
        item = page.locator("main li").filter(has_text="无脚本时的提醒。")
        expect(item).to_have_count(1)
        expect(item.get_by_role("link", name=gettext("Open the linked page"))).to_have_attribute("href", "/matters")
    finally:
        context.close()
    guard.check()
