"""Separation (Done-when 4): a citizen with both a matter at the window and a counseling case.

The window's search, the matter page, every export (each .xlsx/.csv route of the app, and the
calendar feed of the counselor's own bookings), the dashboards, the numbers and the audit pages show
nothing of counseling: no pseudonym, no note, no counseling link. The only thing that may cross is
the fact "已转介心理咨询" on the matter's timeline, and only when the counselor confirms the citizen
agreed.
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from litestar.routes import HTTPRoute

from portal.db import raw
from portal.matters.codes import format_code
from tests.conftest import html_text
from tests.core.matters.helpers import register_at_window
from tests.counseling.case_helpers import (
    NOTE_WORDS, PHONE, PLAN_WORDS, PSEUDONYM, case_with_notes, errors_of, resource_of, setup_counseling,
)

REFERRED = "已转介心理咨询"


def _leaks(body: str, booking_code: str) -> list[str]:
    markers = (PSEUDONYM, NOTE_WORDS, PLAN_WORDS, "失眠", booking_code, "/m/counseling/cases/", "/m/counseling/review/", "咨询记录")
    return [m for m in markers if m in body]


def _text_of(content: bytes, content_type: str) -> str:
    if content[:2] == b"PK":  # xlsx: every XML part of the workbook
        with zipfile.ZipFile(io.BytesIO(content)) as book:
            return " ".join(book.read(name).decode("utf-8", "replace") for name in book.namelist())
    return content.decode("utf-8", "replace")


@pytest.fixture
async def citizen(app, client_factory):
    """A matter registered at the window and, for the same phone, a counseling case with notes."""
    await setup_counseling(app)
    window = await client_factory()
    await window.login("gzq_window")
    matter = await register_at_window(window, petitioner_phone=PHONE)
    counselor = await client_factory()
    await counselor.login("counselor")
    case_id, booking = await case_with_notes(counselor)
    return {"window": window, "counselor": counselor, "matter": matter, "case_id": case_id, "booking": booking}


async def test_the_window_search_and_the_matter_show_nothing_of_counseling(app, citizen, client_factory):
    window, matter, code = citizen["window"], citizen["matter"], citizen["booking"]["code"]
    by_phone = await window.get("/matters", params={"q": PHONE})
    assert by_phone.status_code == 200 and not _leaks(by_phone.text, code)
    by_code = await window.get("/matters", params={"q": format_code(matter["code"])})
    assert by_code.status_code == 200 and f"/matters/{matter['id']}" in by_code.text
    assert not _leaks(by_code.text, code)
    for username in ("gzq_window", "gzq_admin", "leader"):
        staff = await client_factory()
        await staff.login(username)
        for url in ("/matters", f"/matters/{matter['id']}", "/dashboard", "/numbers"):
            response = await staff.get(url)
            assert response.status_code == 200, (username, url)
            assert not _leaks(response.text, code), (username, url, _leaks(response.text, code))
        assert REFERRED not in (await staff.get(f"/matters/{matter['id']}")).text


async def test_no_export_holds_a_counseling_record(app, citizen, client_factory):
    code = citizen["booking"]["code"]
    exports = sorted({path for route in app.routes if isinstance(route, HTTPRoute)
                      for path in [route.path] if path.endswith((".xlsx", ".csv")) and "{" not in path})
    assert "/m/checkin/board.xlsx" in exports  # the list is the app's own, so a new export joins this test by itself
    checked = 0
    for username in ("gzq_admin", "leader", "gzq_window", "auditor", "sysadmin"):
        staff = await client_factory()
        await staff.login(username)
        for url in exports:
            response = await staff.get(url)
            if response.status_code != 200:
                continue
            checked += 1
            assert not _leaks(_text_of(response.content, response.headers.get("content-type", "")), code), (username, url)
        audit = await staff.get("/audit", params={"action": "counseling."})
        if audit.status_code == 200:
            assert "counseling.session_recorded" in audit.text  # the audit log records what was done…
            assert not _leaks(audit.text, code) and PHONE not in audit.text  # …without names, notes or phones
    assert checked

    # The counselor's own calendar feed: times and codes of the appointments, nothing about the client.
    admin = await client_factory()
    await admin.login("gzq_admin")
    resource = await resource_of("counselor")
    made = await admin.submit(f"/admin/booking-resources/{resource}/feed", {})
    assert made.status_code in (200, 303)
    feed_page = await admin.get(f"/admin/booking-resources/{resource}")
    token = re.search(r"/bookings/feed/([A-Za-z0-9_-]{20,})", feed_page.text)
    if token:
        feed = await admin.get(f"/bookings/feed/{token.group(1)}.ics")
        assert feed.status_code == 200
        assert PSEUDONYM not in feed.text and PHONE not in feed.text and NOTE_WORDS not in feed.text


async def test_the_matter_carries_the_referral_only_with_the_citizens_agreement(app, citizen):
    counselor, case_id, matter = citizen["counselor"], citizen["case_id"], citizen["matter"]
    url = f"/m/counseling/cases/{case_id}/inform"
    events = await raw("SELECT count(*) AS n FROM matter_event WHERE matter = {}", matter["id"])

    not_agreed = await counselor.submit(url, {"code": format_code(matter["code"])})
    assert not_agreed.status_code == 422 and "仅在来访者同意事项中显示转介时勾选。" in errors_of(not_agreed)
    forged = await counselor.submit(url, {"code": "ABCD-EFGH-JKLM", "agreed": "1"})
    assert forged.status_code == 422 and errors_of(forged)
    assert await raw("SELECT count(*) AS n FROM matter_event WHERE matter = {}", matter["id"]) == events

    told = await counselor.submit(url, {"code": matter["code"].lower(), "agreed": "1"})
    assert told.status_code == 303
    rows = await raw("SELECT * FROM matter_event WHERE matter = {} ORDER BY id DESC LIMIT 1", matter["id"])
    assert rows[0]["kind"] == "note" and rows[0]["note"] == REFERRED and not rows[0]["public"]
    assert rows[0]["actor_label"] == "心理咨询室"
    again = await counselor.submit(url, {"code": matter["code"], "agreed": "1"})
    assert again.status_code == 422 and "已告知" in " ".join(errors_of(again))
    assert len(await raw("SELECT id FROM matter_event WHERE matter = {} AND note = {}", matter["id"], REFERRED)) == 1

    # The window sees the fact and nothing else: no name, time, counselor or content.
    page = await citizen["window"].get(f"/matters/{matter['id']}")
    assert REFERRED in html_text(page)
    assert not _leaks(page.text, citizen["booking"]["code"]) and "心理咨询师（演示）" not in page.text
    # The counselor's case page records that the matter was told.
    assert format_code(matter["code"]) in html_text(await counselor.get(f"/m/counseling/cases/{case_id}"))
