"""Done-when 5: past dates, outside opening hours, too soon, too far ahead, over the per-citizen
limit and forged slot ids get a clear message on the booking page and change nothing. Plus the
availability rules: holidays, dated exceptions, buffers."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from portal import clock
from portal.bookings import availability as av
from portal.bookings.catalog import service_by_key
from portal.db import raw, write_transaction
from portal.matters.calendar import WorkingCalendar
from tests.conftest import html_text
from tests.core.bookings.helpers import CONSULT, add_resource, at, citizen_client, confirm, enable_sample, next_workday


async def _counts() -> tuple:
    rows = []
    for table in ("booking", "booking_claim", "outbox", "booking_waitlist"):
        rows.append((await raw(f"SELECT count(*) AS n FROM {table}"))[0]["n"])
    return tuple(rows)


@pytest.mark.parametrize("slot, message", [
    ("yesterday", "该时间已过"),
    ("night", "不在开放时间内"),
    ("abc", "请从列表中选择"),
    ("12345678901234", "请从列表中选择"),
    ("far", "最多只能预约 14 天"),
    ("offgrid", "不在开放时间内"),
])
async def test_bad_slots_get_a_message_and_change_nothing(app, client_factory, slot, message):
    center = await enable_sample(app)
    await add_resource(center["id"])
    day = next_workday()
    value = {
        "yesterday": str(at(day - dt.timedelta(days=(day - av.day_of(av.to_minute(clock.now()))).days + 1), 9)),
        "night": str(at(day, 3)),
        "far": str(at(day + dt.timedelta(days=20), 9)),
        "offgrid": str(at(day, 9, 5)),  # 9:05 is not a slot start of a 20-minute service opening at 9:00
    }.get(slot, slot)
    citizen = await citizen_client(client_factory, "13600000001")
    before = await _counts()
    check = await citizen.get(f"/book/{center['id']}/{CONSULT}/check", params={"slot": value})
    assert check.status_code == 422 and message in html_text(check), html_text(check)[:600]
    posted = await citizen.submit(f"/book/{center['id']}/{CONSULT}/confirm", {"slot": value, "_submission_key": "k" * 30})
    assert posted.status_code == 422 and message in html_text(posted)
    assert 'role="alert"' in posted.text  # the error summary on the booking page itself
    assert await _counts() == before


async def test_too_soon_and_over_the_per_citizen_limit(app, client_factory):
    center = await enable_sample(app)
    await add_resource(center["id"])
    day = next_workday()
    # 8:30 local on the day: 9:00 is inside the 120-minute minimum notice, 11:00 is not.
    target = dt.datetime.combine(day, dt.time(8, 30), tzinfo=clock.TZ_CN)
    clock.travel(seconds=(target - clock.now()).total_seconds())
    citizen = await citizen_client(client_factory, "13600000002")
    before = await _counts()
    soon = await citizen.submit(f"/book/{center['id']}/{CONSULT}/confirm", {"slot": str(at(day, 9))})
    assert soon.status_code == 422 and "请至少提前 120 分钟预约" in html_text(soon)
    assert await _counts() == before
    assert (await confirm(citizen, center["id"], at(day, 11))).status_code == 303
    before = await _counts()
    again = await citizen.submit(f"/book/{center['id']}/{CONSULT}/confirm", {"slot": str(at(day, 11, 20))})
    assert again.status_code == 422 and "您已有 1 个该服务的有效预约" in html_text(again)
    assert await _counts() == before


async def test_a_disabled_modules_service_is_not_offered(app, client_factory):
    other = (await raw("SELECT id FROM center WHERE code = 'GZQ-DZZ'"))[0]
    # The demo switches the bundled modules on at every center (legal aid offers a service): off here.
    from portal.audit.chain import SYSTEM, AuditTrail
    from portal.centers.modules import set_enabled

    for row in await raw("SELECT module FROM center_module WHERE center = {} AND allowed AND enabled", other["id"]):
        if row["module"] in app.state.registry.modules:
            await set_enabled(AuditTrail(app.state.audit_key, SYSTEM), app.state.registry, other["id"], row["module"], False)
    citizen = await citizen_client(client_factory, "13600000003")
    assert (await citizen.get(f"/book/{other['id']}/{CONSULT}")).status_code == 404
    services = await citizen.get(f"/book/{other['id']}")
    assert "本中心暂未开通网上预约" in html_text(services) and "0936-8571000" in html_text(services)


async def test_no_free_slot_page_offers_phone_counter_and_waitlist(app, client_factory):
    center = await enable_sample(app)
    await add_resource(center["id"], hours=())  # no opening hours at all
    citizen = await citizen_client(client_factory, "13600000004")
    page = await citizen.get(f"/book/{center['id']}/{CONSULT}")
    text = html_text(page)
    assert page.status_code == 200 and "暂无可约时段" in text and "0936-8561000" in text and "加入候补" in text


async def test_holidays_exceptions_and_buffers(app):
    center = await enable_sample(app)
    rid = await add_resource(center["id"], hours=((9 * 60, 10 * 60),))
    service = service_by_key(app.state.registry, CONSULT)
    day = next_workday()
    found = await av.search(center["id"], service, first=day, days=1)
    assert [s for s, _r in found.days[day]] == [at(day, 9), at(day, 9, 20), at(day, 9, 40)]
    # A holiday (admin override of the working calendar) closes the weekly hours.
    closed = await av.search(center["id"], service, first=day, days=1, calendar=WorkingCalendar({day: False}))
    assert closed.days[day] == [] and not closed.offered
    # A 10-minute buffer after each slot: 9:00, 9:30 (9:30–9:50 + 10 fits until 10:00).
    buffered = await av.search(center["id"], dataclasses.replace(service, buffer_minutes=10), first=day, days=1)
    assert [s for s, _r in buffered.days[day]] == [at(day, 9), at(day, 9, 30)]
    # Dated exceptions: closed 9:00–9:30, and extra hours 14:00–14:20.
    async with write_transaction():
        await raw("INSERT INTO booking_exception (resource, day, closed, start_minute, end_minute, note) VALUES ({}, {}, TRUE, {}, {}, '')",
                  rid, day, 9 * 60, 9 * 60 + 30)
        await raw("INSERT INTO booking_exception (resource, day, closed, start_minute, end_minute, note) VALUES ({}, {}, FALSE, {}, {}, '')",
                  rid, day, 14 * 60, 14 * 60 + 20)
    found = await av.search(center["id"], service, first=day, days=1)
    assert [s for s, _r in found.days[day]] == [at(day, 9, 30), at(day, 14)]
    # Closed all day.
    async with write_transaction():
        await raw("INSERT INTO booking_exception (resource, day, closed, start_minute, end_minute, note) VALUES ({}, {}, TRUE, 0, 0, '')", rid, day)
    assert (await av.search(center["id"], service, first=day, days=1)).days[day] == []
