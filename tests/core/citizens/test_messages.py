"""The citizen's messages page, and the staff SMS outbox page (development and demo only)."""

from __future__ import annotations

import httpx

from portal.app import create_app
from portal.db import write_transaction
from portal.i18n import _
from portal.notify.outbox import queue_inapp, wait_delivered
from portal.notify.tables import Outbox
from portal.tables import StaffUser
from tests.conftest import Client, html_text
from tests.core.citizens.helpers import PHONE, ask_code, citizen_id, latest_code, sign_in
from tests.core.security.conftest import start_production


async def test_my_messages_newest_first_marks_read_and_shows_only_mine(app, client, client_factory):
    await sign_in(client)
    me = await citizen_id()
    other = await client_factory()
    await sign_in(other, "13900139000")
    someone = await citizen_id("13900139000")
    staff = (await StaffUser.select(StaffUser.id).where(StaffUser.username == "gzq_window").first())["id"]
    async with write_transaction():
        await queue_inapp(body="您的事项已登记。", kind="matter_registered", citizen=me)
        await queue_inapp(body="您的事项已受理。", kind="matter_accepted", citizen=me)
        await queue_inapp(body="别人的消息", kind="matter_accepted", citizen=someone)
        await queue_inapp(body="工作人员的消息", kind="matter_assigned", staff=staff)

    page = await client.get("/my/messages")
    assert page.status_code == 200
    text = html_text(page)
    assert text.index("您的事项已受理。") < text.index("您的事项已登记。")
    assert "别人的消息" not in text and "工作人员的消息" not in text
    assert text.count(_("New")) >= 2
    unread = await Outbox.count().where((Outbox.citizen == me) & Outbox.read_at.is_null())
    assert unread == 0
    page = await client.get("/my/messages")
    assert "您的事项已受理。" in html_text(page)
    # The other citizen's message is still unread.
    assert await Outbox.count().where((Outbox.citizen == someone) & Outbox.read_at.is_null()) == 1


async def test_my_messages_pages_by_keyset(app, client):
    await sign_in(client)
    me = await citizen_id()
    async with write_transaction():
        for i in range(35):
            await queue_inapp(body=f"第{i}条消息", kind="test", citizen=me)
    page = await client.get("/my/messages")
    assert "第34条消息" in page.text and "第4条消息" not in page.text
    assert "/my/messages?before=" in page.text
    older = page.text.split("/my/messages?before=")[1].split('"')[0]
    page = await client.get(f"/my/messages?before={older}")
    assert "第4条消息" in page.text and "第34条消息" not in page.text


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


async def test_outbox_page_does_not_exist_in_production(settings):
    application = await start_production(settings, sms_gateway_url="http://127.0.0.1:9/sms", sms_gateway_token="t" * 20)
    async with application.lifespan():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as browser:
            response = await browser.get("/admin/outbox", follow_redirects=False)
            assert response.status_code == 404
