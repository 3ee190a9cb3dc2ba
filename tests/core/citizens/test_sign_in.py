"""Citizen sign-in by phone and SMS code: the happy path, wrong and expired codes, tries, cooldown, caps."""

from __future__ import annotations

import html

from portal import clock
from portal.citizens.tables import Citizen
from portal.i18n import _
from portal.notify.tables import Outbox
from portal.tables import AuditLog
from tests.conftest import html_text
from tests.core.citizens.helpers import PHONE, ask_code, citizen_id, latest_code, sign_in, sms_count, submit_code


async def test_sign_in_happy_path(app, client):
    page = await client.get("/citizen/login?next=/my/messages")
    assert page.status_code == 200
    assert 'autocomplete="tel"' in page.text and 'type="tel"' in page.text
    # Full-width digits, spaces and dashes as typed on a phone keyboard.
    response = await ask_code(client, " １３８ 0013-８０００ ")
    assert response.status_code == 303
    assert response.headers["location"] == "/citizen/login/code?next=/my/messages"
    assert PHONE not in response.headers["location"]  # the number never travels in the URL
    row = await Outbox.select().where(Outbox.phone == PHONE).first()
    assert row["channel"] == "sms" and row["kind"] == "sign_in_code"

    page = await client.get(response.headers["location"])
    assert page.status_code == 200
    assert "138****8000" in page.text and PHONE not in page.text
    assert 'autocomplete="one-time-code"' in page.text and 'inputmode="numeric"' in page.text
    assert await citizen_id() is None  # no account before the number is verified

    response = await submit_code(client, await latest_code())
    assert response.status_code == 303
    assert response.headers["location"] == "/my/messages"
    assert client.cookies.get("whistle_citizen")
    page = await client.get("/my/messages")
    assert page.status_code == 200
    assert "138****8000" in page.text
    citizen = await Citizen.select().where(Citizen.phone == PHONE).first()
    assert citizen["last_sign_in_at"] is not None
    audit = await AuditLog.select(AuditLog.action, AuditLog.object_id).where(AuditLog.action == "citizen.login")
    assert audit == [{"action": "citizen.login", "object_id": str(citizen["id"])}]


async def test_code_typed_with_full_width_digits_and_spaces(app, client):
    await ask_code(client)
    code = await latest_code()
    wide = " ".join(chr(ord(c) + 0xFEE0) for c in code)  # "１ ２ ３ …"
    response = await submit_code(client, wide)
    assert response.status_code == 303


async def test_next_is_kept_and_must_be_safe(app, client, client_factory):
    response = await sign_in(client, next_url="/my/messages?before=5")
    assert response.headers["location"] == "/my/messages?before=5"
    other = await client_factory()
    response = await ask_code(other, "13900139000", next_url="//evil.example/x")
    assert response.headers["location"] == "/citizen/login/code?next=/my/messages"
    response = await submit_code(other, await latest_code("13900139000"), next_url="https://evil.example/")
    assert response.headers["location"] == "/my/messages"


async def test_invalid_numbers_get_clear_errors_and_keep_the_input(app, client):
    for typed, message in (
        ("", _("Enter your mobile number.")),
        ("12345", _("Enter an 11-digit mainland mobile number that starts with 1, like 138 0013 8000.")),
        ("12800138000", _("Enter an 11-digit mainland mobile number that starts with 1, like 138 0013 8000.")),
        ("1380013800０1", _("Enter an 11-digit mainland mobile number that starts with 1, like 138 0013 8000.")),
    ):
        response = await ask_code(client, typed)
        assert response.status_code == 422, typed
        assert message in html_text(response)
        assert 'class="error-summary"' in response.text
        if typed:
            assert f'value="{html.escape(typed)}"' in response.text
    assert await Outbox.count() == 0


async def test_wrong_code_is_refused(app, client):
    await ask_code(client)
    code = await latest_code()
    wrong = "000000" if code != "000000" else "111111"
    response = await submit_code(client, wrong)
    assert response.status_code == 422
    assert _("The code is not correct. Check the SMS and try again (%(count)s tries left).", count=4) in html_text(response)
    assert not client.cookies.get("whistle_citizen")
    response = await submit_code(client, "12ab")
    assert response.status_code == 422
    assert _("The code is 6 digits, like 123456.") in html_text(response)


async def test_five_wrong_tries_kill_the_code(app, client):
    await ask_code(client)
    code = await latest_code()
    wrong = "000000" if code != "000000" else "111111"
    for _try in range(5):
        response = await submit_code(client, wrong)
        assert response.status_code == 422
    assert _("A wrong code was entered too many times, so this code no longer works. Ask for a new code below.") in html_text(response)
    response = await submit_code(client, code)
    assert response.status_code == 422
    assert not client.cookies.get("whistle_citizen")
    assert await AuditLog.count().where(AuditLog.action == "citizen.code_locked") == 1


async def test_four_wrong_tries_leave_the_right_code_usable(app, client):
    await ask_code(client)
    code = await latest_code()
    wrong = "000000" if code != "000000" else "111111"
    for _try in range(4):
        assert (await submit_code(client, wrong)).status_code == 422
    assert (await submit_code(client, code)).status_code == 303


async def test_a_code_works_once(app, client, client_factory):
    await sign_in(client)
    code = await latest_code()
    other = await client_factory()
    response = await ask_code(other)  # within the cooldown: no new code, but the number is pending
    assert response.status_code == 303
    assert await sms_count() == 1
    response = await submit_code(other, code)
    assert response.status_code == 422
    assert not other.cookies.get("whistle_citizen")


async def test_code_expires_after_five_minutes(app, client):
    await ask_code(client)
    code = await latest_code()
    clock.travel(minutes=5, seconds=1)
    response = await submit_code(client, code)
    assert response.status_code == 422
    assert _("The code has expired or was already used. Ask for a new code below.") in html_text(response)


async def test_code_is_valid_just_before_five_minutes(app, client):
    await ask_code(client)
    code = await latest_code()
    clock.travel(minutes=4, seconds=50)
    assert (await submit_code(client, code)).status_code == 303


async def test_resend_cooldown_is_shown_and_sends_nothing(app, client):
    await ask_code(client)
    first = await latest_code()
    response = await client.submit("/citizen/login/resend", {"next": "/my/messages"})
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    text = html_text(page)
    message = "A code was sent to this number less than a minute ago. Use that code, or ask for a new one in %(seconds)s seconds."
    assert any(_(message, seconds=seconds) in text for seconds in range(50, 61)), text
    assert await sms_count() == 1
    # Asking again from the first page is the same request: still one SMS.
    await ask_code(client)
    assert await sms_count() == 1

    clock.travel(seconds=61)
    response = await client.submit("/citizen/login/resend", {"next": "/my/messages"})
    assert response.status_code == 303
    assert await sms_count() == 2
    second = await latest_code()
    if second != first:
        # Only the newest code is live.
        assert (await submit_code(client, first)).status_code == 422
    assert (await submit_code(client, second)).status_code == 303


async def test_code_page_without_a_pending_number_starts_again(app, client):
    response = await client.get("/citizen/login/code?next=/my/messages")
    assert response.status_code == 303
    assert response.headers["location"] == "/citizen/login?next=/my/messages"
    response = await submit_code(client, "123456")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/citizen/login?")
    # A forged pending cookie is ignored.
    client.cookies.set("whistle_citizen_pending", "eyJwIjoiMTM4MDAxMzgwMDAiLCJlIjo5OTk5OTk5OTk5fQ==.0000")
    assert (await client.get("/citizen/login/code")).status_code == 303


async def test_daily_cap_per_phone(app, capped_client):
    for round_ in range(3):
        response = await ask_code(capped_client)
        assert response.status_code == 303, round_
        clock.travel(seconds=61)
    response = await ask_code(capped_client)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 3600
    assert _("This number has asked for too many codes today. Try again tomorrow.") in html_text(response)
    assert await sms_count() == 3
    # The resend button on the code page meets the same cap.
    response = await capped_client.submit("/citizen/login/resend", {"next": "/my/messages"})
    assert response.status_code == 429
    clock.travel(days=1)
    assert (await ask_code(capped_client)).status_code == 303
    assert await sms_count() == 4


async def test_daily_cap_per_address(app, capped_client):
    phones = [f"1390013900{i}" for i in range(5)]
    for phone in phones[:4]:
        assert (await ask_code(capped_client, phone)).status_code == 303
    response = await ask_code(capped_client, phones[4])
    assert response.status_code == 429
    assert _("Too many codes have been asked for from this network today. Try again tomorrow.") in html_text(response)
    assert await sms_count(phones[4]) == 0


async def test_answers_do_not_depend_on_the_number_having_matters(app, client, client_factory):
    # A number the portal knows (a citizen who signed in before) and a new one get the same answer.
    await sign_in(client)
    known, new = await client_factory(), await client_factory()
    clock.travel(seconds=61)
    a = await ask_code(known, PHONE)
    b = await ask_code(new, "13700137000")
    assert a.status_code == b.status_code == 303
    assert a.headers["location"] == b.headers["location"]
    page_a, page_b = await known.get(a.headers["location"]), await new.get(b.headers["location"])
    assert html_text(page_a).replace("138****8000", "X") == html_text(page_b).replace("137****7000", "X")
