"""Anonymous monthly numbers: counts per center and calendar month (China time), 1–2 shown as "<3",
nothing but counts on the page, only centers where counseling is on."""

from __future__ import annotations

import datetime as dt

from portal import clock
from portal.db import insert, raw, write_transaction
from tests.conftest import html_text
from tests.counseling.helpers import PSEUDONYM, booking_with, center_id, staff_client, staff_id

from plugins.counseling import numbers as nb


def china(year, month, day, hour=10, minute=0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=clock.TZ_CN).astimezone(dt.timezone.utc)


async def _case(center: str, counselor: str = "counselor") -> int:
    return await insert("counseling_case", {
        "center": await center_id(center), "counselor": await staff_id(counselor), "citizen": None, "booking": None,
        "client_label": "", "opened_at": clock.now(), "last_session_at": None, "sessions": 0, "erased_at": None, "version": 1})


async def _session(case: int, center: str, held_at, kind="follow_up", attendance="attended") -> None:
    await insert("counseling_session", {
        "case_id": case, "center": await center_id(center), "counselor": await staff_id("counselor"), "booking": None,
        "kind": kind, "held_at": held_at, "duration_minutes": 50, "attendance": attendance, "notes": "",
        "created_at": clock.now(), "updated_at": None, "erased_at": None, "version": 1})


async def _referral(case: int, center: str, on: dt.date) -> None:
    await insert("counseling_referral", {
        "case_id": case, "center": await center_id(center), "counselor": await staff_id("counselor"), "referred_on": on,
        "client_agreed": True, "details": "", "created_at": clock.now(), "erased_at": None})


async def _crisis(center: str, raised_at) -> None:
    await raw("INSERT INTO counseling_crisis (center, source, reason, status, raised_at, closing_note, version) "
              "VALUES ({}, 'counselor', '', 'open', {}, '', 1)", await center_id(center), raised_at)


async def _october() -> None:
    async with write_transaction():
        gzq = await _case("GZQ")
        for day, kind in ((1, "first"), (8, "first"), (15, "follow_up"), (22, "follow_up")):
            await _session(gzq, "GZQ", china(2026, 10, day), kind)
        await _session(gzq, "GZQ", china(2026, 10, 31, 23, 30))  # late on the last day: still October in China
        await _session(gzq, "GZQ", china(2026, 10, 29), "follow_up", "no_show")  # not held
        await _session(gzq, "GZQ", china(2026, 9, 30, 23, 50))  # September
        await _session(gzq, "GZQ", china(2026, 11, 1, 0, 10))  # November (still October in UTC)
        await _referral(gzq, "GZQ", dt.date(2026, 10, 9))
        await _referral(gzq, "GZQ", dt.date(2026, 10, 31))
        await _referral(gzq, "GZQ", dt.date(2026, 11, 1))
        await _crisis("GZQ", china(2026, 10, 12))
        await _crisis("GZQ", china(2026, 11, 1, 0, 5))
        dmz = await _case("GZQ-DMZ")
        for day in range(1, 8):
            await _session(dmz, "GZQ-DMZ", china(2026, 10, day), "first" if day < 5 else "follow_up")


async def test_monthly_counts_follow_the_definitions(app):
    await _october()
    gzq, dmz = await center_id("GZQ"), await center_id("GZQ-DMZ")
    first, after = nb.month_bounds("2026-10")
    counts = await nb.monthly_counts([gzq, dmz], first, after)
    assert counts[gzq] == {"sessions": 5, "first_visits": 2, "referrals": 2, "crises": 1}
    assert counts[dmz] == {"sessions": 7, "first_visits": 4, "referrals": 0, "crises": 0}
    november = await nb.monthly_counts([gzq], *nb.month_bounds("2026-11"))
    assert november[gzq] == {"sessions": 1, "first_visits": 0, "referrals": 1, "crises": 1}


def test_small_counts_are_suppressed_and_zero_is_shown():
    assert [nb.shown(n) for n in (0, 1, 2, 3, 17)] == ["0", "<3", "<3", "3", "17"]
    assert nb.month_bounds("2026-12") == (dt.date(2026, 12, 1), dt.date(2027, 1, 1))
    assert nb.month_bounds("2026-13") is None and nb.month_bounds("abc") is None and nb.month_bounds("1900-01") is None


async def test_the_numbers_page_shows_counts_only(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)  # a pseudonym and a phone in the database
    await _october()
    admin = await staff_client(client_factory, "gzq_admin")
    page = await admin.get("/m/counseling/numbers?month=2026-10")
    assert page.status_code == 200
    text = html_text(page)
    assert "甘州区综治中心 5 <3 <3 <3" in text
    assert "大满镇综治中心 7 4 0 0" in text
    assert "党寨镇综治中心" not in text  # counseling is off there
    for private in (PSEUDONYM, booking["phone"], booking["phone"][-4:], booking["code"], "心理咨询师（演示）"):
        assert private not in text
    table = page.text[page.text.index("<table"):page.text.index("</table>")]
    assert "合计" not in table and "总计" not in table  # no total row: it would undo the "<3"
    leader = await staff_client(client_factory, "leader")
    assert "甘州区综治中心 5 <3 <3 <3" in html_text(await leader.get("/m/counseling/numbers?month=2026-10"))
    bad = await admin.get("/m/counseling/numbers?month=2026-13")
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text and 'value="2026-13"' in bad.text


async def test_the_numbers_need_the_permission_and_stay_in_scope(app, client_factory):
    await _october()
    for username in ("counselor", "gzq_window"):
        staff = await staff_client(client_factory, username)
        assert (await staff.get("/m/counseling/numbers")).status_code == 403, username
    dmz = await staff_client(client_factory, "dmz_admin")
    text = html_text(await dmz.get("/m/counseling/numbers?month=2026-10"))
    assert "大满镇综治中心 7 4 0 0" in text and "甘州区综治中心 5" not in text


async def test_the_dashboard_widget_has_this_months_counts(app, client_factory):
    async with write_transaction():
        case = await _case("GZQ")
        await _session(case, "GZQ", clock.now(), "first")
    admin = await staff_client(client_factory, "gzq_admin")
    text = html_text(await admin.get("/dashboard"))
    assert "心理咨询（本月）" in text and "咨询人次 <3" in text and "危机预警 0" in text
