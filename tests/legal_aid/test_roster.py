"""Lawyer profiles and the duty roster: the roster feeds the appointments engine (a rostered day
offers 「法律咨询」 slots, any other day none), booked days cannot be removed, clashes are refused,
bad input is answered on the same form with the input kept."""

from __future__ import annotations

import datetime as dt

from portal.bookings import availability as av
from portal.bookings.catalog import service_by_key
from portal.db import raw
from tests.conftest import html_text
from tests.core.bookings.helpers import at, citizen_client, confirm
from tests.legal_aid.helpers import center_id, china, lawyer_profile, travel_to

from plugins.legal_aid.roster import SERVICE_KEY

D = dt.date


async def _add(client, center: int, lawyer: int, first: str, last: str = "", expect: int = 303, **extra):
    data = {"center_id": str(center), "lawyer": str(lawyer), "first": first, "last": last or first, "mode": "workdays",
            "am_start": "8:30", "am_end": "12:00", "pm_start": "14:30", "pm_end": "18:00", **extra}
    response = await client.submit("/m/legal_aid/roster/add", data)
    assert response.status_code == expect, (response.status_code, html_text(response)[-1500:])
    return response


async def _remove(client, center: int, lawyer: int, first: str, last: str = "", expect: int = 303):
    response = await client.submit("/m/legal_aid/roster/remove", {
        "center_id": str(center), "remove_lawyer": str(lawyer), "remove_first": first, "remove_last": last or first})
    assert response.status_code == expect, (response.status_code, html_text(response)[-1500:])
    return response


async def _slots(app, center: int, day: D) -> list[int]:
    service = service_by_key(app.state.registry, SERVICE_KEY)
    found = await av.search(center, service, first=day, days=1)
    return [start for start, _rids in found.days.get(day, [])]


async def test_a_roster_range_opens_slots_on_its_working_days_only(app, client_factory):
    travel_to(china(2026, 9, 21, 9))  # a Monday before National Day
    admin = await client_factory()
    await admin.login("dzz_admin")
    dzz = await center_id("GZQ-DZZ")
    lawyer = await lawyer_profile("lawyer")  # a district lawyer may serve the district's townships
    await _add(admin, dzz, lawyer["id"], "2026-09-28", "2026-10-12")
    days = sorted({row["day"] if isinstance(row["day"], D) else D.fromisoformat(str(row["day"]))
                   for row in await raw("SELECT day FROM legal_aid_duty WHERE center = {}", dzz)})
    # National Day (10-01..10-07) left out; Saturday 10-10 is a make-up working day, Sunday 10-11 is not.
    assert days == [D(2026, 9, 28), D(2026, 9, 29), D(2026, 9, 30), D(2026, 10, 8), D(2026, 10, 9), D(2026, 10, 10),
                    D(2026, 10, 12)]
    day = D(2026, 9, 29)
    slots = await _slots(app, dzz, day)
    assert slots[0] == at(day, 8, 30) and at(day, 11, 30) in slots and at(day, 12) not in slots
    assert at(day, 14, 30) in slots and len(slots) == 14
    assert not await _slots(app, dzz, D(2026, 10, 1))
    # The citizen's booking page offers the rostered times.
    citizen = await citizen_client(client_factory, "13600000101")
    page = await citizen.get(f"/book/{dzz}/{SERVICE_KEY}", params={"from": "2026-09-29"})
    assert page.status_code == 200 and "上午 8:30–9:00" in html_text(page)
    # The week view shows the lawyer on duty and the holiday by name.
    week = html_text(await admin.get(f"/m/legal_aid/roster?center_id={dzz}&week=2026-09-28"))
    assert "8:30–12:00" in week and "国庆节" in week and "值班律师（演示）" in week
    # The make-up Saturday is bookable once it is inside the 14-day booking window; the Sunday after is not.
    travel_to(china(2026, 10, 5, 9))
    assert await _slots(app, dzz, D(2026, 10, 10)) and not await _slots(app, dzz, D(2026, 10, 11))


async def test_a_booked_day_cannot_be_removed_until_the_booking_is_cancelled(app, client_factory):
    travel_to(china(2026, 9, 21, 9))
    admin = await client_factory()
    await admin.login("dzz_admin")
    dzz = await center_id("GZQ-DZZ")
    lawyer = await lawyer_profile("lawyer")
    await _add(admin, dzz, lawyer["id"], "2026-09-29")
    day = D(2026, 9, 29)
    citizen = await citizen_client(client_factory, "13800001111")
    assert (await confirm(citizen, dzz, at(day, 9), service=SERVICE_KEY)).status_code == 303
    refused = await _remove(admin, dzz, lawyer["id"], "2026-09-29", expect=422)
    text = html_text(refused)
    assert "已有群众预约" in text and "2026-09-29 上午 9:00–9:30" in text and "138****1111" in text
    assert "13800001111" not in refused.text
    assert len(await raw("SELECT id FROM legal_aid_duty WHERE center = {}", dzz)) == 2
    assert at(day, 10) in await _slots(app, dzz, day)  # nothing changed
    booking = (await raw("SELECT id FROM booking WHERE phone = '13800001111'"))[0]
    assert (await citizen.submit(f"/my/bookings/{booking['id']}/cancel", {"reason": "不去了"})).status_code == 303
    await _remove(admin, dzz, lawyer["id"], "2026-09-29")
    assert not await raw("SELECT id FROM legal_aid_duty WHERE center = {}", dzz)
    assert not await _slots(app, dzz, day)
    assert not await raw("SELECT id FROM booking_exception WHERE day = {}", day)


async def test_a_lawyer_cannot_be_on_duty_twice_at_once(app, client_factory):
    travel_to(china(2026, 9, 21, 9))
    dzz, gzq = await center_id("GZQ-DZZ"), await center_id("GZQ")
    lawyer = await lawyer_profile("lawyer")
    township = await client_factory()
    await township.login("dzz_admin")
    await _add(township, dzz, lawyer["id"], "2026-09-29", pm_start="", pm_end="")
    district = await client_factory()
    await district.login("gzq_admin")
    clash = await _add(district, gzq, lawyer["id"], "2026-09-29", expect=422, am_start="9:00", am_end="11:00")
    assert "2026-09-29 8:30–12:00 党寨镇综治中心" in html_text(clash)
    assert not await raw("SELECT id FROM legal_aid_duty WHERE center = {} AND day = {}", gzq, D(2026, 9, 29))
    # The afternoon is free: adding it at the district works, and adding it again changes nothing.
    await _add(district, gzq, lawyer["id"], "2026-09-29", am_start="", am_end="")
    again = await _add(district, gzq, lawyer["id"], "2026-09-29", am_start="", am_end="")
    assert len(await raw("SELECT id FROM legal_aid_duty WHERE lawyer = {} AND day = {}", lawyer["id"], D(2026, 9, 29))) == 2
    assert again.status_code == 303


async def test_roster_form_errors_keep_the_input(app, client_factory):
    travel_to(china(2026, 9, 21, 9))
    admin = await client_factory()
    await admin.login("dzz_admin")
    dzz = await center_id("GZQ-DZZ")
    lawyer = await lawyer_profile("lawyer")
    bad = await _add(admin, dzz, lawyer["id"], "2026-13-01", "2026-09-01", expect=422, am_end="8:00", pm_start="25:00")
    text = html_text(bad)
    assert "请按 2026-12-01 的格式填写日期" in text
    assert 'value="2026-13-01"' in bad.text and 'value="25:00"' in bad.text
    assert "结束时间至少要比开始时间晚 30 分钟" in text
    past = await _add(admin, dzz, lawyer["id"], "2026-09-01", "2026-09-30", expect=422)
    assert "日期已过" in html_text(past)
    forged = await _add(admin, dzz, 999999, "2026-09-29", expect=422)
    assert "请从列表中选择律师" in html_text(forged)
    assert not await raw("SELECT id FROM legal_aid_duty WHERE center = {}", dzz)


async def test_lawyer_profiles_validate_the_licence_and_are_audited(app, client_factory):
    admin = await client_factory()
    await admin.login("dmz_admin")
    profile = await lawyer_profile("lawyer2")
    bad = await admin.submit(f"/m/legal_aid/lawyers/{profile['id']}", {
        "firm": "张掖某律师事务所", "licence_no": "1620720151065432", "specialties": ["labour"], "phone": "13909361102",
        "active": "1"})
    assert bad.status_code == 422
    assert "执业证号应为 17 位数字" in html_text(bad) and 'value="1620720151065432"' in bad.text
    good = await admin.submit(f"/m/legal_aid/lawyers/{profile['id']}", {
        "firm": "张掖某律师事务所", "licence_no": "１６２０７２０１５１０６５４３２１", "specialties": ["labour", "traffic"],
        "phone": "139 0936 1102", "active": "1"})
    assert good.status_code == 303
    row = await lawyer_profile("lawyer2")
    assert row["licence_no"] == "16207201510654321" and row["specialties"] == "labour,traffic" and row["phone"] == "13909361102"
    audit = await raw("SELECT actor FROM audit_log WHERE action = 'legal_aid.lawyer_updated'")
    assert [a["actor"] for a in audit] == ["dmz_admin"]


async def test_roster_pages_are_scoped(app, client_factory):
    dmz, gzq = await center_id("GZQ-DMZ"), await center_id("GZQ")
    district_lawyer = await lawyer_profile("lawyer")
    township = await client_factory()
    await township.login("dzz_admin")
    # Another township's roster, the district's lawyer profile, a forged id: 404.
    assert (await township.get(f"/m/legal_aid/roster?center_id={dmz}")).status_code == 404
    assert (await township.get(f"/m/legal_aid/roster?center_id={gzq}")).status_code == 404
    assert (await township.get(f"/m/legal_aid/lawyers/{district_lawyer['id']}")).status_code == 404
    assert (await township.get("/m/legal_aid/lawyers/999999")).status_code == 404
    refused = await township.submit("/m/legal_aid/roster/add", {"center_id": str(dmz), "lawyer": str(district_lawyer["id"]),
                                                                 "first": "2030-01-07"})
    assert refused.status_code == 404
    # The district sees its townships; a window clerk has no roster power.
    district = await client_factory()
    await district.login("gzq_admin")
    assert (await district.get(f"/m/legal_aid/roster?center_id={dmz}")).status_code == 200
    clerk = await client_factory()
    await clerk.login("dmz_window")
    assert (await clerk.get("/m/legal_aid/roster")).status_code == 403
