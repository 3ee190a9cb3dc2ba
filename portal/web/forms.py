"""Reading submitted forms: trimmed strings, lists, flags; plus field validators with Chinese messages."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from litestar import Request

from portal import clock

__all__ = ["Form", "normalize_phone", "parse_local_datetime", "read_form"]


class Form:
    def __init__(self, data):
        self._data = data

    def str(self, name: str, max_length: int | None = None, ascii_fold: bool = False) -> str:
        value = self._data.get(name)
        value = value.strip() if isinstance(value, str) else ""
        if ascii_fold:
            # Codes and usernames typed on a Chinese keyboard arrive as full-width letters and digits.
            value = unicodedata.normalize("NFKC", value)
        return value[:max_length] if max_length else value

    def list(self, name: str) -> list[str]:
        return [v.strip() for v in self._data.getall(name, []) if isinstance(v, str) and v.strip()]

    def flag(self, name: str) -> bool:
        return self._data.get(name) in ("1", "on", "true", "yes")

    def int(self, name: str) -> int | None:
        value = self.str(name, ascii_fold=True)
        return int(value) if value.isdigit() and len(value) < 12 else None


async def read_form(request: Request) -> Form:
    return Form(await request.form())


_PHONE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


def normalize_phone(value: str, allow_landline: bool = False) -> str | None:
    """Accept spaces, dashes, +86/0086 and full-width digits; return the 11-digit mobile number."""
    value = unicodedata.normalize("NFKC", value or "").strip()
    compact = re.sub(r"[\s\-()（）]", "", value)
    if compact.startswith("+86"):
        compact = compact[3:]
    elif compact.startswith("0086"):
        compact = compact[4:]
    if _PHONE.match(compact):
        return compact
    if allow_landline:
        landline = re.sub(r"[\s()（）]", "", value)
        if _LANDLINE.match(landline):
            return landline
    return None


def parse_local_datetime(value: str) -> dt.datetime | None:
    """'2026-11-27 14:30' (or with a 'T', '/', seconds or full-width digits), China time → aware UTC;
    None when it is not a time. Forms take a plain text field rather than datetime-local: what was
    typed must come back as typed, and an invalid value in a datetime-local input is invalid HTML."""
    value = unicodedata.normalize("NFKC", value or "").strip().replace("T", " ").replace("/", "-")
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            naive = dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=clock.TZ_CN).astimezone(dt.timezone.utc)
    return None
