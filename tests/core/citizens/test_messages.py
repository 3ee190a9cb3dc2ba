"""The citizen's messages page (the staff outbox page: tests/core/notify/test_delivery_page.py)."""

from __future__ import annotations

from portal.db import write_transaction
from portal.i18n import _
from portal.notify.outbox import queue_inapp
from portal.notify.tables import Outbox
from portal.tables import StaffUser
from tests.conftest import html_text
from tests.core.citizens.helpers import citizen_id, sign_in


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
