"""Admin pages of the one-stop window: working calendar overrides and per-center time limits."""

from __future__ import annotations

__all__ = ["ROUTES"]

ROUTES: list = []
