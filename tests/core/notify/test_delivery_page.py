"""/admin/outbox: the delivery state of every message. Demo: everything in full (testers read
their sign-in code); development: masked; production: administrators, their own subtree, masked."""

from __future__ import annotations

import httpx

from portal import clock
from portal.app import create_app
from portal.db import write_transaction
from portal.i18n import _
from portal.notify.outbox import deliver_pending, queue_email, queue_sms, wait_delivered
from portal.notify.tables import Outbox
from portal.plugin_api import SmsError, SmsSender
from portal.tables import Center
from tests.conftest import Client, html_text
from tests.core.auth.helpers import set_totp, login_with_totp
from tests.core.citizens.helpers import PHONE, ask_code, latest_code
from tests.core.security.conftest import browser_for, start_production

DMZ_PHONE = "13911112222"
GZQ_PHONE = "13933334444"


async def _center(code: str) -> int:
    return (await Center.select(Center.id).where(Center.code == code).first())["id"]


async def _messages() -> None:
    """A failing SMS of 大满镇, a sent one of the district, an email of the district, a sign-in code."""
    async with write_transaction():
        await queue_sms(DMZ_PHONE, "【大满镇综治中心】您的事项已受理，查询码 ABCD-EFGH-2345。", kind="matter_accepted",
                        center=await _center("GZQ-DMZ"))
        await queue_sms(GZQ_PHONE, "【甘州区综治中心】您的事项已办结。", kind="matter_closed", center=await _center("GZQ"))
        await queue_email("lisi@example.cn", "事项已受理", "您的事项已受理。", kind="matter_accepted", center=await _center("GZQ"))
        await queue_sms("13955556666", "【吹哨报到综治服务平台】验证码 135790，5 分钟内有效，请勿告诉他人。", kind="sign_in_code")


async def test_outbox_page_in_development_masks_numbers_and_codes(app, client, client_factory):
    browser = await client_factory()
    await ask_code(browser)
    await wait_delivered(app)
    code = await latest_code()
    await client.login("gzq_window")
    page = await client.get("/admin/outbox")
    assert page.status_code == 200
    assert "138****8000" in page.text and PHONE not in page.text
    assert code not in page.text
    assert _("Sent") in html_text(page)


async def test_outbox_page_in_demo_shows_the_code(settings):
    application = create_app(settings.replace(env="demo"))
    async with application.lifespan():
        transport = httpx.ASGITransport(app=application, client=("198.51.100.7", 40000))
        async with Client(transport=transport, base_url="http://testserver.local") as citizen, Client(
            transport=transport, base_url="http://testserver.local"
        ) as staff:
            page = await citizen.get((await ask_code(citizen)).headers["location"])
            assert "/admin/outbox" in page.text  # demo testers are told where the code is
            await staff.login("gzq_window")
            page = await staff.get("/admin/outbox")
            assert page.status_code == 200
            assert PHONE in page.text and await latest_code() in page.text


async def test_outbox_page_needs_the_permission(app, client):
    response = await client.get("/admin/outbox")
    assert response.status_code == 303 and response.headers["location"].startswith("/login?")
    await client.login("auditor")
    assert (await client.get("/admin/outbox")).status_code == 403


async def test_status_channel_filters_and_failures_with_their_next_attempt(app, client):
    await _messages()
    failing = SmsSender(name="operator", send=_fail_for(DMZ_PHONE))
    app.state.sms_senders = (failing,)
    await deliver_pending(app.state)
    await client.login("gzq_admin")
    page = html_text(await client.get("/admin/outbox?status=pending"))
    assert "139****2222" in page and "operator: operator answered 503" in page
    assert "139****4444" not in page  # sent, filtered out
    row = await Outbox.select(Outbox.next_attempt_at).where(Outbox.phone == DMZ_PHONE).first()
    assert clock.local(row["next_attempt_at"]).strftime("%m-%d %H:%M:%S") in page  # when it is tried again
    sent = html_text(await client.get("/admin/outbox?status=sent"))
    assert "139****4444" in sent and "l***@example.cn" in sent and "139****2222" not in sent
    emails = html_text(await client.get("/admin/outbox?channel=email"))
    assert "l***@example.cn" in emails and "139****4444" not in emails and "事项已受理" in emails
    # Unknown filter values are ignored, not an error.
    assert (await client.get("/admin/outbox?status=bogus&channel=fax")).status_code == 200


def _fail_for(phone: str):
    async def send(to: str, text: str) -> None:
        if to == phone:
            raise SmsError("operator answered 503")

    return send


async def _production_browser(application, settings, username: str) -> Client:
    secret = await set_totp(settings, username)
    browser = browser_for(application)
    await login_with_totp(browser, username, secret)
    return browser


async def test_production_admins_see_their_subtree_masked_and_window_staff_do_not(settings):
    application = await start_production(settings)
    async with application.lifespan():
        await _messages()
        prod = application.state.settings
        dmz = await _production_browser(application, prod, "dmz_admin")
        page = await dmz.get("/admin/outbox")
        assert page.status_code == 200
        text = html_text(page)
        assert _("Message delivery") in text
        assert "139****2222" in text and DMZ_PHONE not in page.text
        assert "ABCD-EFGH-****" in text  # digit runs are masked in the texts
        # The district's messages and the sign-in code (no center) are not the township's.
        assert "139****4444" not in text and "139****6666" not in text and "l***@example.cn" not in text
        assert 'href="/admin/outbox"' in page.text  # in the shell nav

        district = await _production_browser(application, prod, "gzq_admin")
        text = html_text(await district.get("/admin/outbox"))
        assert "139****2222" in text and "139****4444" in text and "l***@example.cn" in text
        assert "139****6666" not in text  # sign-in codes: system administrators only

        sysadmin = await _production_browser(application, prod, "sysadmin")
        text = html_text(await sysadmin.get("/admin/outbox"))
        assert "139****6666" in text and "135790" not in text

        window = await _production_browser(application, prod, "gzq_window")
        assert (await window.get("/admin/outbox")).status_code == 403
        assert 'href="/admin/outbox"' not in (await window.get("/dashboard")).text
        for browser in (dmz, district, sysadmin, window):
            await browser.aclose()
