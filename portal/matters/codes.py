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


_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}


def _times_x(value: int) -> int:
    # Multiplication by x in GF(32) = GF(2)[x] / (x^5 + x^2 + 1).
    value <<= 1
    return value ^ 0b100101 if value & 0b100000 else value


def _check_char(body: str) -> str:
    """Damm's check over GF(32): state = x·state + symbol; the check symbol brings it back to 0.

    The operation a∘b = x·a + b is a quasigroup (every single substitution changes the end state)
    and totally anti-symmetric ((c∘a)∘b = (c∘b)∘a only if a = b, because x + 1 ≠ 0), so every
    single wrong character and every swap of two neighbours is caught. A weighted sum mod 32
    cannot do both: an even weight misses a change by 16.
    """
    state = 0
    for ch in body:
        state = _times_x(state) ^ _INDEX[ch]
    return ALPHABET[_times_x(state)]


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
