"""Tracking codes: 12 characters from an alphabet without look-alikes, the last one a check character.

Shown grouped as XXXX-XXXX-XXXX. The check character catches a mistyped or swapped character
before any database look-up, so a typo gets "check the code" instead of "not found".
"""

from __future__ import annotations

import secrets
import unicodedata

__all__ = ["ALPHABET", "format_code", "new_code", "parse_code"]

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I
assert len(ALPHABET) == 32
LENGTH = 12


def _check_char(body: str) -> str:
    # Weighted sum mod 32 with position weights: detects any single substitution and adjacent swaps.
    total = sum((i + 1) * ALPHABET.index(ch) for i, ch in enumerate(body))
    return ALPHABET[total % len(ALPHABET)]


def new_code() -> str:
    # 32 symbols divide 256 evenly, so byte % 32 is uniform (and one token_bytes call is much
    # cheaper than eleven secrets.choice calls on the registration path).
    body = "".join(ALPHABET[b % 32] for b in secrets.token_bytes(LENGTH - 1))
    return body + _check_char(body)


def format_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def parse_code(value: str) -> str | None:
    """Normalise what a person typed (full-width, lower case, spaces, dashes); None if invalid."""
    text = unicodedata.normalize("NFKC", value or "").upper()
    text = "".join(ch for ch in text if ch.isalnum())
    if len(text) != LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    return text if _check_char(text[:-1]) == text[-1] else None
