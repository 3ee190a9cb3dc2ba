"""Center admins set up resources, opening hours and exceptions; the resource's calendar feed;
wrong role is 403, another center's resource 404, bad times a message on the same page."""

from __future__ import annotations

import re

import icalendar

from portal.bookings.catalog import service_by_key
from portal.db import raw
from tests.conftest import html_text
from tests.core.bookings.helpers import CONSULT, add_resource, at, ctx, enable_sample, next_workday


async def test_admin_sets_up_a_resource_through_the_pages(app, client, client_factory):
    center = await enable_sample(app)
    await client.login("dmz_admin")
    empty = await client.submit("/admin/booking-resources", {"center": str(center["id"]), "kind": "person", "name": ""})
    assert empty.status_code == 422 and "请填写名称" in html_text(empty)
    foreign = (await raw("SELECT id FROM center WHERE code = 'GZQ-DZZ'"))[0]["id"]
    outside = await client.submit("/admin/booking-resources", {"center": str(foreign), "kind": "room", "name": "调解室"})
    assert outside.status_code == 422 and "请选择中心" in html_text(outside)
    created = await client.submit("/admin/booking-resources", {"center": str(center["id"]), "kind": "room", "name": "调解室一"})
    assert created.status_code == 303
    url = created.headers["location"]
    rid = int(url.rsplit("/", 1)[1])
    assert (await client.submit(f"{url}/services", {"services": CONSULT})).status_code == 303
    bad = await client.submit(f"{url}/rules", {"weekday": "0", "start": "12:00", "end": "9:00"})
    assert bad.status_code == 422 and "结束时间应晚于开始时间" in html_text(bad)
    assert 'value="12:00"' in bad.text  # what was typed stays
    assert (await client.submit(f"{url}/rules", {"weekday": "0", "start": "9:00", "end": "12:00"})).status_code == 303
    past = await client.submit(f"{url}/exceptions", {"day": "2020-01-01", "kind": "closed_day"})
    assert past.status_code == 422 and "该日期已过" in html_text(past)
    day = next_workday()
    reversed_hours = await client.submit(f"{url}/exceptions", {"day": day.isoformat(), "kind": "open", "ex_start": "15:00", "ex_end": "14:00"})
    assert reversed_hours.status_code == 422 and "结束时间应晚于开始时间" in html_text(reversed_hours)
    assert not await raw("SELECT id FROM booking_exception WHERE resource = {}", rid)
    assert (await client.submit(f"{url}/exceptions", {"day": day.isoformat(), "kind": "open", "ex_start": "14:00", "ex_end": "15:00"})).status_code == 303
    page = await client.get(url)
    assert "周一 9:00–12:00" in html_text(page) and "14:00–15:00" in html_text(page)
    assert (await raw("SELECT count(*) AS n FROM booking_resource_service WHERE resource = {}", rid))[0]["n"] == 1
    audit = await raw("SELECT count(*) AS n FROM audit_log WHERE action LIKE 'booking_resource.%'")
    assert audit[0]["n"] >= 4

    # Window staff may not manage resources; another township's admin does not see this one.
    window = await client_factory()
    await window.login("dmz_window")
    assert (await window.get("/admin/booking-resources")).status_code == 403
    other = await client_factory()
    await other.login("dzz_admin")
    assert (await other.get(url)).status_code == 404
    assert (await other.submit(f"{url}/rules", {"weekday": "1", "start": "9:00", "end": "10:00"})).status_code == 404


async def test_calendar_feed_is_secret_revocable_and_parses(app, client, client_factory):
    center = await enable_sample(app)
    rid = await add_resource(center["id"])
    consult = service_by_key(app.state.registry, CONSULT)
    from portal.bookings import service as svc

    booking = await svc.book(ctx(app), center["id"], consult, at(next_workday(), 9), citizen_id=None, name="张三", phone="13800138000", channel="walk_in")
    await client.login("dmz_admin")
    page = await client.submit(f"/admin/booking-resources/{rid}/feed", {"action": "renew"})
    feed_url = re.search(r'<code id="feed-url">([^<]+)</code>', page.text).group(1)
    path = feed_url.split("testserver.local", 1)[1]
    anonymous = await client_factory()
    feed = await anonymous.get(path)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(feed.content)
    events = list(cal.walk("VEVENT"))
    assert len(events) == 1 and booking["code"] in str(events[0]["SUMMARY"])
    assert "张三" not in feed.text and "13800138000" not in feed.text  # no personal data in a URL-guarded feed
    assert (await anonymous.get("/bookings/feed/" + "x" * 32 + ".ics")).status_code == 404
    # Regenerating invalidates the old address; switching off leaves none.
    page = await client.submit(f"/admin/booking-resources/{rid}/feed", {"action": "renew"})
    assert (await anonymous.get(path)).status_code == 404
    new_path = re.search(r'<code id="feed-url">([^<]+)</code>', page.text).group(1).split("testserver.local", 1)[1]
    assert (await anonymous.get(new_path)).status_code == 200
    assert (await client.submit(f"/admin/booking-resources/{rid}/feed", {"action": "revoke"})).status_code == 303
    assert (await anonymous.get(new_path)).status_code == 404


async def test_walk_in_and_staff_cancel(app, client_factory):
    center = await enable_sample(app)
    await add_resource(center["id"], hours=((0, 23 * 60 + 40),))
    staff = await client_factory()
    await staff.login("dmz_window")
    form = await staff.get("/bookings/walk-in")
    assert form.status_code == 200
    key = re.search(r'name="_submission_key" value="([^"]+)"', form.text).group(1)
    slot = re.search(r'name="slot" value="(\d+)"', form.text)
    if slot is None:  # late evening: no free time left today
        assert "今天已没有空闲时段" in html_text(form)
        return
    missing = await staff.submit("/bookings/walk-in", {"service": CONSULT, "slot": slot.group(1), "name": "", "phone": "123", "_submission_key": key})
    assert missing.status_code == 422 and "请填写来访群众姓名" in html_text(missing) and "11 位手机号" in html_text(missing)
    data = {"service": CONSULT, "slot": slot.group(1), "name": "李四", "phone": "13800138001", "_submission_key": key}
    first = await staff.submit("/bookings/walk-in", data)
    again = await staff.submit("/bookings/walk-in", data)
    assert first.status_code == again.status_code == 303 and first.headers["location"] == again.headers["location"]
    booking_id = int(first.headers["location"].rsplit("/", 1)[1])
    no_reason = await staff.submit(f"/bookings/{booking_id}/cancel", {"reason": ""})
    assert no_reason.status_code == 422
    assert (await staff.submit(f"/bookings/{booking_id}/cancel", {"reason": "群众来电取消"})).status_code == 303
    assert (await raw("SELECT status FROM booking WHERE id = {}", booking_id))[0]["status"] == "cancelled"
    assert (await raw("SELECT count(*) AS n FROM booking_claim"))[0]["n"] == 0
