"""Supervisor review: only a designated supervisor, only after a reason (≥ 10 characters), audited
and shown to the counselor; the reason opens the case for 2 hours, then a new reason is needed."""

from __future__ import annotations

import re

import pytest

from portal import clock
from portal.db import raw
from tests.conftest import html_text
from tests.counseling.case_helpers import (
    NOTE_WORDS, OTHER_COUNSELOR, PHONE, PSEUDONYM, SUPERVISOR, audit_rows, case_with_notes, designate, errors_of,
    setup_counseling, staff_id, submission_key, undesignate,
)

REASON = "月度督导会个案讨论（咨询师申请督导）"


@pytest.fixture
async def case(app, client_factory):
    await setup_counseling(app)
    client = await client_factory()
    await client.login("counselor")
    case_id, _booking = await case_with_notes(client)
    return client, case_id


async def _supervisor(client_factory, username: str = SUPERVISOR):
    client = await client_factory()
    await client.login(username)
    return client


async def give_reason(client, case_id: int, reason: str = REASON, expect: int = 303):
    form = await client.get(f"/m/counseling/review/{case_id}")
    assert form.status_code == 200, form.status_code
    response = await client.submit(f"/m/counseling/review/{case_id}", {"reason": reason, "_submission_key": submission_key(form.text)})
    assert response.status_code == expect, (response.status_code, errors_of(response))
    return response


async def test_the_supervisor_reads_only_after_a_reason_and_the_counselor_sees_it(app, case, client_factory):
    counselor, case_id = case
    supervisor = await _supervisor(client_factory)
    listing = await supervisor.get("/m/counseling/review")
    assert listing.status_code == 200 and f"/m/counseling/review/{case_id}" in listing.text
    assert PSEUDONYM not in listing.text  # the client's name is not needed to choose a case
    # The author's page stays closed to the supervisor: the review path is the only way in.
    assert (await supervisor.get(f"/m/counseling/cases/{case_id}")).status_code == 404

    form = await supervisor.get(f"/m/counseling/review/{case_id}")
    assert form.status_code == 200 and NOTE_WORDS not in form.text
    short = await supervisor.submit(f"/m/counseling/review/{case_id}", {"reason": "看一下", "_submission_key": submission_key(form.text)})
    assert short.status_code == 422 and "请填写查阅该个案的理由，至少 10 个字。" in errors_of(short)
    assert "看一下" in short.text and NOTE_WORDS not in short.text
    assert not await raw("SELECT id FROM counseling_review")
    assert not await audit_rows("counseling.notes_reviewed")

    response = await supervisor.submit(f"/m/counseling/review/{case_id}", {"reason": REASON, "_submission_key": submission_key(form.text)})
    assert response.status_code == 303 and re.fullmatch(r"/m/counseling/review/g/\d+", response.headers["location"])
    # A double click opens one grant.
    again = await supervisor.submit(f"/m/counseling/review/{case_id}", {"reason": REASON, "_submission_key": submission_key(form.text)})
    assert again.headers["location"] == response.headers["location"]
    reading = await supervisor.get(response.headers["location"])
    text = html_text(reading)
    assert reading.status_code == 200 and NOTE_WORDS in text and REASON in text
    assert PSEUDONYM not in text and PHONE not in text  # identity is not part of supervision

    (audit,) = await audit_rows("counseling.notes_reviewed", case_id)
    assert audit["actor"] == SUPERVISOR and audit["object_type"] == "counseling_case" and REASON not in audit["fields"]
    assert (await raw("SELECT reason FROM counseling_review"))[0]["reason"].startswith("k1:")  # the reason is encrypted too
    assert any(r["actor"] == SUPERVISOR for r in await audit_rows("counseling.case_read", case_id))

    page = html_text(await counselor.get(f"/m/counseling/cases/{case_id}"))
    assert re.search(rf"督导 督导咨询师（测试） 于 \d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}} 查阅，理由：{re.escape(REASON)}", page), page
    message = await raw("SELECT body, link FROM outbox WHERE channel = 'inapp' AND staff = {} AND kind = 'counseling_review'",
                        await staff_id("counselor"))
    assert len(message) == 1 and message[0]["link"] == f"/m/counseling/cases/{case_id}" and NOTE_WORDS not in message[0]["body"]


async def test_the_reason_opens_the_case_for_two_hours_then_a_new_one_is_needed(app, case, client_factory):
    _counselor, case_id = case
    supervisor = await _supervisor(client_factory)
    grant = (await give_reason(supervisor, case_id)).headers["location"]
    # Reading on through a long meeting (each step shorter than the 30-minute idle sign-out)…
    for step in (29, 29, 29, 29, 3):
        clock.travel(minutes=step)
        assert NOTE_WORDS in (await supervisor.get(grant)).text, step
    # …until 2 hours after the reason.
    clock.travel(minutes=2)
    ended = await supervisor.get(grant)
    assert ended.status_code == 200 and NOTE_WORDS not in ended.text and f"/m/counseling/review/{case_id}" in ended.text
    second = (await give_reason(supervisor, case_id, "第二次督导：复核危机评估")).headers["location"]
    assert second != grant and NOTE_WORDS in (await supervisor.get(second)).text
    assert len(await audit_rows("counseling.notes_reviewed", case_id)) == 2


async def test_who_is_not_a_designated_supervisor_gets_404(app, case, client_factory):
    _counselor, case_id = case
    supervisor = await _supervisor(client_factory)
    grant = (await give_reason(supervisor, case_id)).headers["location"]
    # Another counselor (holding the permission by role, but not designated), the admins, window staff.
    for username in (OTHER_COUNSELOR, "gzq_admin", "gzq_window", "leader", "auditor"):
        other = await client_factory()
        await other.login(username)
        for url in ("/m/counseling/review", f"/m/counseling/review/{case_id}", grant):
            response = await other.get(url)
            assert response.status_code == 404, (username, url)
            assert NOTE_WORDS not in response.text
        posted = await other.submit(f"/m/counseling/review/{case_id}", {"reason": REASON})
        assert posted.status_code == 404, username
    # The supervisor's own case is not reviewed (they read it as its author); forged ids.
    for url in ("/m/counseling/review/999999", "/m/counseling/review/g/999999", "/m/counseling/review/abc"):
        assert (await supervisor.get(url)).status_code == 404, url
    # Designated at another center only: 404.
    await undesignate(SUPERVISOR)
    await designate(SUPERVISOR, "GZQ-DMZ")
    for url in (f"/m/counseling/review/{case_id}", grant):
        assert (await supervisor.get(url)).status_code == 404, url
    # A withdrawn designation ends the grant at once.
    await undesignate(SUPERVISOR)
    assert (await supervisor.get("/m/counseling/review")).status_code == 404
    assert len(await audit_rows("counseling.notes_reviewed")) == 1


async def test_the_review_nav_item_appears_only_for_a_designated_supervisor(app, case, client_factory):
    supervisor = await _supervisor(client_factory)
    assert 'href="/m/counseling/review"' in (await supervisor.get("/dashboard")).text
    other = await _supervisor(client_factory, OTHER_COUNSELOR)
    page = (await other.get("/dashboard")).text
    assert 'href="/m/counseling/review"' not in page and 'href="/m/counseling/cases"' in page
