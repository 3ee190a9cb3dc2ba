"""Live alerts for staff: the link of in-app messages, the hub that polls the outbox, the /live stream."""

from __future__ import annotations

import pytest

from portal.db import write_transaction
from portal.notify.outbox import queue_inapp
from portal.notify.tables import Outbox
from portal.tables import StaffUser
from tests.conftest import html_text
from tests.core.citizens.helpers import citizen_id, sign_in


async def staff_id(username: str) -> int:
    return (await StaffUser.select(StaffUser.id).where(StaffUser.username == username).first())["id"]


async def send(staff: int, body: str = "区人社局：请到甘州区综治中心报到。", *, kind: str = "whistle", link: str = "") -> int:
    async with write_transaction():
        return await queue_inapp(body=body, kind=kind, staff=staff, link=link)


# ------------------------------------------------------------------------------ the link


@pytest.mark.parametrize("link", ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "matters/1",
                                  "javascript:alert(1)", "/a b", "/x\n", "/" + "a" * 200])
async def test_a_link_must_be_a_path_on_this_site(app, link):
    officer = await staff_id("rsj_officer")
    with pytest.raises(ValueError, match="site-relative"):
        await send(officer, link=link)
    assert await Outbox.count() == 0


async def test_staff_inbox_shows_the_link_of_a_message(app, client):
    officer = await staff_id("rsj_officer")
    await send(officer, "请查看新的吹哨。", link="/matters/7")
    await send(officer, "没有链接的消息。")
    await client.login("rsj_officer")
    page = await client.get("/messages")
    assert page.status_code == 200
    assert '<a href="/matters/7">查看' in page.text
    assert page.text.count(">查看<") == 1
    assert "没有链接的消息。" in html_text(page)


async def test_citizen_messages_show_the_link(app, client):
    await sign_in(client)
    me = await citizen_id()
    async with write_transaction():
        await queue_inapp(body="您的预约已确认。", kind="booking", citizen=me, link="/my/bookings")
    page = await client.get("/my/messages")
    assert page.status_code == 200
    assert '<a href="/my/bookings">查看' in page.text
