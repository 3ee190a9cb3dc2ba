"""Cases and session notes: written by the counselor, encrypted at rest, readable by their author only.

Done-when 2 (no plaintext in the database; a changed key fails loudly) and the 404 matrix: another
counselor, a supervisor without a reason, the center admin, the district admin, window staff, the
leader and the auditor get 404 on every page of a case, and so does anyone for a forged id.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from portal import clock
from portal.app import create_app
from portal.db import bind_engine, raw
from tests.conftest import html_text
from tests.counseling.case_helpers import (
    NOTE_WORDS, OTHER_COUNSELOR, PHONE, PLAN_WORDS, PSEUDONYM, SUPERVISOR, audit_rows, case_with_notes, errors_of, give_case_consent,
    make_booking, open_case, record_session, session_data, setup_counseling, submission_key,
)

from plugins.counseling.notes_crypto import MISMATCH, CounselingKeyError


@pytest.fixture
async def counselor(app, client_factory):
    await setup_counseling(app)
    client = await client_factory()
    await client.login("counselor")
    return client


async def test_the_counselor_writes_notes_that_the_database_holds_only_encrypted(app, counselor):
    case_id, booking = await case_with_notes(counselor)
    page = await counselor.get(f"/m/counseling/cases/{case_id}")
    assert page.status_code == 200
    text = html_text(page)
    for shown in (NOTE_WORDS, PLAN_WORDS, PSEUDONYM, "丧失与哀伤", "家庭关系", "低风险", PHONE):
        assert shown in text, shown

    # The raw rows: ciphertexts with the key id beside them, no plaintext at all.
    session = (await raw("SELECT * FROM counseling_session WHERE case_id = {}", case_id))[0]
    case = (await raw("SELECT * FROM counseling_case WHERE id = {}", case_id))[0]
    assert session["notes"].startswith("k1:") and case["client_label"].startswith("k1:")
    dump = " ".join(str(value) for row in (session, case) for value in row.values())
    for secret in (NOTE_WORDS, "失眠", PLAN_WORDS, "哀伤", "grief", "family", "low", PSEUDONYM):
        assert secret not in dump, secret
    # Same text twice gives two different ciphertexts (random nonce): equal notes are not visible as such.
    await record_session(counselor, case_id, kind="follow_up")
    first, second = [r["notes"] for r in await raw("SELECT notes FROM counseling_session WHERE case_id = {} ORDER BY id", case_id)]
    assert first != second
    assert (await raw("SELECT sessions FROM counseling_case WHERE id = {}", case_id))[0]["sessions"] == 2
    # The plain columns are what the numbers count.
    assert session["kind"] == "first" and session["attendance"] == "attended" and session["booking"] == booking["id"]


async def test_every_reading_of_a_case_is_audited(app, counselor):
    case_id, _booking = await case_with_notes(counselor)
    before = len(await audit_rows("counseling.case_read", case_id))
    await counselor.get(f"/m/counseling/cases/{case_id}")
    await counselor.get(f"/m/counseling/cases/{case_id}")
    rows = await audit_rows("counseling.case_read", case_id)
    assert len(rows) == before + 2
    assert rows[-1]["actor"] == "counselor" and rows[-1]["object_type"] == "counseling_case"
    # The audit text holds no note and no name.
    assert all(NOTE_WORDS not in str(r) and PSEUDONYM not in str(r) for r in await raw("SELECT * FROM audit_log"))


PAGES = ("", "/sessions/new", "/referrals/new")


def _flatten(error: BaseException) -> list[BaseException]:
    """The exception and those it groups (the start-up runs in a task group)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _flatten(inner)]
    return [error]


async def test_nobody_but_the_author_finds_the_case(app, counselor, client_factory):
    case_id, _booking = await case_with_notes(counselor)
    session_id = (await raw("SELECT id FROM counseling_session WHERE case_id = {}", case_id))[0]["id"]
    urls = [f"/m/counseling/cases/{case_id}{page}" for page in PAGES]
    urls.append(f"/m/counseling/cases/{case_id}/sessions/{session_id}/edit")
    reads = len(await audit_rows("counseling.case_read", case_id))
    for username in (OTHER_COUNSELOR, SUPERVISOR, "gzq_admin", "dmz_admin", "gzq_window", "leader", "auditor", "sysadmin"):
        other = await client_factory()
        await other.login(username)
        for url in urls:
            response = await other.get(url)
            assert response.status_code == 404, (username, url, response.status_code)
            assert NOTE_WORDS not in response.text and PSEUDONYM not in response.text
        for url in (f"/m/counseling/cases/{case_id}/sessions/new", f"/m/counseling/cases/{case_id}/referrals/new",
                    f"/m/counseling/cases/{case_id}/inform", f"/m/counseling/cases/{case_id}/sessions/{session_id}/edit"):
            response = await other.submit(url, session_data(institution="x", reason="y", referred_on="2026-01-01",
                                                            agreed="yes", code="x", version="1"))
            assert response.status_code == 404, (username, url, response.status_code)
        lists = await other.get("/m/counseling/cases")
        assert lists.status_code == 404 if username not in (OTHER_COUNSELOR, SUPERVISOR) else lists.status_code == 200
        assert PSEUDONYM not in lists.text
    assert len(await audit_rows("counseling.case_read", case_id)) == reads  # nobody read anything
    assert len(await raw("SELECT id FROM counseling_session WHERE case_id = {}", case_id)) == 1  # nothing written

    # Forged ids answer 404 to the author too, and a session of another case cannot be reached through this one.
    other_case = await open_case(counselor, client_name="另一位来访者")
    for url in ("/m/counseling/cases/999999", "/m/counseling/cases/999999/sessions/new", "/m/counseling/cases/abc",
                f"/m/counseling/cases/{other_case}/sessions/{session_id}/edit", f"/m/counseling/cases/{case_id}/sessions/999999/edit"):
        assert (await counselor.get(url)).status_code == 404, url


async def test_the_case_list_shows_only_the_counselors_own_cases(app, counselor, client_factory):
    case_id, _booking = await case_with_notes(counselor)
    own = await counselor.get("/m/counseling/cases")
    assert own.status_code == 200 and PSEUDONYM in own.text and f"/m/counseling/cases/{case_id}" in own.text
    other = await client_factory()
    await other.login(OTHER_COUNSELOR)
    theirs = await other.get("/m/counseling/cases")
    assert theirs.status_code == 200 and f"/m/counseling/cases/{case_id}\"" not in theirs.text and PSEUDONYM not in theirs.text


async def test_only_the_counselors_own_unlinked_appointments_open_a_case(app, counselor):
    mine = await make_booking()
    theirs = await make_booking(OTHER_COUNSELOR, name="别人的来访者", phone="13912340088")
    form = await counselor.get("/m/counseling/cases/new")
    assert PSEUDONYM in form.text and "别人的来访者" not in form.text
    key = submission_key(form.text)
    refused = await counselor.submit("/m/counseling/cases/new", {"booking": str(theirs["id"]), "client": "", "_submission_key": key})
    assert refused.status_code == 422 and "请从列表中选择您本人的心理咨询预约。" in errors_of(refused)
    empty = await counselor.submit("/m/counseling/cases/new", {"booking": "", "client": "", "_submission_key": key})
    assert empty.status_code == 422 and errors_of(empty)
    # A double click opens one case.
    first = await counselor.submit("/m/counseling/cases/new", {"booking": str(mine["id"]), "client": "", "_submission_key": key})
    again = await counselor.submit("/m/counseling/cases/new", {"booking": str(mine["id"]), "client": "", "_submission_key": key})
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(await raw("SELECT id FROM counseling_case WHERE booking = {}", mine["id"])) == 1
    # The same client (same phone) booking again: record it in the existing case, not a second one.
    follow = await make_booking(service="counseling.follow_up")
    offered = await counselor.get(f"/m/counseling/cases/new?booking={follow['id']}")
    case_id = int(first.headers["location"].rsplit("/", 1)[1])
    assert f'href="/m/counseling/cases/{case_id}/sessions/new?booking={follow["id"]}"' in offered.text
    form = await counselor.get("/m/counseling/cases/new")
    second = await counselor.submit("/m/counseling/cases/new", {"booking": str(follow["id"]), "client": "",
                                                                 "_submission_key": submission_key(form.text)})
    assert second.status_code == 422 and "已有个案" in " ".join(errors_of(second))


async def test_bad_session_input_is_refused_with_the_input_kept(app, counselor):
    case_id = await open_case(counselor, client_name="小北")
    future = (clock.local(clock.now()) + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    cases = [
        ({"held_at": "2026-13-45 25:00"}, "请按 2026-11-27 14:30 的格式填写日期和时间。"),
        ({"held_at": future}, "咨询记录在咨询之后填写：时间不能晚于现在。"),
        ({"duration": "0"}, "请填写咨询时长（分钟），5 至 480。"),
        ({"kind": "diagnosis"}, "请选择咨询类型。"),
        ({"risk": ""}, "请选择您评估的风险（未见、低或高）。"),
        ({"topics": ["depression"]}, "请从列表中选择话题。"),
    ]
    for change, message in cases:
        response = await record_session(counselor, case_id, expect=422, **change)
        assert message in errors_of(response), (change, errors_of(response))
        assert NOTE_WORDS in response.text  # what was typed comes back
    assert not await raw("SELECT id FROM counseling_session WHERE case_id = {}", case_id)
    # A no-show needs no risk assessment.
    await record_session(counselor, case_id, attendance="no_show", risk="", notes="", plan="", topics=[])
    # The same form sent twice records one session.
    form = await counselor.get(f"/m/counseling/cases/{case_id}/sessions/new")
    data = {**session_data(kind="follow_up"), "_submission_key": submission_key(form.text)}
    for _ in range(2):
        assert (await counselor.submit(f"/m/counseling/cases/{case_id}/sessions/new", data)).status_code == 303
    assert len(await raw("SELECT id FROM counseling_session WHERE case_id = {}", case_id)) == 2


async def test_no_diagnosis_field_only_a_referral(app, counselor):
    case_id, _booking = await case_with_notes(counselor)
    form = await counselor.get(f"/m/counseling/cases/{case_id}/sessions/new")
    fields = set(re.findall(r'name="([a-z_]+)"', form.text))
    assert fields >= {"held_at", "kind", "attendance", "topics", "risk", "notes", "plan"}
    assert not any("diagnos" in f or "disorder" in f for f in fields)
    page = await counselor.get(f"/m/counseling/cases/{case_id}/referrals/new")
    key = submission_key(page.text)
    bad = await counselor.submit(f"/m/counseling/cases/{case_id}/referrals/new", {
        "institution": "", "reason": "", "referred_on": "2099-01-01", "agreed": "", "_submission_key": key})
    assert bad.status_code == 422 and len(errors_of(bad)) == 4
    today = clock.local(clock.now()).strftime("%Y-%m-%d")
    good = {"institution": "甘州区人民医院精神科", "reason": "持续失眠伴明显情绪低落两月", "referred_on": today, "agreed": "yes",
            "_submission_key": key}
    assert (await counselor.submit(f"/m/counseling/cases/{case_id}/referrals/new", good)).status_code == 303
    assert (await counselor.submit(f"/m/counseling/cases/{case_id}/referrals/new", good)).status_code == 303  # double click
    rows = await raw("SELECT * FROM counseling_referral WHERE case_id = {}", case_id)
    assert len(rows) == 1 and rows[0]["client_agreed"] and "精神科" not in rows[0]["details"] and "失眠" not in rows[0]["details"]
    assert "甘州区人民医院精神科" in html_text(await counselor.get(f"/m/counseling/cases/{case_id}"))
    for table in ("counseling_session", "counseling_case", "counseling_referral"):
        columns = set(dict((await raw(f"SELECT * FROM {table} LIMIT 1"))[0]))
        assert not any("diagnos" in c or "disorder" in c for c in columns), table


async def test_the_author_edits_a_record_and_a_stale_form_is_refused(app, counselor):
    case_id, _booking = await case_with_notes(counselor)
    session = (await raw("SELECT * FROM counseling_session WHERE case_id = {}", case_id))[0]
    url = f"/m/counseling/cases/{case_id}/sessions/{session['id']}/edit"
    form = await counselor.get(url)
    assert form.status_code == 200 and NOTE_WORDS in form.text
    changed = session_data(booking=str(session["booking"]), notes="补充：来访者愿意尝试规律作息", risk="high", version=str(session["version"]))
    response = await counselor.submit(url, changed)
    assert response.status_code == 303
    stale = await counselor.submit(url, {**changed, "notes": "过时的版本"})
    assert stale.status_code == 422 and "另一窗口" in " ".join(errors_of(stale))
    page = html_text(await counselor.get(f"/m/counseling/cases/{case_id}"))
    assert "补充：来访者愿意尝试规律作息" in page and "高风险" in page and "过时的版本" not in page


async def test_a_changed_key_stops_the_start_and_the_pages_instead_of_showing_garbage(app, counselor, settings):
    case_id, _booking = await case_with_notes(counselor)
    # Another process started with another key: it refuses to start, saying how to migrate.
    stranger = create_app(settings.replace(counseling_key="a-completely-different-key-0123456789abcdef"))
    with pytest.raises(BaseException) as refused:
        async with stranger.lifespan():
            pass
    assert [str(e) for e in _flatten(refused.value) if isinstance(e, CounselingKeyError)] == [MISMATCH]
    assert "portal counseling rotate-key --old" in MISMATCH
    bind_engine(app.state.engine)  # the refused app had taken over Piccolo's engine binding

    # A running process whose key no longer matches the stored fingerprint (rotated elsewhere):
    # a Chinese explanation, no notes, nothing empty pretending to be the notes.
    await raw("UPDATE counseling_keyring SET fingerprint = {} WHERE slot = 'notes'", "0" * 64)
    for url in (f"/m/counseling/cases/{case_id}", "/m/counseling/cases"):
        page = await counselor.get(url)
        assert page.status_code == 503, url
        assert "PORTAL_COUNSELING_KEY" in page.text and "portal counseling rotate-key" in page.text
        assert NOTE_WORDS not in page.text and PSEUDONYM not in page.text
    form = await counselor.get(f"/m/counseling/cases/{case_id}/sessions/new")
    refused_write = await counselor.submit(f"/m/counseling/cases/{case_id}/sessions/new",
                                           {**session_data(), "_submission_key": submission_key(form.text)})
    assert refused_write.status_code == 503
    assert len(await raw("SELECT id FROM counseling_session WHERE case_id = {}", case_id)) == 1


async def test_a_note_moved_into_another_case_does_not_decrypt(app, counselor):
    case_id, _booking = await case_with_notes(counselor)
    other = await open_case(counselor, client_name="小南")
    await give_case_consent(counselor, other)
    await record_session(counselor, other, notes="另一个个案的记录")
    stolen = (await raw("SELECT notes FROM counseling_session WHERE case_id = {}", case_id))[0]["notes"]
    await raw("UPDATE counseling_session SET notes = {} WHERE case_id = {}", stolen, other)
    page = await counselor.get(f"/m/counseling/cases/{other}")
    assert page.status_code == 503 and NOTE_WORDS not in page.text
