"""PHQ-9 / GAD-7 self-screening: published scoring and bands (every band boundary), the form's
required items, what the citizen and the counselor see, and item 9 raising the crisis alert."""

from __future__ import annotations

import pytest

from portal.db import raw
from tests.conftest import html_text
from tests.counseling.helpers import (
    CONTACT_PHONE,
    audit_actions,
    booking_with,
    outbox,
    screening_form,
    sms_to,
    staff_client,
    staff_id,
    submission_key,
)

from plugins.counseling import screening as sc


def _phq9(total: int, item9: int = 0) -> list[int]:
    """Nine answers summing to ``total``, item 9 as given unless the total needs it (above 24)."""
    item9 = max(item9, total - 24)
    answers = [0] * 8 + [item9]
    rest = total - item9
    for i in range(8):
        answers[i] = min(3, rest)
        rest -= answers[i]
    assert rest == 0 and sum(answers) == total
    return answers


def _gad7(total: int) -> list[int]:
    answers, rest = [], total
    for _i in range(7):
        answers.append(min(3, rest))
        rest -= answers[-1]
    assert rest == 0
    return answers


# (total, band key, Chinese label): Kroenke, Spitzer & Williams 2001 — every boundary both sides.
PHQ9_CASES = [
    (0, "minimal", "无或极轻微"), (4, "minimal", "无或极轻微"),
    (5, "mild", "轻度"), (9, "mild", "轻度"),
    (10, "moderate", "中度"), (14, "moderate", "中度"),
    (15, "moderately_severe", "中重度"), (19, "moderately_severe", "中重度"),
    (20, "severe", "重度"), (27, "severe", "重度"),
]
# Spitzer, Kroenke, Williams & Löwe 2006.
GAD7_CASES = [
    (0, "minimal", "无或极轻微"), (4, "minimal", "无或极轻微"),
    (5, "mild", "轻度"), (9, "mild", "轻度"),
    (10, "moderate", "中度"), (14, "moderate", "中度"),
    (15, "severe", "重度"), (21, "severe", "重度"),
]


@pytest.mark.parametrize(("total", "key", "label"), PHQ9_CASES)
def test_phq9_total_and_band(total, key, label):
    result = sc.score(_phq9(total), [0] * 7)
    assert result.phq9_total == total
    assert sc.phq9_band(result.phq9_total) == (key, label)


@pytest.mark.parametrize(("total", "key", "label"), GAD7_CASES)
def test_gad7_total_and_band(total, key, label):
    result = sc.score([0] * 9, _gad7(total))
    assert result.gad7_total == total
    assert sc.gad7_band(result.gad7_total) == (key, label)


@pytest.mark.parametrize(("phq9", "gad7", "difficulty", "phq9_total", "gad7_total", "self_harm"), [
    ((1, 1, 1, 1, 1, 1, 1, 1, 1), (2, 2, 2, 2, 2, 2, 2), 0, 9, 14, True),
    ((3, 3, 3, 3, 3, 3, 3, 3, 0), (0, 0, 0, 0, 0, 0, 1), 3, 24, 1, False),
    ((0, 0, 0, 0, 0, 0, 0, 0, 3), (3, 3, 3, 3, 3, 3, 3), 2, 3, 21, True),
    ((2, 0, 2, 0, 2, 0, 2, 0, 0), (1, 0, 1, 0, 1, 0, 1), 1, 8, 4, False),
])
def test_item_scores_are_summed_and_difficulty_is_not(phq9, gad7, difficulty, phq9_total, gad7_total, self_harm):
    result = sc.score(phq9, gad7, difficulty)
    assert (result.phq9_total, result.gad7_total, result.self_harm) == (phq9_total, gad7_total, self_harm)
    assert result.phq9_digits == "".join(map(str, phq9))


def test_items_and_options_are_the_published_chinese_versions():
    assert len(sc.PHQ9_ITEMS) == 9 and len(sc.GAD7_ITEMS) == 7
    assert [label for _v, label in sc.ANSWERS] == ["完全不会", "好几天", "一半以上的天数", "几乎每天"]
    assert [v for v, _label in sc.ANSWERS] == [0, 1, 2, 3]
    assert "过去两个星期" in sc.STEM
    assert sc.PHQ9_ITEMS[8] == "有不如死掉或用某种方式伤害自己的念头"
    assert sc.GAD7_ITEMS[0].startswith("感觉紧张")


def test_answers_and_totals_outside_the_scales_are_refused():
    for bad in (-1, 28):
        with pytest.raises(ValueError):
            sc.phq9_band(bad)
    for bad in (-1, 22):
        with pytest.raises(ValueError):
            sc.gad7_band(bad)
    with pytest.raises(ValueError):
        sc.score([4] + [0] * 8, [0] * 7)
    with pytest.raises(ValueError):
        sc.score([0] * 8, [0] * 7)


def test_missing_items_are_named_and_answers_kept():
    form = screening_form()
    for name in ("phq9_3", "phq9_7", "gad7_2", "phq9_difficulty"):
        del form[name]
    result, values, errors = sc.parse(form.get)
    assert result is None
    assert "3、7" in errors["phq9_3"]
    assert "2" in errors["gad7_2"]
    assert "phq9_difficulty" in errors
    assert values["phq9_1"] == "0" and values["phq9_3"] == ""


# ----------------------------------------------------------------------------- through the pages


async def _screening_url(booking) -> str:
    return f"/m/counseling/c/GZQ/screening/{booking['id']}"


async def test_item_9_raises_the_crisis_flag_with_sms_and_in_app_alert_in_the_same_transaction(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    citizen = booking["client"]
    url = await _screening_url(booking)
    page = await citizen.get(url)
    assert page.status_code == 200
    assert 'name="phq9_9"' in page.text and 'name="gad7_7"' in page.text and 'name="phq9_difficulty"' in page.text
    before = len(await outbox())
    response = await citizen.submit(url, screening_form(phq9=(0, 0, 0, 0, 0, 0, 0, 0, 1), key=submission_key(page.text)))
    assert response.status_code == 303
    flags = await raw("SELECT * FROM counseling_crisis WHERE booking = {}", booking["id"])
    assert len(flags) == 1 and flags[0]["source"] == "screening" and flags[0]["status"] == "open"
    assert flags[0]["counselor"] == await staff_id("counselor")
    # The SMS to the crisis contact is neutral: no counseling, no answers, no person.
    sms = await sms_to(CONTACT_PHONE)
    assert len(sms) == 1
    for word in ("心理", "咨询", "PHQ", "自伤", "伤害", "小林", "13800138123"):
        assert word not in sms[0]["body"]
    inapp = await raw("SELECT * FROM outbox WHERE channel = 'inapp' AND staff = {} AND kind = 'counseling_crisis'",
                      await staff_id("crisis_duty"))
    assert len(inapp) == 1 and inapp[0]["link"] == f"/m/counseling/crisis/{flags[0]['id']}"
    counselor_inapp = await raw("SELECT * FROM outbox WHERE channel = 'inapp' AND staff = {} AND kind = 'counseling_crisis'",
                                await staff_id("counselor"))
    assert len(counselor_inapp) == 1
    # One transaction: the answers, the flag, the alerts and the audit rows came together.
    assert len(await outbox()) - before == 3
    assert [a["action"] for a in await audit_actions("counseling.")][-2:] == ["counseling.screening_submitted",
                                                                              "counseling.crisis_raised"]


async def test_answers_and_alert_are_all_or_nothing(app, client_factory, monkeypatch):
    """When queuing the alert fails, the answers are not stored either."""
    from plugins.counseling import crisis

    async def broken(*args, **kwargs):
        raise RuntimeError("outbox down")

    monkeypatch.setattr(crisis, "queue_sms", broken)
    booking = await booking_with("counselor", client_factory=client_factory)
    citizen = booking["client"]
    url = await _screening_url(booking)
    page = await citizen.get(url)
    response = await citizen.submit(url, screening_form(phq9=(0,) * 8 + (2,), key=submission_key(page.text)))
    assert response.status_code == 500  # the injected failure
    assert await raw("SELECT id FROM counseling_screening WHERE booking = {}", booking["id"]) == []
    assert await raw("SELECT id FROM counseling_crisis WHERE booking = {}", booking["id"]) == []


async def test_no_flag_when_item_9_is_zero_whatever_the_total(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    citizen = booking["client"]
    url = await _screening_url(booking)
    page = await citizen.get(url)
    response = await citizen.submit(url, screening_form(phq9=(3,) * 8 + (0,), gad7=(3,) * 7, difficulty=3,
                                                        key=submission_key(page.text)))
    assert response.status_code == 303
    assert len(await raw("SELECT id FROM counseling_screening WHERE booking = {}", booking["id"])) == 1
    assert await raw("SELECT id FROM counseling_crisis") == []
    assert await outbox(kind="counseling_crisis") == []
    text = html_text(await (await staff_client(client_factory, "counselor")).get(f"/m/counseling/bookings/{booking['id']}"))
    assert "24 / 27，重度" in text and "21 / 21，重度" in text and "极度困难" in text


async def test_the_stored_row_holds_no_answer_or_score_in_plain_text(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    citizen = booking["client"]
    url = await _screening_url(booking)
    page = await citizen.get(url)
    await citizen.submit(url, screening_form(phq9=(3, 2, 1, 0, 3, 2, 1, 0, 0), gad7=(1, 2, 3, 0, 1, 2, 3), difficulty=2,
                                             key=submission_key(page.text)))
    row = (await raw("SELECT * FROM counseling_screening WHERE booking = {}", booking["id"]))[0]
    # Only who, when and the ciphertext: no answer, total or band column, and the value reveals none.
    assert set(dict(row).keys()) == {"id", "center", "booking", "counselor", "answers", "submitted_at"}
    stored = row["answers"]
    assert stored.startswith("k1:")
    for plain in ("321032100", "1230123", "[3,2,1", "phq9", "gad7", "difficulty", "重度"):
        assert plain not in stored, plain
    # Bound to its booking: copied to another booking's row it does not decrypt.
    from plugins.counseling.notes_crypto import CounselingKeyError, open_cipher

    cipher = await open_cipher(app.state.settings)
    assert cipher.decrypt_json(stored, f"screening:{booking['id']}") == {
        "phq9": [3, 2, 1, 0, 3, 2, 1, 0, 0], "gad7": [1, 2, 3, 0, 1, 2, 3], "difficulty": 2}
    with pytest.raises(CounselingKeyError):
        cipher.decrypt(stored, f"screening:{booking['id'] + 1}")
    text = html_text(await (await staff_client(client_factory, "counselor")).get(f"/m/counseling/bookings/{booking['id']}"))
    assert "12 / 27，中度" in text and "12 / 21，中度" in text


async def test_missing_items_come_back_with_a_chinese_error_and_the_answers_kept(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    citizen = booking["client"]
    url = await _screening_url(booking)
    page = await citizen.get(url)
    form = screening_form(phq9=(2,) * 9, key=submission_key(page.text))
    del form["phq9_4"], form["gad7_6"]
    response = await citizen.submit(url, form)
    assert response.status_code == 422
    text = html_text(response)
    assert "请回答第一部分（PHQ-9）的第 4 题。" in text and "请回答第二部分（GAD-7）的第 6 题。" in text
    assert 'id="phq9_1-2" name="phq9_1" value="2" checked' in response.text
    assert 'name="phq9_4" value="0" checked' not in response.text
    # Nothing stored, no flag although item 9 was 2: an incomplete form is not a submission.
    assert await raw("SELECT id FROM counseling_screening") == []
    assert await raw("SELECT id FROM counseling_crisis") == []


async def test_the_citizen_sees_that_it_was_received_and_where_to_get_help_never_a_score(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    citizen = booking["client"]
    url = await _screening_url(booking)
    page = await citizen.get(url)
    key = submission_key(page.text)
    first = await citizen.submit(url, screening_form(phq9=(3,) * 9, gad7=(3,) * 7, key=key))
    again = await citizen.submit(url, screening_form(phq9=(0,) * 9, key=key))
    assert first.status_code == again.status_code == 303
    assert len(await raw("SELECT id FROM counseling_screening WHERE booking = {}", booking["id"])) == 1
    assert len(await raw("SELECT id FROM counseling_crisis")) == 1  # the double submit raised no second flag
    done = html_text(await citizen.get(url))
    assert "已提交" in done and "12356" in done and "110" in done and "120" in done and "0936-8212000" in done
    for verdict in ("/ 27", "/ 21", "27 分", "重度", "中度", "轻度", "总分"):
        assert verdict not in done
    assert 'name="phq9_1"' not in (await citizen.get(url)).text


async def test_only_the_counselor_of_the_booking_sees_the_answers_and_each_reading_is_audited(app, client_factory):
    booking = await booking_with("counselor", client_factory=client_factory)
    citizen = booking["client"]
    url = await _screening_url(booking)
    page = await citizen.get(url)
    await citizen.submit(url, screening_form(phq9=(2,) * 8 + (0,), gad7=(1,) * 7, difficulty=2, key=submission_key(page.text)))
    counselor = await staff_client(client_factory, "counselor")
    mine = await counselor.get(f"/m/counseling/bookings/{booking['id']}")
    assert mine.status_code == 200
    text = html_text(mine)
    assert "16 / 27，中重度" in text and "7 / 21，轻度" in text and "非常困难" in text
    assert len(await audit_actions("counseling.screening_viewed")) == 1
    for username in ("counselor2", "counselor_sup", "gzq_admin", "gzq_window", "crisis_duty", "leader", "dmz_admin"):
        other = await staff_client(client_factory, username)
        assert (await other.get(f"/m/counseling/bookings/{booking['id']}")).status_code == 404, username
    assert len(await audit_actions("counseling.screening_viewed")) == 1


async def test_screening_is_404_for_another_citizen_and_for_follow_up_bookings(app, client_factory):
    from tests.counseling.helpers import FOLLOW_UP, book_online, citizen_client

    booking = await booking_with("counselor", client_factory=client_factory)
    stranger = await citizen_client(client_factory, "13700137000")
    assert (await stranger.get(await _screening_url(booking))).status_code == 404
    assert (await stranger.submit(await _screening_url(booking), screening_form())).status_code == 404
    assert (await booking["client"].get("/m/counseling/c/GZQ/screening/999999")).status_code == 404
    follow_up = await book_online(booking["client"], service=FOLLOW_UP, hour=14, minute=30)
    assert (await booking["client"].get(f"/m/counseling/c/GZQ/screening/{follow_up['id']}")).status_code == 404
    # The booking's own center in the path, not another one's.
    assert (await booking["client"].get(f"/m/counseling/c/GZQ-DMZ/screening/{booking['id']}")).status_code == 404
