"""Shared steps of the counseling tests (K1: booking, consent, screening, crisis; K2 may append)."""

from __future__ import annotations

import re

from portal.db import raw


def submission_key(page_text: str) -> str:
    return re.search(r'name="_submission_key" value="([^"]+)"', page_text).group(1)


async def center_id(code: str) -> int:
    return (await raw("SELECT id FROM center WHERE code = {}", code))[0]["id"]


async def staff_id(username: str) -> int:
    return (await raw("SELECT id FROM staff_user WHERE username = {}", username))[0]["id"]
