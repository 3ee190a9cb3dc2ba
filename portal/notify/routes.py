"""The development SMS outbox page (demo mode) for staff."""

from __future__ import annotations

__all__ = ["ROUTES"]

ROUTES: list = []
