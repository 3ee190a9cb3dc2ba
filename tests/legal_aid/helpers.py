"""Helpers shared by the legal-aid tests (LA1 and LA2 add functions at the end)."""

from __future__ import annotations

from portal.db import raw


async def center_id(code: str) -> int:
    rows = await raw("SELECT id FROM center WHERE code = {}", code)
    return rows[0]["id"]


async def staff_id(username: str) -> int:
    rows = await raw("SELECT id FROM staff_user WHERE username = {}", username)
    return rows[0]["id"]
