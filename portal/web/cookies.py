"""The session cookie, the same for staff and citizens (only the name differs)."""

from __future__ import annotations

from litestar.datastructures import Cookie

__all__ = ["session_cookie"]


def session_cookie(name: str, token: str | None, *, secure: bool) -> Cookie:
    """Set ``token`` (a session cookie: gone when the browser closes), or clear it when None."""
    return Cookie(key=name, value=token or "", path="/", httponly=True, secure=secure, samesite="lax",
                  max_age=None if token else 0)
