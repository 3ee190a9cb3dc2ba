"""Counselors as booking resources, the counseling services, and who may see what.

Counseling is booked through the appointments engine (portal/bookings): a counselor is a
``BookingResource`` with role ``counselor`` providing the services below.
"""

from __future__ import annotations

from portal.plugin_api import Service

FIRST = "counseling.first"
FOLLOW_UP = "counseling.follow_up"
GROUP = "counseling.group"

SERVICES = (
    Service(FIRST, "首次咨询", duration_minutes=50, provider_role="counselor", anonymous_allowed=True),
    Service(FOLLOW_UP, "后续咨询", duration_minutes=50, provider_role="counselor", anonymous_allowed=True),
    Service(GROUP, "团体辅导", duration_minutes=90, capacity=8, provider_role="counselor", anonymous_allowed=True),
)
SERVICE_KEYS = frozenset(s.key for s in SERVICES)
