"""Password hashing (argon2id) and the password policy.

Policy (ASVS 5.0 L2, our decision in docs/security.md): at least 12 characters, up to 128, no
composition rules, refused when common, built on a common password, or containing a context word.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from portal.i18n import _

__all__ = ["check_policy", "hash_password", "needs_rehash", "verify_password", "DUMMY_HASH"]

# argon2id with the RFC 9106 low-memory profile (~0.1 s a hash). PORTAL_PASSWORD_HASH_PROFILE=test,
# set by tests/conftest.py, uses the minimum cost (the suite signs in over a thousand times; the
# algorithm and code path stay the same); it is ignored when PORTAL_ENV is production.
_hasher = (
    PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    if os.environ.get("PORTAL_PASSWORD_HASH_PROFILE") == "test" and os.environ.get("PORTAL_ENV") != "production"
    else PasswordHasher()
)
MAX_LENGTH = 128
CONTEXT_WORDS = ("zongzhi", "xinfang", "whistle", "portal", "chuishao", "baodao", "ganzhou", "综治", "信访")


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


# Verified against when the username is unknown, so both paths cost the same time.
DUMMY_HASH = hash_password("dummy-password-for-timing-equalisation")


def check_policy(password: str, min_length: int = 12, context: tuple[str, ...] = ()) -> str | None:
    """Return a Chinese message saying what is wrong, or None when the password is acceptable."""
    if len(password) < min_length:
        return _("The password must be at least %(n)s characters long.", n=min_length)
    if len(password) > MAX_LENGTH:
        return _("The password must be at most %(n)s characters long.", n=MAX_LENGTH)
    lowered = password.lower()
    common = _common()
    core = re.sub(r"^[\d\W_]+|[\d\W_]+$", "", lowered)
    if lowered in common or (len(core) >= 4 and core in common) or len(set(lowered)) < 5:
        return _("This password is too common or too easy to guess. Choose a longer phrase that is hard to guess.")
    for word in (*CONTEXT_WORDS, *context):
        word = (word or "").lower()
        if len(word) >= 3 and word in lowered:
            return _("The password must not contain your username, your center's name or the system's name.")
    return None
