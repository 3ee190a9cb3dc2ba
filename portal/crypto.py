"""Field encryption and keyed hashes. Keys come from settings (the environment), never the DB."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken

from portal.settings import Settings

__all__ = ["FieldCipher", "audit_key", "token_hash"]


def _derive(material: str, purpose: str) -> bytes:
    return hashlib.sha256(f"{purpose}:{material}".encode()).digest()


class FieldCipher:
    """Fernet (AES-128-CBC + HMAC-SHA256) for sensitive columns such as TOTP secrets."""

    def __init__(self, settings: Settings):
        material = settings.data_key or settings.secret_key
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(material, "field-encryption")))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str | None:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except (InvalidToken, ValueError):
            return None


def audit_key(settings: Settings) -> bytes:
    return settings.audit_key.encode() if settings.audit_key else _derive(settings.secret_key, "audit-chain")


def token_hash(token: str) -> str:
    """Session tokens are stored as SHA-256: 256 random bits need no slow hash or salt."""
    return hashlib.sha256(token.encode()).hexdigest()


def hmac_hex(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
