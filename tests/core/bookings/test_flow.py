"""Done-when 1 (without a browser) and 4: book, SMS + in-app + .ics, change, cancel with a reason,
the waitlist offer and its expiry, staff check-in by code, no-show and its correction, reminders once."""

from __future__ import annotations

import datetime as dt

import icalendar

from portal import clock
from portal.bookings import availability as av
from portal.bookings import jobs
from portal.db import raw
from portal.notify.tables import Outbox
from tests.conftest import html_text
from tests.core.bookings.helpers import CONSULT, add_resource, at, citizen_client, confirm, enable_sample, next_workday
from tests.sample_module.hooks import CALLS


async def _booking(booking_id: int) -> dict:
    return (await raw("SELECT * FROM booking WHERE id = {}", booking_id))[0]


async def _sms(phone: str) -> list[str]:
    rows = await Outbox.select(Outbox.body).where((Outbox.phone == phone) & (Outbox.channel == "sms")).order_by(Outbox.id)
    return [r["body"] for r in rows]


async def test_book_change_cancel_and_the_waitlist(app, client_factory):
    center = await enable_sample(app)
    await add_resource(center["id"])
    day = next_workday()
    a = await citizen_client(client_factory, "13900000001")

    # Availability before the check page: slots grouped by day as radios, the next free day named.
    page = await a.get(f"/book/{center['id']}/{CONSULT}")
    assert page.status_code == 200
    assert 'type="radio" name="slot"' in page.text and "<fieldset" in page.text and "<legend>" in page.text
    assert "上午 9:00–9:20" in html_text(page)

    # Confirm twice with the same submission key: one booking.
    check = await a.get(f"/book/{center['id']}/{CONSULT}/check", params={"slot": str(at(day, 9))})
    assert check.status_code == 200 and "上午 9:00–9:20" in html_text(check)
    key = check.text.split('name="_submission_key" value="')[1].split('"')[0]
    first = await a.submit(f"/book/{center['id']}/{CONSULT}/confirm", {"slot": str(at(day, 9)), "_submission_key": key})
    again = await a.submit(f"/book/{center['id']}/{CONSULT}/confirm", {"slot": str(at(day, 9)), "_submission_key": key})
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    booking_id = int(first.headers["location"].rsplit("/", 1)[1])
    assert (await raw("SELECT count(*) AS n FROM booking"))[0]["n"] == 1
    booking = await _booking(booking_id)
    sms = await _sms("13900000001")
    assert len(sms) == 1 and booking["code"] in sms[0] and sms[0].startswith("【大满镇综治中心】")
    inapp = await Outbox.count().where((Outbox.citizen == a.citizen_id) & (Outbox.channel == "inapp"))
    assert inapp == 1
    assert ("booking_event", "booked", "GZQ-DMZ") in CALLS

    # The booking page: code, QR (inline SVG), .ics that parses in Asia/Shanghai.
    detail = await a.get(f"/my/bookings/{booking_id}")
    assert booking["code"] in detail.text and "<svg" in detail.text
    ics = await a.get(f"/my/bookings/{booking_id}/booking.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(ics.content)
    event = next(iter(cal.walk("VEVENT")))
    start = event["DTSTART"].dt
    assert str(start.tzinfo) in ("Asia/Shanghai", "CST") or start.utcoffset() == dt.timedelta(hours=8)
    assert start.utcoffset() == dt.timedelta(hours=8)
    assert start.replace(tzinfo=None) == dt.datetime.combine(day, dt.time(9, 0))
    assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert any(c.name == "VTIMEZONE" for c in cal.walk())

    # Another citizen's booking is 404; so is the .ics.
    b = await citizen_client(client_factory, "13900000002")
    assert (await b.get(f"/my/bookings/{booking_id}")).status_code == 404
    assert (await b.get(f"/my/bookings/{booking_id}/booking.ics")).status_code == 404

    # Change to 10:00: same code, SMS; 9:00 is free again.
    changed = await a.submit(f"/my/bookings/{booking_id}/change", {"slot": str(at(day, 10))})
    assert changed.status_code == 303
    booking = await _booking(booking_id)
    assert av.to_minute(booking["starts_at"] if isinstance(booking["starts_at"], dt.datetime) else dt.datetime.fromisoformat(booking["starts_at"])) == at(day, 10)
    assert len(await _sms("13900000001")) == 2
    assert f'value="{at(day, 9)}"' in (await a.get(f"/book/{center['id']}/{CONSULT}")).text

    # B waits for the service; A cancels (a reason is required) → B is offered 10:00 for a limited time.
    joined = await b.submit(f"/book/{center['id']}/{CONSULT}/waitlist")
    assert joined.status_code == 303
    no_reason = await a.submit(f"/my/bookings/{booking_id}/cancel", {"reason": ""})
    assert no_reason.status_code == 422 and "原因" in html_text(no_reason)
    cancelled = await a.submit(f"/my/bookings/{booking_id}/cancel", {"reason": "临时有事"})
    assert cancelled.status_code == 303
    assert (await _booking(booking_id))["status"] == "cancelled"
    offer = (await raw("SELECT * FROM booking WHERE citizen = {} AND status = 'held'", b.citizen_id))[0]
    assert av.to_minute(offer["starts_at"] if isinstance(offer["starts_at"], dt.datetime) else dt.datetime.fromisoformat(offer["starts_at"])) == at(day, 10)
    assert len(await _sms("13900000002")) == 1
    mine = await b.get("/my/bookings")
    assert f"/my/bookings/{offer['id']}" in mine.text
    accepted = await b.submit(f"/my/bookings/{offer['id']}/accept")
    assert accepted.status_code == 303
    assert (await _booking(offer["id"]))["status"] == "booked"


async def test_expired_offer_passes_to_the_next_person(app, client_factory):
    center = await enable_sample(app)
    await add_resource(center["id"], hours=((9 * 60, 9 * 60 + 20),))
    day = next_workday(3)
    a = await citizen_client(client_factory, "13900000011")
    b = await citizen_client(client_factory, "13900000012")
    c = await citizen_client(client_factory, "13900000013")
    assert (await confirm(a, center["id"], at(day, 9))).status_code == 303
    booking_id = (await raw("SELECT id FROM booking WHERE citizen = {}", a.citizen_id))[0]["id"]
    await b.submit(f"/book/{center['id']}/{CONSULT}/waitlist")
    await c.submit(f"/book/{center['id']}/{CONSULT}/waitlist")
    await a.submit(f"/my/bookings/{booking_id}/cancel", {"reason": "不需要了"})
    offer_b = (await raw("SELECT id FROM booking WHERE citizen = {} AND status = 'held'", b.citizen_id))[0]["id"]
    clock.travel(hours=3)
    assert await jobs.expire_offers(app) == 1
    assert await jobs.expire_offers(app) == 0  # idempotent
    b = await citizen_client(client_factory, "13900000012")  # signs in again (the old session timed out)
    c = await citizen_client(client_factory, "13900000013")
    late = await b.submit(f"/my/bookings/{offer_b}/accept")
    assert late.status_code == 422 and "已过期" in html_text(late)
    assert (await _booking(offer_b))["status"] == "expired"
    offer_c = (await raw("SELECT id FROM booking WHERE citizen = {} AND status = 'held'", c.citizen_id))
    assert offer_c, "the next person on the waiting list is offered the slot"
    assert (await c.submit(f"/my/bookings/{offer_c[0]['id']}/accept")).status_code == 303


async def test_staff_check_in_by_code_no_show_and_correction(app, client_factory):
    center = await enable_sample(app)
    await add_resource(center["id"])
    day = next_workday()
    a = await citizen_client(client_factory, "13900000021")
    b = await citizen_client(client_factory, "13900000022")
    await confirm(a, center["id"], at(day, 9))
    await confirm(b, center["id"], at(day, 10))
    first = (await raw("SELECT * FROM booking WHERE citizen = {}", a.citizen_id))[0]
    second = (await raw("SELECT * FROM booking WHERE citizen = {}", b.citizen_id))[0]

    # Reminders the day before, never twice.
    now_local = clock.local(clock.now())
    target = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(18, 0), tzinfo=clock.TZ_CN)
    clock.travel(seconds=(target - now_local).total_seconds())
    assert await jobs.send_reminders(app) == 2
    assert await jobs.send_reminders(app) == 0
    assert sum("明天" in body or "Reminder" in body for body in await _sms("13900000021")) == 1

    # Another center's window staff cannot check it in (same answer as an unknown code).
    other = await client_factory()
    await other.login("dzz_window")
    refused = await other.submit("/bookings/checkin", {"code": first["code"]})
    assert refused.status_code == 422
    assert (await other.get(f"/bookings/{first['id']}")).status_code == 404

    staff = await client_factory()
    await staff.login("dmz_window")
    early = await staff.submit("/bookings/checkin", {"code": first["code"]})
    assert early.status_code == 422 and "当天才能签到" in html_text(early)
    clock.travel(hours=15)  # the morning of the appointment
    staff = await client_factory()
    await staff.login("dmz_window")
    qr_target = await staff.get("/bookings/checkin", params={"code": first["code"]})
    assert qr_target.status_code == 200 and first["code"] in qr_target.text
    done = await staff.submit("/bookings/checkin", {"code": first["code"].lower()})
    assert done.status_code == 303
    assert (await _booking(first["id"]))["status"] == "checked_in"
    twice = await staff.submit("/bookings/checkin", {"code": first["code"]})
    assert twice.status_code == 422

    # The second never comes: a no-show after the grace period (once), then corrected by staff.
    clock.travel(hours=3)
    staff = await client_factory()
    await staff.login("dmz_window")
    assert await jobs.mark_no_shows(app) == 1
    assert await jobs.mark_no_shows(app) == 0
    assert (await _booking(second["id"]))["status"] == "no_show"
    assert ("booking_event", "no_show", "GZQ-DMZ") in CALLS
    corrected = await staff.submit(f"/bookings/{second['id']}/checkin")
    assert corrected.status_code == 303
    assert (await _booking(second["id"]))["status"] == "checked_in"

    # Day view of the center shows both.
    view = await staff.get("/bookings", params={"day": day.isoformat()})
    assert view.status_code == 200 and first["code"] in view.text and second["code"] in view.text


async def test_a_lawyer_sees_only_their_own_bookings(app, client_factory):
    center = await enable_sample(app, "GZQ")
    lawyer = (await raw("SELECT id FROM staff_user WHERE username = 'lawyer'"))[0]["id"]
    own = await add_resource(center["id"], name="值班律师", staff=lawyer)
    await add_resource(center["id"], name="另一位律师")
    day = next_workday()
    from tests.core.bookings.helpers import ctx
    from portal.bookings import service as svc
    from portal.bookings.catalog import service_by_key

    consult = service_by_key(app.state.registry, CONSULT)
    mine = await svc.book(ctx(app), center["id"], consult, at(day, 9), citizen_id=None, name="甲", channel="walk_in")
    theirs = await svc.book(ctx(app), center["id"], consult, at(day, 9), citizen_id=None, name="乙", channel="walk_in")
    assert mine["resource"] == own and theirs["resource"] != own
    client = await client_factory()
    await client.login("lawyer")
    view = await client.get("/bookings", params={"day": day.isoformat()})
    assert mine["code"] in view.text and theirs["code"] not in view.text
    assert (await client.get(f"/bookings/{theirs['id']}")).status_code == 404
    assert (await client.get(f"/bookings/{mine['id']}")).status_code == 200


async def test_a_lawyer_manages_the_feed_of_their_own_resource_only(app, client_factory):
    center = await enable_sample(app, "GZQ")
    lawyer = (await raw("SELECT id FROM staff_user WHERE username = 'lawyer'"))[0]["id"]
    own = await add_resource(center["id"], name="值班律师", staff=lawyer)
    other = await add_resource(center["id"], name="另一位律师")
    client = await client_factory()
    await client.login("lawyer")
    view = await client.get("/bookings")
    assert f"/admin/booking-resources/{own}" in view.text and f"/admin/booking-resources/{other}" not in view.text
    page = await client.get(f"/admin/booking-resources/{own}")
    assert page.status_code == 200 and "每周开放时间" not in html_text(page)  # the feed only, not the set-up
    renewed = await client.submit(f"/admin/booking-resources/{own}/feed", {"action": "renew"})
    assert renewed.status_code == 200 and 'id="feed-url"' in renewed.text
    assert (await client.get(f"/admin/booking-resources/{other}")).status_code == 404
    assert (await client.submit(f"/admin/booking-resources/{other}/feed", {"action": "renew"})).status_code == 404
    assert (await client.submit(f"/admin/booking-resources/{own}/rules", {"weekday": "0", "start": "9:00", "end": "10:00"})).status_code == 403
