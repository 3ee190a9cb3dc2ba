"""Resident ID numbers (居民身份证号码, GB 11643-1999): checking and masking.

An ID number is personal sensitive information (GB/T 35273): forms check it with the checksum so
a typo is caught on the spot, and every list, export and message shows it masked.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

__all__ = ["id_number_problem", "mask_id_number", "normalize_id_number"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[1-9]\d{16}[\dX]$")


def _compact(value: str) -> str:
    # Full-width digits and a lower-case x arrive from Chinese keyboards (ux.md B7).
    text = unicodedata.normalize("NFKC", value or "").upper()
    return re.sub(r"[\s-]", "", text)


def id_number_problem(value: str) -> str | None:
    """None for a valid 18-character ID number, else which check failed:
    ``length`` | ``characters`` | ``birth_date`` | ``checksum``."""
    text = _compact(value)
    if len(text) != 18:
        return "length"
    if not _SHAPE.match(text):
        return "characters"
    try:
        born = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return "birth_date"
    if born.year < 1900 or born > dt.date.today():
        return "birth_date"
    total = sum(int(ch) * weight for ch, weight in zip(text[:17], _WEIGHTS))
    if _CHECK[total % 11] != text[17]:
        return "checksum"
    return None


def normalize_id_number(value: str) -> str | None:
    """The ID number in its stored form (18 characters, upper-case X), or None when invalid."""
    return None if id_number_problem(value) else _compact(value)


def mask_id_number(value: str) -> str:
    """110105********1234: the region (first 6) and the last 4 stay, the birth date is hidden."""
    text = _compact(value)
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]
