"""Counselors as booking resources, pseudonymous booking through the engine, booking on someone's
behalf, discreet messages, and the center's counseling settings."""

from __future__ import annotations

import re

from portal.db import raw
from tests.conftest import html_text
from tests.counseling.helpers import (
    CITIZEN_PHONE,
    FIRST,
    PSEUDONYM,
    at,
    book_online,
    booking_with,
    center_id,
    citizen_client,
    next_workday,
    outbox,
    resource_of,
    sms_to,
    staff_client,
    staff_id,
    submission_key,
)

from plugins.counseling.booking import is_supervisor, load_settings

REVEALING = ("心理", "咨询", "辅导", "心理咨询师", "督导")


async def test_services_are_offered_with_counselors_as_resources(app, client):
    cid = await center_id("GZQ")
    page = html_text(await client.get(f"/book/{cid}"))
    assert "首次咨询" in page and "后续咨询" in page and "团体辅导" in page
    rows = await raw("SELECT r.role, s.service_key FROM booking_resource r JOIN booking_resource_service s ON s.resource = r.id "
                     "WHERE r.staff = {}", await staff_id("counselor"))
    assert {r["service_key"] for r in rows} == {"counseling.first", "counseling.follow_up", "counseling.group"}
    assert {r["role"] for r in rows} == {"counselor"}
    # Where the module is off, the services are not offered and the room page does not exist.
    other = await center_id("GZQ-DZZ")
    assert "首次咨询" not in html_text(await client.get(f"/book/{other}"))
    assert (await client.get("/m/counseling/c/GZQ-DZZ")).status_code == 404


async def test_the_centers_public_page_offers_counseling_with_a_confidentiality_note(app, client):
    page = html_text(await client.get("/c/GZQ"))
    assert "心理咨询预约" in page and "可用化名预约" in page and "保密" in page
    room = await client.get("/m/counseling/c/GZQ")
    assert room.status_code == 200
    text = html_text(room)
    assert "12356" in text and "不诊断" in text and "只需手机号码" in text
    assert f'href="/book/{await center_id("GZQ")}/counseling.first"' in room.text
    assert "心理咨询预约" not in html_text(await client.get("/c/GZQ-DZZ"))


async def test_pseudonymous_booking_through_the_engine_with_a_discreet_sms(app, client_factory):
    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    cid = await center_id("GZQ")
    minute = at(next_workday(2), 9)
    check = await citizen.get(f"/book/{cid}/{FIRST}/check", params={"slot": str(minute)})
    assert 'name="name"' in check.text and "化名" in html_text(check)
    booking = await book_online(citizen, name=PSEUDONYM)
    assert (booking["name"], booking["phone"], booking["citizen"], booking["service_key"]) == (
        PSEUDONYM, CITIZEN_PHONE, citizen.citizen_id, FIRST)
    assert booking["resource"] in {await resource_of("counselor"), await resource_of("counselor2")}
    sms = await sms_to(CITIZEN_PHONE)
    assert len(sms) == 1
    assert "中心预约" in sms[0]["body"] and booking["code"] in sms[0]["body"]
    for word in REVEALING + ("心理咨询师（演示）",):
        assert word not in sms[0]["body"]
    inapp = await raw("SELECT body FROM outbox WHERE channel = 'inapp' AND citizen = {}", citizen.citizen_id)
    assert inapp and all(word not in m["body"] for m in inapp for word in REVEALING)
    ics = await citizen.get(f"/my/bookings/{booking['id']}/booking.ics")
    assert "SUMMARY:中心预约" in ics.text and "咨询" not in ics.text
    # Cancelling is worded as discreetly.
    await citizen.submit(f"/my/bookings/{booking['id']}/cancel", {"reason": "临时有事"})
    cancelled = await sms_to(CITIZEN_PHONE)
    assert len(cancelled) == 2 and all(word not in cancelled[1]["body"] for word in REVEALING)


async def test_a_name_is_kept_only_for_services_that_allow_a_pseudonym(app, client_factory):
    """The engine ignores a name posted for an ordinary service (only ``anonymous_allowed`` ones take it)."""
    from tests.core.bookings.helpers import CONSULT, add_resource, enable_sample

    center = await enable_sample(app, "GZQ")
    await add_resource(center["id"], hours=((9 * 60, 12 * 60),))
    citizen = await citizen_client(client_factory, "13700137003")
    minute = at(next_workday(2), 9)
    check = await citizen.get(f"/book/{center['id']}/{CONSULT}/check", params={"slot": str(minute)})
    assert 'name="name"' not in check.text
    response = await citizen.submit(f"/book/{center['id']}/{CONSULT}/confirm", {
        "slot": str(minute), "name": "伪造", "_submission_key": submission_key(check.text)})
    assert response.status_code == 303
    assert (await raw("SELECT name FROM booking WHERE citizen = {}", citizen.citizen_id))[0]["name"] == ""


async def test_staff_book_on_someones_behalf_with_a_pseudonym_and_a_phone(app, client_factory):
    window = await staff_client(client_factory, "gzq_window")
    form = await window.get("/m/counseling/book")
    assert form.status_code == 200
    minute = at(next_workday(2), 14, 30)
    data = {"service": FIRST, "slot": str(minute), "name": "", "phone": "1380013", "_submission_key": submission_key(form.text)}
    invalid = await window.submit("/m/counseling/book", data)
    assert invalid.status_code == 422
    text = html_text(invalid)
    assert "请输入对来访者的称呼" in text and "请输入 11 位手机号码" in text
    assert 'value="1380013"' in invalid.text and re.search(rf'value="{minute}" id="[^"]+" checked', invalid.text)
    data.update(name="阿明", phone="138 0013 8999")
    done = await window.submit("/m/counseling/book", data)
    again = await window.submit("/m/counseling/book", data)
    assert done.status_code == again.status_code == 303
    rows = await raw("SELECT * FROM booking WHERE name = '阿明'")
    assert len(rows) == 1
    assert (rows[0]["phone"], rows[0]["service_key"]) == ("13800138999", FIRST)
    assert done.headers["location"] == f"/bookings/{rows[0]['id']}"
    sms = await sms_to("13800138999")
    assert len(sms) == 1 and all(word not in sms[0]["body"] for word in REVEALING)
    audit = await raw("SELECT actor_id FROM audit_log WHERE action = 'booking.booked' AND object_id = {}", str(rows[0]["id"]))
    assert audit[0]["actor_id"] == await staff_id("gzq_window")


async def test_a_taken_slot_comes_back_on_the_form(app, client_factory):
    window = await staff_client(client_factory, "gzq_window")
    minute = at(next_workday(2), 9)
    for name, phone in (("甲", "13800138001"), ("乙", "13800138002")):
        form = await window.get("/m/counseling/book")
        response = await window.submit("/m/counseling/book", {"service": FIRST, "slot": str(minute), "name": name, "phone": phone,
                                                              "_submission_key": submission_key(form.text)})
        assert response.status_code == 303
    form = await window.get("/m/counseling/book")
    full = await window.submit("/m/counseling/book", {"service": FIRST, "slot": str(minute), "name": "丙", "phone": "13800138003",
                                                      "_submission_key": submission_key(form.text)})
    assert full.status_code == 409
    assert "该时段刚被约满" in html_text(full) and 'value="丙"' in full.text


async def test_booking_for_others_needs_the_permission(app, client_factory):
    for username, status in (("counselor", 403), ("leader", 403), ("gzq_admin", 200), ("dzz_window", 404)):
        staff = await staff_client(client_factory, username)
        assert (await staff.get("/m/counseling/book")).status_code == status, username


async def test_the_counselor_sees_own_bookings_only(app, client_factory):
    mine = await booking_with("counselor", client_factory=client_factory)
    theirs = await booking_with("counselor2", phone="13700137004", client_factory=client_factory, days_ahead=4)
    counselor = await staff_client(client_factory, "counselor")
    page = await counselor.get("/m/counseling/bookings")
    assert page.status_code == 200
    assert f"/m/counseling/bookings/{mine['id']}" in page.text
    assert f"/m/counseling/bookings/{theirs['id']}" not in page.text
    own = await counselor.get(f"/m/counseling/bookings/{mine['id']}")
    assert f'href="/m/counseling/cases/new?booking={mine["id"]}"' in own.text  # the notes side takes over from here
    assert (await counselor.get(f"/m/counseling/bookings/{theirs['id']}")).status_code == 404
    assert (await counselor.get("/m/counseling/bookings/999999")).status_code == 404
    for username in ("gzq_admin", "gzq_window", "leader"):
        staff = await staff_client(client_factory, username)
        assert (await staff.get("/m/counseling/bookings")).status_code == 404, username


# ----------------------------------------------------------------------------- settings


async def test_settings_make_a_counselor_bookable_with_the_engines_hours(app, client_factory):
    admin = await staff_client(client_factory, "gzq_admin")
    sup = await staff_id("counselor_sup")
    assert not await raw("SELECT id FROM booking_resource WHERE staff = {}", sup)
    page = await admin.get("/m/counseling/settings")
    assert page.status_code == 200 and f"/m/counseling/settings/counselors/{sup}/resource" in page.text
    response = await admin.submit(f"/m/counseling/settings/counselors/{sup}/resource")
    assert response.status_code == 303
    resource = (await raw("SELECT * FROM booking_resource WHERE staff = {}", sup))[0]
    assert response.headers["location"] == f"/admin/booking-resources/{resource['id']}"
    assert resource["role"] == "counselor" and resource["center"] == await center_id("GZQ")
    again = await admin.submit(f"/m/counseling/settings/counselors/{sup}/resource")
    assert again.headers["location"] == response.headers["location"]
    assert len(await raw("SELECT id FROM booking_resource WHERE staff = {}", sup)) == 1
    # Not a counselor, or not of this center: 404.
    assert (await admin.submit(f"/m/counseling/settings/counselors/{await staff_id('gzq_window')}/resource")).status_code == 404
    dmz = await staff_client(client_factory, "dmz_admin")
    assert (await dmz.submit(f"/m/counseling/settings/counselors/{await staff_id('counselor2')}/resource")).status_code == 404


async def test_supervision_is_a_designation_not_a_role(app, client_factory):
    admin = await staff_client(client_factory, "gzq_admin")
    counselor = await staff_client(client_factory, "counselor")
    assert (await counselor.get("/m/counseling/settings")).status_code == 403

    c2 = await staff_id("counselor2")
    sup = await staff_id("counselor_sup")
    response = await admin.submit("/m/counseling/settings/supervisors", {"supervisor": [str(c2), str(await staff_id("gzq_window"))]})
    assert response.status_code == 303
    rows = await raw("SELECT staff FROM counseling_supervisor WHERE center = {}", await center_id("GZQ"))
    assert {r["staff"] for r in rows} == {c2}  # counselor_sup undesignated, window staff ignored
    actions = [a["action"] for a in await raw("SELECT action FROM audit_log WHERE action LIKE 'counseling.supervisor_%' ORDER BY seq")]
    assert actions[-2:] in (["counseling.supervisor_added", "counseling.supervisor_removed"],
                            ["counseling.supervisor_removed", "counseling.supervisor_added"])
    assert sup not in {r["staff"] for r in rows}


async def test_is_supervisor_checks_the_permission_and_the_designation(app):
    from dataclasses import dataclass

    @dataclass
    class Who:
        user_id: int
        center_id: int
        permissions: frozenset

        def can(self, permission):
            return permission in self.permissions

    gzq = await center_id("GZQ")
    supervise = frozenset({"counseling.supervise"})
    assert await is_supervisor(Who(await staff_id("counselor_sup"), gzq, supervise))
    assert not await is_supervisor(Who(await staff_id("counselor"), gzq, supervise))  # not designated
    assert not await is_supervisor(Who(await staff_id("counselor_sup"), gzq, frozenset()))  # no permission
    assert not await is_supervisor(Who(await staff_id("counselor_sup"), await center_id("GZQ-DMZ"), supervise))


async def test_crisis_contacts_need_a_mobile_and_a_staff_member_of_the_center(app, client_factory):
    admin = await staff_client(client_factory, "gzq_admin")
    bad = await admin.submit("/m/counseling/settings/contacts", {"contact": str(await staff_id("dmz_admin")), "contact_phone": "123"})
    assert bad.status_code == 422
    text = html_text(bad)
    assert "请选择本中心的工作人员" in text and "请输入危机联系人的 11 位手机号码" in text
    assert 'value="123"' in bad.text
    leader = await staff_id("leader")
    ok = await admin.submit("/m/counseling/settings/contacts", {"contact": str(leader), "contact_phone": "13900000001"})
    assert ok.status_code == 303
    rows = await raw("SELECT * FROM counseling_crisis_contact WHERE staff = {}", leader)
    assert rows[0]["phone"] == "13900000001"
    # No mobile given and none on the account: refused.
    none = await admin.submit("/m/counseling/settings/contacts", {"contact": str(await staff_id("gzq_window")), "contact_phone": ""})
    assert none.status_code == 422
    removed = await admin.submit(f"/m/counseling/settings/contacts/{rows[0]['id']}/delete")
    assert removed.status_code == 303
    assert not await raw("SELECT id FROM counseling_crisis_contact WHERE staff = {}", leader)
    demo_contact = (await raw("SELECT id FROM counseling_crisis_contact WHERE staff = {}", await staff_id("crisis_duty")))[0]["id"]
    dmz = await staff_client(client_factory, "dmz_admin")
    assert (await dmz.submit(f"/m/counseling/settings/contacts/{demo_contact}/delete")).status_code == 404


async def test_retention_consent_version_and_phone_are_validated_and_kept(app, client_factory):
    admin = await staff_client(client_factory, "gzq_admin")
    gzq = await center_id("GZQ")
    assert (await load_settings(gzq))["retention_days"] == 1095
    bad = await admin.submit("/m/counseling/settings", {"retention_days": "0", "consent_version": "x", "phone": "abc"})
    assert bad.status_code == 422
    text = html_text(bad)
    assert "请输入天数，1 至 36500" in text and "请从列表中选择知情同意书版本" in text and "请输入手机号码或固定电话" in text
    assert 'value="abc"' in bad.text
    ok = await admin.submit("/m/counseling/settings", {"retention_days": "1825", "consent_version": "2026-11", "phone": "0936-8212999"})
    assert ok.status_code == 303
    settings = await load_settings(gzq)
    assert (settings["retention_days"], settings["phone"], settings["contact_phone"]) == (1825, "0936-8212999", "0936-8212999")
    assert 'value="1825"' in (await admin.get("/m/counseling/settings")).text


async def test_nothing_of_counseling_appears_at_a_center_without_the_module(app, client_factory):
    dzz = await staff_client(client_factory, "dzz_admin")
    assert (await dzz.get("/m/counseling/settings")).status_code == 404
    dashboard = await dzz.get("/dashboard")
    assert "心理咨询" not in html_text(dashboard)
    assert await outbox(kind="counseling_crisis") == []
