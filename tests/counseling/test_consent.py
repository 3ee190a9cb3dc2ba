"""Informed consent: its own page, the box unticked, the limits of confidentiality and "no diagnosis"
stated, recorded once with time, text version, booking and channel; required for a first session."""

from __future__ import annotations

import re

import pytest

from portal.db import raw
from tests.conftest import html_text
from tests.counseling.helpers import (
    FOLLOW_UP,
    audit_actions,
    book_online,
    booking_with,
    center_id,
    citizen_client,
    staff_client,
    staff_id,
)

from plugins.counseling import consent as cs


def _consent_url(booking) -> str:
    return f"/m/counseling/c/GZQ/consent/{booking['id']}"


async def test_the_consent_page_is_separate_unticked_and_states_the_limits(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    citizen = booking["client"]
    # The engine's booking page leads to it (the service's next step) — and bundles nothing.
    engine_page = await citizen.get(f"/my/bookings/{booking['id']}")
    assert f'href="{_consent_url(booking)}"' in engine_page.text
    page = await citizen.get(_consent_url(booking))
    assert page.status_code == 200
    checkbox = re.search(r'<input type="checkbox" id="agree"[^>]*>', page.text).group(0)
    assert "checked" not in checkbox
    assert page.text.count('type="checkbox"') == 1  # one consent, not several terms in one form
    text = html_text(page)
    for limit in ("自伤、自杀风险", "伤害他人", "未成年人或老年人受到虐待", "法律、法规规定", "不得从事心理治疗或者精神障碍的诊断、治疗",
                  "医疗机构", "版本 2026-11", "12356", "敏感个人信息", "单独同意", "未满十四周岁"):
        assert limit in text, limit
    assert "3 年" in text  # the center's retention period, filled in


async def test_without_the_tick_nothing_is_recorded_and_with_it_time_and_version_are(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    citizen = booking["client"]
    refused = await citizen.submit(_consent_url(booking), {"version": "2026-11"})
    assert refused.status_code == 422
    assert "如您同意，请勾选" in html_text(refused)
    assert await cs.consent_for(booking["id"]) is None
    given = await citizen.submit(_consent_url(booking), {"version": "2026-11", "agree": "1"})
    assert given.status_code == 303
    row = await cs.consent_for(booking["id"])
    assert (row["version"], row["channel"], row["citizen"], row["recorded_by"]) == ("2026-11", "online", citizen.citizen_id, None)
    assert row["consented_at"] is not None
    again = await citizen.submit(_consent_url(booking), {"version": "2026-11", "agree": "1"})
    assert again.status_code == 303
    assert len(await raw("SELECT id FROM counseling_consent WHERE booking = {}", booking["id"])) == 1
    assert len(await audit_actions("counseling.consent_given")) == 1
    shown = html_text(await citizen.get(_consent_url(booking)))
    assert "您已于" in shown and "版本 2026-11" in shown
    room = html_text(await citizen.get("/m/counseling/c/GZQ"))
    assert "已确认知情同意" in room


async def test_a_forged_version_records_the_centers_current_text(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    await booking["client"].submit(_consent_url(booking), {"version": "1999-01", "agree": "1"})
    assert (await cs.consent_for(booking["id"]))["version"] == "2026-11"


async def test_consent_pages_are_404_for_other_citizens_forged_ids_and_the_wrong_center(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    stranger = await citizen_client(client_factory, "13700137001")
    assert (await stranger.get(_consent_url(booking))).status_code == 404
    assert (await stranger.submit(_consent_url(booking), {"agree": "1"})).status_code == 404
    assert await cs.consent_for(booking["id"]) is None
    assert (await booking["client"].get("/m/counseling/c/GZQ/consent/999999")).status_code == 404
    assert (await booking["client"].get(f"/m/counseling/c/GZQ-DZZ/consent/{booking['id']}")).status_code == 404  # module off there
    # A booking of another service (the sample module's) is no counseling booking.
    other = await raw("INSERT INTO booking (code, center, resource, service_key, starts_at, ends_at, citizen, name, phone, note, "
                      "channel, status, created_at, version) SELECT 'ZZZZZZ', center, resource, 'sample_module.consult', starts_at, "
                      "ends_at, citizen, '', phone, '', 'online', 'booked', created_at, 1 FROM booking WHERE id = {} RETURNING id",
                      booking["id"])
    assert (await booking["client"].get(f"/m/counseling/c/GZQ/consent/{other[0]['id']}")).status_code == 404


async def test_the_same_phone_finds_a_booking_staff_made_for_it(app, client_factory):
    """Staff booked for a phone number that had no account yet: signing in with it is enough."""
    from tests.counseling.helpers import at, next_workday, submission_key

    window = await staff_client(client_factory, "gzq_window")
    form = await window.get("/m/counseling/book")
    minute = at(next_workday(3), 9)
    response = await window.submit("/m/counseling/book", {"service": "counseling.first", "slot": str(minute), "name": "阿青",
                                                          "phone": "13600136000", "_submission_key": submission_key(form.text)})
    assert response.status_code == 303
    booking = (await raw("SELECT * FROM booking WHERE name = '阿青'"))[0]
    assert booking["citizen"] is None
    citizen = await citizen_client(client_factory, "13600136000")
    assert (await citizen.get(_consent_url(booking))).status_code == 200
    assert (await citizen.submit(_consent_url(booking), {"agree": "1"})).status_code == 303
    assert (await cs.consent_for(booking["id"]))["citizen"] == citizen.citizen_id


async def test_onsite_consent_on_the_counselors_screen(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    counselor = await staff_client(client_factory, "counselor")
    page = await counselor.get(f"/m/counseling/bookings/{booking['id']}/consent")
    assert page.status_code == 200
    assert "checked" not in re.search(r'<input type="checkbox" id="agree"[^>]*>', page.text).group(0)
    refused = await counselor.submit(f"/m/counseling/bookings/{booking['id']}/consent", {"version": "2026-11"})
    assert refused.status_code == 422
    assert await cs.consent_for(booking["id"]) is None
    for username in ("counselor2", "gzq_admin", "gzq_window"):
        other = await staff_client(client_factory, username)
        assert (await other.get(f"/m/counseling/bookings/{booking['id']}/consent")).status_code == 404
        assert (await other.submit(f"/m/counseling/bookings/{booking['id']}/consent", {"agree": "1"})).status_code == 404
    assert await cs.consent_for(booking["id"]) is None
    given = await counselor.submit(f"/m/counseling/bookings/{booking['id']}/consent", {"version": "2026-11", "agree": "1"})
    assert given.status_code == 303
    row = await cs.consent_for(booking["id"])
    assert (row["channel"], row["recorded_by"]) == ("onsite", await staff_id("counselor"))
    assert "来访者在咨询室确认" in html_text(await counselor.get(f"/m/counseling/bookings/{booking['id']}"))


async def test_a_first_session_requires_consent_a_follow_up_does_not(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    with pytest.raises(cs.ConsentMissing):
        await cs.require_consent(booking)
    follow_up = await book_online(booking["client"], service=FOLLOW_UP, hour=14, minute=30)
    assert await cs.require_consent(follow_up) is None
    await booking["client"].submit(_consent_url(booking), {"agree": "1"})
    assert (await cs.require_consent(booking))["version"] == "2026-11"


async def test_the_consent_keeps_the_version_the_person_read(app, client_factory, monkeypatch):
    """A center switching to a newer text: earlier consents keep theirs, new ones get the new one."""
    booking = await booking_with("counselor", client_factory=client_factory)
    await booking["client"].submit(_consent_url(booking), {"version": "2026-11", "agree": "1"})
    title, sections, agree = cs.TEXTS["2026-11"]
    monkeypatch.setitem(cs.TEXTS, "2027-01", ("心理咨询知情同意书（修订）", sections, agree))
    admin = await staff_client(client_factory, "gzq_admin")
    saved = await admin.submit("/m/counseling/settings", {"retention_days": "1095", "consent_version": "2027-01", "phone": ""})
    assert saved.status_code == 303
    assert (await cs.consent_for(booking["id"]))["version"] == "2026-11"
    shown = html_text(await booking["client"].get(_consent_url(booking)))
    assert "版本 2026-11" in shown and "修订" not in shown
    second = await booking_with("counselor2", phone="13700137002", client_factory=client_factory, days_ahead=4)
    page = html_text(await second["client"].get(_consent_url(second)))
    assert "版本 2027-01" in page and "修订" in page
    await second["client"].submit(_consent_url(second), {"version": "2027-01", "agree": "1"})
    assert (await cs.consent_for(second["id"]))["version"] == "2027-01"
    assert await center_id("GZQ") == (await cs.consent_for(second["id"]))["center"]


async def test_the_first_session_form_is_refused_without_consent(app, client_factory):
    from tests.counseling.case_helpers import open_case, record_session

    booking = await booking_with("counselor", client_factory=client_factory)
    counselor = await staff_client(client_factory, "counselor")
    case_id = await open_case(counselor, booking["id"])
    refused = await record_session(counselor, case_id, expect=422, booking=str(booking["id"]))
    assert "来访者尚未确认知情同意" in html_text(refused)
    assert await raw("SELECT id FROM counseling_session WHERE case_id = {}", case_id) == []
    await booking["client"].submit(_consent_url(booking), {"agree": "1"})
    await record_session(counselor, case_id, booking=str(booking["id"]))
    assert len(await raw("SELECT id FROM counseling_session WHERE case_id = {}", case_id)) == 1


async def test_a_walk_in_case_needs_consent_ticked_on_the_counselors_screen_before_its_first_session(app, client_factory):
    from tests.counseling.case_helpers import (
        NOTE_WORDS, OTHER_COUNSELOR, SUPERVISOR, errors_of, open_case, record_session, setup_counseling,
    )

    await setup_counseling(app)
    counselor = await staff_client(client_factory, "counselor")
    case_id = await open_case(counselor, client_name="小北")  # no booking: a walk-in
    refused = await record_session(counselor, case_id, expect=422)
    assert any("来访者尚未确认知情同意" in e for e in errors_of(refused))
    assert NOTE_WORDS in refused.text  # the notes typed are kept
    assert await raw("SELECT id FROM counseling_session WHERE case_id = {}", case_id) == []
    case_page = await counselor.get(f"/m/counseling/cases/{case_id}")
    assert "尚未记录" in html_text(case_page) and f'href="/m/counseling/cases/{case_id}/consent"' in case_page.text

    # The same text and version, separate, one box, unticked.
    url = f"/m/counseling/cases/{case_id}/consent"
    page = await counselor.get(url)
    assert page.status_code == 200
    assert "checked" not in re.search(r'<input type="checkbox" id="agree"[^>]*>', page.text).group(0)
    assert page.text.count('type="checkbox"') == 1
    text = html_text(page)
    assert "自伤、自杀风险" in text and "版本 2026-11" in text and "不得从事心理治疗或者精神障碍的诊断、治疗" in text
    unticked = await counselor.submit(url, {"version": "2026-11"})
    assert unticked.status_code == 422 and await cs.case_consent_for(case_id) is None

    # Nobody but the case's counselor reaches it; a forged id is 404 too.
    for username in (OTHER_COUNSELOR, SUPERVISOR, "gzq_admin", "gzq_window"):
        other = await staff_client(client_factory, username)
        assert (await other.get(url)).status_code == 404, username
        assert (await other.submit(url, {"version": "2026-11", "agree": "1"})).status_code == 404, username
    assert (await counselor.get("/m/counseling/cases/999999/consent")).status_code == 404
    assert await cs.case_consent_for(case_id) is None

    given = await counselor.submit(url, {"version": "2026-11", "agree": "1"})
    assert given.status_code == 303
    again = await counselor.submit(url, {"version": "2026-11", "agree": "1"})
    assert again.status_code == 303
    rows = await raw("SELECT * FROM counseling_case_consent WHERE case_id = {}", case_id)
    assert len(rows) == 1
    row = rows[0]
    assert (row["version"], row["channel"], row["recorded_by"]) == ("2026-11", "onsite", await staff_id("counselor"))
    assert row["consented_at"] is not None
    assert len(await audit_actions("counseling.consent_given")) == 1
    assert "已于" in html_text(await counselor.get(f"/m/counseling/cases/{case_id}")) and "版本 2026-11" in html_text(
        await counselor.get(f"/m/counseling/cases/{case_id}"))

    await record_session(counselor, case_id)
    assert len(await raw("SELECT id FROM counseling_session WHERE case_id = {}", case_id)) == 1


async def test_consent_on_one_walk_in_case_does_not_count_for_another(app, client_factory):
    from tests.counseling.case_helpers import errors_of, give_case_consent, open_case, record_session, setup_counseling

    await setup_counseling(app)
    counselor = await staff_client(client_factory, "counselor")
    first, second = await open_case(counselor, client_name="小东"), await open_case(counselor, client_name="小西")
    await give_case_consent(counselor, first)
    await record_session(counselor, first)
    refused = await record_session(counselor, second, expect=422)
    assert any("来访者尚未确认知情同意" in e for e in errors_of(refused))
