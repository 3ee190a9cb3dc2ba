"""The signed-in staff member as every request sees it (loaded once per request)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from portal.audit.chain import Actor

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    session_id: int
    stage: str
    user_id: int
    username: str
    display_name: str
    center_id: int
    center_code: str
    center_name: str
    center_level: str
    center_path: str
    department_id: int | None
    roles: frozenset[str]
    permissions: frozenset[str]
    modules: frozenset[str]  # modules enabled at the user's center
    is_demo: bool
    expires_at: dt.datetime
    # In-app messages not yet read, for the nav's 「消息（N 条未读）」: counted in the session query,
    # so the nav of every staff page costs no query of its own.
    unread_messages: int = 0

    @property
    def signed_in(self) -> bool:
        return self.stage == "full"

    def can(self, permission: str | None) -> bool:
        return permission is None or permission in self.permissions

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    def actor(self, ip: str = "", request_id: str = "") -> Actor:
        return Actor(
            user_id=self.user_id,
            name=self.username,
            roles=",".join(sorted(self.roles)),
            center_id=self.center_id,
            ip=ip,
            request_id=request_id,
        )
