"""Response headers every answer carries (SEC-HDR-01), set once in ``before_send``."""

from __future__ import annotations

import uuid

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

__all__ = ["CSP", "make_security_headers"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; media-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def make_security_headers(hsts: bool):
    async def security_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        headers.setdefault("Content-Security-Policy", CSP)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers.setdefault("Permissions-Policy", "geolocation=(), payment=(), usb=()")
        if hsts:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        state = scope.setdefault("state", {})
        headers["X-Request-ID"] = state.setdefault("request_id", uuid.uuid4().hex[:16])
        if (headers.get("content-type") or "").startswith("text/html"):
            # Pages carry personal data: never store them in shared caches or the back-forward cache.
            headers.setdefault("Cache-Control", "no-store")
            headers["Vary"] = "HX-Request, Cookie"

    return security_headers
