"""Helpers of the citizen sign-in tests: ask for a code, read it from the outbox, sign in."""

from __future__ import annotations

import re

from portal.citizens.tables import Citizen, CitizenSession
from portal.notify.tables import Outbox

__all__ = ["PHONE", "ask_code", "latest_code", "sign_in", "sms_count", "submit_code"]

PHONE = "13800138000"
_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


async def latest_code(phone: str = PHONE) -> str:
    """The code in the newest sign-in SMS to ``phone`` (the development sender keeps it in the outbox)."""
    row = await Outbox.select(Outbox.body).where((Outbox.phone == phone) & (Outbox.kind == "sign_in_code")).order_by(
        Outbox.id, ascending=False
    ).first()
    assert row is not None, f"no sign-in SMS to {phone}"
    match = _CODE.search(row["body"])
    assert match, row["body"]
    return match.group(1)


async def sms_count(phone: str = PHONE) -> int:
    return await Outbox.count().where((Outbox.phone == phone) & (Outbox.channel == "sms"))


async def ask_code(client, phone: str = PHONE, next_url: str = "/my/messages"):
    return await client.submit("/citizen/login", {"phone": phone, "next": next_url})


async def submit_code(client, code: str, next_url: str = "/my/messages"):
    return await client.submit("/citizen/login/code", {"code": code, "next": next_url})


async def sign_in(client, phone: str = PHONE, next_url: str = "/my/messages"):
    response = await ask_code(client, phone, next_url)
    assert response.status_code == 303, response.text[:500]
    response = await submit_code(client, await latest_code(phone), next_url)
    assert response.status_code == 303, response.text[:500]
    return response


async def citizen_id(phone: str = PHONE) -> int | None:
    row = await Citizen.select(Citizen.id).where(Citizen.phone == phone).first()
    return row["id"] if row else None


async def session_count() -> int:
    return await CitizenSession.count()
