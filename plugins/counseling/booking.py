"""Counselors as booking resources, the counseling services, the center's settings, and who may
see which counseling booking.

Counseling is booked through the appointments engine (portal/bookings): a counselor is a
``BookingResource`` (role ``counselor``, linked to the counselor's staff account) providing the
services below; weekly hours and exceptions are kept on the engine's own resource pages. The
services are ``discreet`` (messages say only "an appointment at the center") and
``anonymous_allowed`` (the booking's ``name`` holds whatever name or pseudonym the person gives;
a mobile number is all that is required).

Access (plan for every loader below: out of scope is 404, never 403):

* a counselor sees the counseling bookings of resources linked to their own account;
* a citizen sees the counseling bookings made with their account or their verified phone number;
* ``counseling.supervise`` is granted to the counselor role, but only counselors the center
  designates (``counseling_supervisor``) may use it: ``is_supervisor`` checks both.
"""

from __future__ import annotations

from litestar.exceptions import NotFoundException

from portal import clock
from portal.auth.principal import Principal
from portal.db import raw, read
from portal.plugin_api import Service

from plugins.counseling.tables import CONSENT_VERSION, DEFAULT_RETENTION_DAYS

__all__ = [
    "FIRST",
    "FOLLOW_UP",
    "GROUP",
    "SERVICES",
    "SERVICE_KEYS",
    "center_counselors",
    "citizen_booking",
    "citizen_bookings",
    "citizen_for_phone",
    "counselor_booking",
    "counselor_bookings",
    "crisis_contacts",
    "ensure_resource",
    "is_crisis_contact",
    "is_supervisor",
    "load_booking",
    "load_settings",
    "supervisors",
]

FIRST = "counseling.first"
FOLLOW_UP = "counseling.follow_up"
GROUP = "counseling.group"
CONSENT_URL = "/m/counseling/c/{center_code}/consent/{booking_id}"

_COMMON = dict(provider_role="counselor", anonymous_allowed=True, discreet=True)
SERVICES = (
    Service(FIRST, "首次咨询", duration_minutes=50, next_step_label="阅读并确认知情同意书", next_step_url=CONSENT_URL, **_COMMON),
    Service(FOLLOW_UP, "后续咨询", duration_minutes=50, **_COMMON),
    Service(GROUP, "团体辅导", duration_minutes=90, capacity=8, **_COMMON),
)
SERVICE_KEYS = tuple(s.key for s in SERVICES)
SERVICE_LABELS = {s.key: s.label for s in SERVICES}
_KEYS_SQL = ", ".join(f"'{key}'" for key in SERVICE_KEYS)  # constants, not input


# ----------------------------------------------------------------------------- settings


async def load_settings(center_id: int) -> dict:
    """The center's counseling settings (defaults when it has saved none), with the phone citizens
    are given: the counseling room's own, else the center's."""
    rows = await raw("SELECT * FROM counseling_settings WHERE center = {}", center_id)
    center = (await raw("SELECT phone FROM center WHERE id = {}", center_id))[0]
    settings = rows[0] if rows else {"center": center_id, "retention_days": DEFAULT_RETENTION_DAYS,
                                     "consent_version": CONSENT_VERSION, "phone": ""}
    return {**settings, "contact_phone": settings["phone"] or center["phone"]}


async def center_counselors(center_id: int) -> list[dict]:
    """Active staff of the center with the counselor role, with their booking resource (if any)."""
    return await raw(
        "SELECT s.id, s.display_name, s.username, r.id AS resource_id, r.active AS resource_active "
        "FROM staff_user s JOIN staff_role sr ON sr.\"user\" = s.id AND sr.role = 'counselor' "
        "LEFT JOIN booking_resource r ON r.staff = s.id AND r.center = s.center AND r.role = 'counselor' "
        "WHERE s.center = {} AND s.active ORDER BY s.display_name, s.id",
        center_id,
    )


async def supervisors(center_id: int) -> list[dict]:
    return await raw(
        "SELECT v.id, v.staff, s.display_name FROM counseling_supervisor v JOIN staff_user s ON s.id = v.staff "
        "WHERE v.center = {} ORDER BY s.display_name", center_id,
    )


async def crisis_contacts(center_id: int) -> list[dict]:
    return await raw(
        "SELECT k.id, k.staff, k.phone, s.display_name FROM counseling_crisis_contact k JOIN staff_user s ON s.id = k.staff "
        "WHERE k.center = {} AND s.active ORDER BY s.display_name", center_id,
    )


async def is_supervisor(user: Principal, center_id: int | None = None) -> bool:
    """The permission *and* the center's designation (of the user's own center by default)."""
    if not user.can("counseling.supervise"):
        return False
    rows = await read("SELECT 1 AS ok FROM counseling_supervisor WHERE center = {} AND staff = {}",
                     center_id if center_id is not None else user.center_id, user.user_id)
    return bool(rows)


async def is_crisis_contact(user: Principal, center_id: int) -> bool:
    rows = await read("SELECT 1 AS ok FROM counseling_crisis_contact WHERE center = {} AND staff = {}", center_id, user.user_id)
    return bool(rows)


async def ensure_resource(trail, center_id: int, staff: dict) -> int:
    """The counselor's booking resource at the center, created (providing every counseling service)
    when missing; call inside the caller's write_transaction()."""
    rows = await raw("SELECT id FROM booking_resource WHERE center = {} AND staff = {} AND role = 'counselor'",
                     center_id, staff["id"])
    if rows:
        return rows[0]["id"]
    rows = await raw(
        "INSERT INTO booking_resource (center, kind, name, staff, role, active, feed_token_hash, created_at) "
        "VALUES ({}, 'person', {}, {}, 'counselor', TRUE, '', {}) RETURNING id",
        center_id, staff["display_name"][:64], staff["id"], clock.now(),
    )
    resource_id = rows[0]["id"]
    for key in SERVICE_KEYS:
        await raw("INSERT INTO booking_resource_service (resource, service_key) VALUES ({}, {})", resource_id, key)
    await trail("booking_resource.created", object_type="booking_resource", object_id=resource_id, center_id=center_id)
    return resource_id


# ----------------------------------------------------------------------------- bookings


async def load_booking(booking_id: int) -> dict | None:
    """A counseling booking with its center and the staff member of its resource (the counselor)."""
    rows = await raw(
        "SELECT b.*, r.staff AS counselor, r.name AS resource_name, c.code AS center_code, c.name AS center_name, "
        "c.path AS center_path FROM booking b JOIN booking_resource r ON r.id = b.resource JOIN center c ON c.id = b.center "
        f"WHERE b.id = {{}} AND b.service_key IN ({_KEYS_SQL})",
        booking_id,
    )
    return rows[0] if rows else None


async def counselor_booking(user: Principal, booking_id: int) -> dict:
    """The booking if it is with a resource linked to this counselor, else 404."""
    booking = await load_booking(booking_id)
    if booking is None or not user.can("counseling.counsel") or booking["counselor"] != user.user_id:
        raise NotFoundException()
    return booking


async def citizen_booking(citizen_id: int, center: dict, booking_id: int) -> dict:
    """The booking if it is at this center and was made with this citizen's account or verified
    phone number (staff may book for a phone number before the citizen has an account), else 404."""
    booking = await load_booking(booking_id)
    if booking is None or booking["center"] != center["id"]:
        raise NotFoundException()
    if booking["citizen"] != citizen_id:
        phone = (await raw("SELECT phone FROM citizen WHERE id = {}", citizen_id))[0]["phone"]
        if not booking["phone"] or booking["phone"] != phone:
            raise NotFoundException()
    return booking


async def citizen_bookings(citizen_id: int, center_id: int) -> list[dict]:
    """The citizen's counseling bookings at a center, newest first."""
    phone = (await raw("SELECT phone FROM citizen WHERE id = {}", citizen_id))[0]["phone"]
    return await raw(
        "SELECT b.*, k.consented_at, s.submitted_at FROM booking b "
        "LEFT JOIN counseling_consent k ON k.booking = b.id LEFT JOIN counseling_screening s ON s.booking = b.id "
        f"WHERE b.center = {{}} AND b.service_key IN ({_KEYS_SQL}) AND (b.citizen = {{}} OR b.phone = {{}}) "
        "AND b.status IN ('booked', 'checked_in', 'no_show', 'cancelled') ORDER BY b.starts_at DESC LIMIT 50",
        center_id, citizen_id, phone,
    )


async def counselor_bookings(user: Principal, since, until, limit: int = 200) -> list[dict]:
    """This counselor's counseling bookings between two instants, with consent, screening and
    open crisis flags."""
    return await raw(
        "SELECT b.*, c.name AS center_name, k.consented_at, s.submitted_at, "
        "(SELECT count(*) FROM counseling_crisis x WHERE x.booking = b.id AND x.status = 'open') AS open_crises "
        "FROM booking b JOIN booking_resource r ON r.id = b.resource JOIN center c ON c.id = b.center "
        "LEFT JOIN counseling_consent k ON k.booking = b.id LEFT JOIN counseling_screening s ON s.booking = b.id "
        f"WHERE r.staff = {{}} AND b.service_key IN ({_KEYS_SQL}) AND b.starts_at >= {{}} AND b.starts_at < {{}} "
        "AND b.status IN ('booked', 'checked_in', 'no_show') ORDER BY b.starts_at LIMIT {}",
        user.user_id, since, until, limit,
    )


async def citizen_for_phone(phone: str) -> int | None:
    rows = await raw("SELECT id FROM citizen WHERE phone = {}", phone)
    return rows[0]["id"] if rows else None

