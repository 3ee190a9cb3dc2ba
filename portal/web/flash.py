"""Flash messages in a short-lived signed cookie: they survive the redirect of Post/Redirect/Get
without a server-side session, and a forged cookie is ignored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from litestar import Request, Response
from litestar.datastructures import Cookie

__all__ = ["COOKIE", "add_flash", "read_flashes"]

COOKIE = "portal_flash"


def _sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()[:32]


def add_flash(response: Response, secret: str, message: str, category: str = "success") -> Response:
    payload = base64.urlsafe_b64encode(json.dumps([[category, message]], ensure_ascii=False).encode())
    value = f"{payload.decode()}.{_sign(secret, payload)}"
    response.cookies.append(Cookie(key=COOKIE, value=value, path="/", httponly=True, samesite="lax", max_age=60))
    return response


def read_flashes(request: Request, secret: str) -> list[tuple[str, str]]:
    value = request.cookies.get(COOKIE)
    if not value or "." not in value:
        return []
    payload, signature = value.rsplit(".", 1)
    if not hmac.compare_digest(signature, _sign(secret, payload.encode())):
        return []
    try:
        return [(str(c), str(m)) for c, m in json.loads(base64.urlsafe_b64decode(payload))]
    except (ValueError, TypeError):
        return []
