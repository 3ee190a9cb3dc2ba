"""Staff pages of the one-stop window."""

from __future__ import annotations

__all__ = ["ROUTES"]

ROUTES: list = []
