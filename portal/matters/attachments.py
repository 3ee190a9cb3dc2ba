"""Attachments: images and PDF, type decided by content (not name), stored outside the web root
under their SHA-256 so one file uploaded twice is stored once."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from portal.i18n import _

__all__ = ["MAX_BYTES", "MAX_FILES", "sniff", "store", "path_for", "AttachmentError"]

MAX_BYTES = 5 * 1024 * 1024
MAX_FILES = 5
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)


class AttachmentError(ValueError):
    pass


def sniff(head: bytes) -> str | None:
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def path_for(data_dir: Path, sha256: str) -> Path:
    return data_dir / "attachments" / sha256[:2] / sha256


def store(data_dir: Path, content: bytes) -> tuple[str, str]:
    """Check and write the file; returns (sha256, content type). Raises AttachmentError."""
    if not content:
        raise AttachmentError(_("The file is empty. Choose the file again."))
    if len(content) > MAX_BYTES:
        raise AttachmentError(_("The file is larger than 5 MB. Take a smaller photo or split the PDF."))
    content_type = sniff(content[:16])
    if content_type is None:
        raise AttachmentError(_("The file must be a photo (JPG, PNG, WebP) or a PDF; its content is neither."))
    digest = hashlib.sha256(content).hexdigest()
    target = path_for(data_dir, digest)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(content)
        os.replace(temporary, target)  # atomic: a reader never sees half a file
    return digest, content_type
