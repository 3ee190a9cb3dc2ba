"""Citizen sign-in pages (phone + SMS code) and the citizen's messages."""

from __future__ import annotations

__all__ = ["ROUTES"]

ROUTES: list = []
