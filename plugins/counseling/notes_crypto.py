"""Counseling notes encrypted at rest: AES-256-GCM with a key from the environment.

Why not ``portal.crypto.FieldCipher``: these records are the most sensitive in the product and get
their own key (``PORTAL_COUNSELING_KEY``), so a leaked data key or database dump alone reveals
nothing, and the key can be rotated without touching the rest. Each value is stored as
``k<generation>:<base64url(nonce ‖ ciphertext ‖ tag)>``; the generation is the key id. The
associated data binds a value to its column and case (``session:<case id>``…), so a ciphertext
copied into another case's row does not decrypt there.

A wrong key must fail loudly, never show garbage or an empty note: ``counseling_keyring`` holds the
key's fingerprint (HMAC of a constant under the key). Start-up (the ``startup`` hook) and every
``open_cipher`` compare it with the configured key; a mismatch, or a value that does not
authenticate, raises ``CounselingKeyError``. ``portal counseling rotate-key --old …`` re-encrypts
every value from the old key to the new one in one transaction and moves the fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal import clock
from portal.db import raw, write_transaction
from portal.settings import Settings

__all__ = [
    "ENCRYPTED",
    "Cipher",
    "CounselingKeyError",
    "EncryptedColumn",
    "NotesKey",
    "check_key",
    "ensure_keyring",
    "key_for",
    "open_cipher",
    "rotate",
]

MISMATCH = "PORTAL_COUNSELING_KEY 与已加密数据不符：请用 portal counseling rotate-key --old … 迁移"
SLOT = "notes"
_CHECK = b"whistle counseling notes key check v1"
_INFO = b"whistle counseling notes v1"


class CounselingKeyError(RuntimeError):
    """The configured key is not the one the stored notes were encrypted with (or a value was
    altered). The message says how to migrate; pages show their own Chinese explanation."""

    def __init__(self, message: str = MISMATCH):
        super().__init__(message)


@dataclasses.dataclass(frozen=True)
class NotesKey:
    """A 256-bit key derived from the configured secret, and its fingerprint."""

    key: bytes
    fingerprint: str

    @classmethod
    def from_material(cls, material: str) -> "NotesKey":
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material.encode())
        return cls(key, hmac.new(key, _CHECK, hashlib.sha256).hexdigest())


def key_material(settings: Settings) -> str:
    # Outside production (where the key is required) the secret key stands in, like PORTAL_DATA_KEY.
    return settings.counseling_key or f"derived-from-secret:{settings.secret_key}"


_KEYS: dict[str, NotesKey] = {}


def key_for(settings: Settings) -> NotesKey:
    material = key_material(settings)
    key = _KEYS.get(material)
    if key is None:
        key = _KEYS[material] = NotesKey.from_material(material)
    return key


@dataclasses.dataclass(frozen=True)
class Cipher:
    """Encrypts and decrypts with one key of a known generation."""

    key: NotesKey
    generation: int

    def encrypt(self, plaintext: str, context: str) -> str:
        if not plaintext:
            return ""  # nothing written (or erased): stays empty, nothing to hide
        nonce = os.urandom(12)
        sealed = AESGCM(self.key.key).encrypt(nonce, plaintext.encode(), context.encode())
        return f"k{self.generation}:" + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def decrypt(self, token: str, context: str) -> str:
        if not token:
            return ""
        kid, _sep, body = token.partition(":")
        if kid != f"k{self.generation}":
            raise CounselingKeyError()
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return AESGCM(self.key.key).decrypt(blob[:12], blob[12:], context.encode()).decode()
        except (InvalidTag, ValueError, binascii.Error):
            raise CounselingKeyError() from None

    def encrypt_json(self, value: Any, context: str) -> str:
        return self.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")), context)

    def decrypt_json(self, token: str, context: str, default: Any = None) -> Any:
        text = self.decrypt(token, context)
        return json.loads(text) if text else default


# ----------------------------------------------------------------------------- the keyring row


async def _keyring() -> dict | None:
    rows = await raw("SELECT generation, fingerprint FROM counseling_keyring WHERE slot = {}", SLOT)
    return rows[0] if rows else None


async def check_key(settings: Settings) -> Cipher:
    """The cipher for the configured key; raises ``CounselingKeyError`` when the stored fingerprint
    belongs to another key. Without a keyring row nothing has been encrypted yet."""
    key = key_for(settings)
    row = await _keyring()
    if row is None:
        return Cipher(key, 1)
    if not hmac.compare_digest(row["fingerprint"], key.fingerprint):
        raise CounselingKeyError()
    return Cipher(key, int(row["generation"]))


async def ensure_keyring(settings: Settings) -> Cipher:
    """``check_key``, recording the key's fingerprint first if none is stored (the first start,
    or the first note). Two processes starting at once record one row (unique slot)."""
    key = key_for(settings)
    if await _keyring() is None:
        async with write_transaction():
            await raw(
                "INSERT INTO counseling_keyring (slot, generation, fingerprint, created_at, rotated_at) "
                "VALUES ({}, 1, {}, {}, NULL) ON CONFLICT (slot) DO NOTHING",
                SLOT, key.fingerprint, clock.now(),
            )
    return await check_key(settings)


async def open_cipher(settings: Settings) -> Cipher:
    """What every read and write of notes starts with (one indexed read of the keyring)."""
    return await ensure_keyring(settings)


# ----------------------------------------------------------------------------- rotation


@dataclasses.dataclass(frozen=True)
class EncryptedColumn:
    """A column holding ``Cipher`` tokens; ``context`` is formatted with the row (its associated data)."""

    table: str
    column: str
    context: str  # e.g. "session:{case}"
    fields: tuple[str, ...]  # the row's columns ``context`` needs

    def context_of(self, row: dict) -> str:
        return self.context.format(**row)


# Every encrypted column of the module: rotation walks exactly these.
ENCRYPTED: list[EncryptedColumn] = [
    EncryptedColumn("counseling_case", "client_label", "case:{id}", ("id",)),
    EncryptedColumn("counseling_session", "notes", "session:{case_id}", ("case_id",)),
    EncryptedColumn("counseling_referral", "details", "referral:{case_id}", ("case_id",)),
    EncryptedColumn("counseling_review", "reason", "review:{case_id}", ("case_id",)),
    EncryptedColumn("counseling_screening", "answers", "screening:{booking}", ("booking",)),
    EncryptedColumn("counseling_crisis", "reason", "crisis:{id}", ("id",)),
    EncryptedColumn("counseling_crisis", "closing_note", "crisis-closing:{id}", ("id",)),
    EncryptedColumn("counseling_crisis_step", "note", "crisis-step:{crisis}", ("crisis",)),
]

BATCH = 500


@dataclasses.dataclass(frozen=True)
class Rotated:
    values: int
    generation: int


async def rotate(old_material: str, settings: Settings, trail=None) -> Rotated:
    """Re-encrypt every value from ``old_material``'s key to the configured one, in one transaction.

    Refuses (``CounselingKeyError``) when the old key is not the one the data was encrypted with,
    and (``ValueError``) when old and new are the same key. Nothing changes unless all succeeds.
    """
    old_key = NotesKey.from_material(old_material)
    new_key = key_for(settings)
    if hmac.compare_digest(old_key.fingerprint, new_key.fingerprint):
        raise ValueError("新旧密钥相同：无需迁移")
    count = 0
    async with write_transaction():
        rows = await raw("SELECT generation, fingerprint FROM counseling_keyring WHERE slot = {}", SLOT)
        if rows and not hmac.compare_digest(rows[0]["fingerprint"], old_key.fingerprint):
            raise CounselingKeyError("--old 给出的密钥与已加密数据不符：请给出加密这些记录时使用的 PORTAL_COUNSELING_KEY")
        generation = int(rows[0]["generation"]) if rows else 1
        old, new = Cipher(old_key, generation), Cipher(new_key, generation + 1)
        for spec in ENCRYPTED:
            names = ", ".join(dict.fromkeys(("id", *spec.fields, spec.column)))
            last = 0
            while True:
                batch = await raw(
                    f"SELECT {names} FROM {spec.table} WHERE id > {{}} AND {spec.column} <> '' ORDER BY id LIMIT {BATCH}",
                    last,
                )
                if not batch:
                    break
                for row in batch:
                    context = spec.context_of(row)
                    value = new.encrypt(old.decrypt(row[spec.column], context), context)
                    await raw(f"UPDATE {spec.table} SET {spec.column} = {{}} WHERE id = {{}}", value, row["id"])
                    count += 1
                last = batch[-1]["id"]
        now = clock.now()
        if rows:
            await raw("UPDATE counseling_keyring SET generation = {}, fingerprint = {}, rotated_at = {} WHERE slot = {}",
                      generation + 1, new_key.fingerprint, now, SLOT)
        else:
            await raw("INSERT INTO counseling_keyring (slot, generation, fingerprint, created_at, rotated_at) "
                      "VALUES ({}, {}, {}, {}, {})", SLOT, generation + 1, new_key.fingerprint, now, now)
        if trail is not None:
            await trail("counseling.key_rotated", object_type="counseling_keyring", object_id=generation + 1,
                        fields=tuple(f"{s.table}.{s.column}" for s in ENCRYPTED))
    return Rotated(values=count, generation=generation + 1)


# ----------------------------------------------------------------------------- start-up and the CLI


async def startup_check(app) -> None:
    """The ``startup`` hook: refuse to serve with a missing (production) or mismatching key.

    The pool is already open when start-up hooks run; it is closed before raising so the refused
    process exits instead of waiting on idle connections.
    """
    from portal.db import stop_engine
    from portal.settings import SettingsError

    settings = app.state.settings
    try:
        if settings.production and not settings.counseling_key:
            raise SettingsError("production refuses to start: set PORTAL_COUNSELING_KEY (encrypts counseling notes; "
                                "keep it outside the database)")
        await ensure_keyring(settings)
    except (SettingsError, CounselingKeyError):
        await stop_engine(app.state.engine)
        raise


def register_commands(cli) -> None:
    """``portal counseling rotate-key --old OLD``: re-encrypt every note with PORTAL_COUNSELING_KEY."""
    import asyncio
    import sys

    import click

    @cli.group("counseling")
    def counseling() -> None:
        """Counseling module (心理咨询): the notes key."""

    @counseling.command("rotate-key")
    @click.option("--old", "old", required=True,
                  help="The key the notes are encrypted with now ('-' reads it from standard input, keeping it out of "
                       "the shell history). The new key is PORTAL_COUNSELING_KEY.")
    def rotate_key(old: str) -> None:
        """Re-encrypt every counseling note from the old key to PORTAL_COUNSELING_KEY, in one transaction."""
        from portal.audit.chain import Actor, AuditTrail
        from portal.crypto import audit_key
        from portal.db import bind_engine, make_engine
        from portal.settings import SettingsError

        if old == "-":
            old = sys.stdin.readline().strip()
        if not old:
            raise click.ClickException("--old 不能为空")
        settings = Settings.from_env()
        try:
            settings.check()
        except SettingsError as problem:
            raise click.ClickException(str(problem)) from None
        bind_engine(make_engine(settings))
        trail = AuditTrail(audit_key(settings), Actor(name="cli:counseling rotate-key", roles="cli"))
        try:
            result = asyncio.run(rotate(old, settings, trail))
        except (CounselingKeyError, ValueError) as problem:
            raise click.ClickException(str(problem)) from None
        click.echo(f"已用新密钥重新加密 {result.values} 项咨询记录（密钥编号 k{result.generation}），指纹已更新")
