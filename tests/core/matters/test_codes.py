"""Tracking codes: what a citizen copies from a receipt or reads over the phone."""

from __future__ import annotations

import collections

from portal.matters.codes import ALPHABET, format_code, new_code, parse_code


def test_codes_are_long_unambiguous_and_grouped():
    codes = {new_code() for _ in range(5000)}
    assert len(codes) == 5000
    for code in list(codes)[:200]:
        assert len(code) >= 10
        assert not set(code) & set("01OI")
        assert set(code) <= set(ALPHABET)
        assert format_code(code).count("-") == 2 and all(len(g) == 4 for g in format_code(code).split("-"))


def test_every_symbol_is_used_about_equally():
    counts = collections.Counter("".join(new_code()[:-1] for _ in range(6000)))
    assert set(counts) == set(ALPHABET)
    expected = 6000 * 11 / 32
    assert all(0.85 * expected < n < 1.15 * expected for n in counts.values())


def test_what_people_type_is_normalised():
    code = new_code()
    grouped = format_code(code)
    assert parse_code(grouped) == code
    assert parse_code(grouped.lower()) == code
    assert parse_code(" " + grouped.replace("-", " ") + " ") == code
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in code)  # ＡＢＣ… typed with a Chinese IME
    assert parse_code(full_width) == code


def test_one_wrong_or_swapped_character_is_caught_before_any_lookup():
    code = new_code()
    for i in range(len(code)):
        for other in ALPHABET:
            if other != code[i]:
                assert parse_code(code[:i] + other + code[i + 1:]) is None
    for i in range(len(code) - 1):
        if code[i] != code[i + 1]:
            assert parse_code(code[:i] + code[i + 1] + code[i] + code[i + 2:]) is None
    assert parse_code(code[:-1]) is None
    assert parse_code("") is None
