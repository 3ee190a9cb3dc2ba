"""Tables of the appointments engine: resources, their opening hours, bookings, slot claims, waitlist.

Times of bookings are UTC ``timestamptz``; opening rules are minutes after local midnight
(Asia/Shanghai), because "9:00–12:00 every Monday" is a wall-clock rule. ``booking_claim`` holds one
row per resource and 5-minute unit a booking occupies: its unique (resource, minute) index is the
backstop that keeps a resource out of two bookings at once, across every service. Composite
uniques and partial indexes are raw SQL in the migration.
"""

from __future__ import annotations

from piccolo.columns import Boolean, Date, ForeignKey, Integer, OnDelete, Timestamptz, Varchar
from piccolo.table import Table

from portal.citizens.tables import Citizen
from portal.tables import Center, StaffUser

__all__ = [
    "Booking",
    "BookingClaim",
    "BookingException",
    "BookingResource",
    "BookingRule",
    "ResourceService",
    "WaitlistEntry",
]


class BookingResource(Table, tablename="booking_resource"):
    """A person (lawyer, counselor, leader…) or a room that services are booked with, at one center."""

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict, index=True)
    kind = Varchar(length=8, default="person")  # person | room
    name = Varchar(length=64)
    staff = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict, index=True)
    role = Varchar(length=32, default="")  # the role that provides the service (lawyer, counselor, leader)
    active = Boolean(default=True)
    # SHA-256 of the calendar feed's secret; empty = no feed.
    feed_token_hash = Varchar(length=64, default="", index=True)
    created_at = Timestamptz()


class ResourceService(Table, tablename="booking_resource_service"):
    """Which resource provides which service (unique pair in the migration)."""

    resource = ForeignKey(references=BookingResource, on_delete=OnDelete.cascade, index=True)
    service_key = Varchar(length=64, index=True)


class BookingRule(Table, tablename="booking_rule"):
    """Weekly opening hours: on ``weekday`` (0 = Monday) from ``start_minute`` to ``end_minute`` local."""

    resource = ForeignKey(references=BookingResource, on_delete=OnDelete.cascade, index=True)
    weekday = Integer()
    start_minute = Integer()
    end_minute = Integer()


class BookingException(Table, tablename="booking_exception"):
    """A dated exception: closed all day, or extra opening hours (``closed`` false) on ``day``."""

    resource = ForeignKey(references=BookingResource, on_delete=OnDelete.cascade, index=True)
    day = Date()
    closed = Boolean(default=True)
    start_minute = Integer(default=0)
    end_minute = Integer(default=0)
    note = Varchar(length=100, default="")


class Booking(Table, tablename="booking"):
    """One appointment. ``status``: held (a waitlist offer) | booked | checked_in | no_show | cancelled | expired."""

    code = Varchar(length=8, unique=True)  # the short code shown on arrival
    center = ForeignKey(references=Center, on_delete=OnDelete.restrict, index=True)
    resource = ForeignKey(references=BookingResource, on_delete=OnDelete.restrict)  # indexed with starts_at
    service_key = Varchar(length=64, index=True)
    starts_at = Timestamptz(index=True)
    ends_at = Timestamptz()
    citizen = ForeignKey(references=Citizen, null=True, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=64, default="")
    phone = Varchar(length=16, default="")
    note = Varchar(length=200, default="")
    channel = Varchar(length=8, default="online")  # online | walk_in
    status = Varchar(length=12, default="booked", index=True)
    hold_expires_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    changed_at = Timestamptz(null=True, default=None)
    cancelled_at = Timestamptz(null=True, default=None)
    cancel_reason = Varchar(length=200, default="")
    checked_in_at = Timestamptz(null=True, default=None)
    no_show_at = Timestamptz(null=True, default=None)
    reminded_at = Timestamptz(null=True, default=None)
    version = Integer(default=1)


class BookingClaim(Table, tablename="booking_claim"):
    """A resource's 5-minute unit taken by a slot (``minute`` = UTC minutes since the epoch).

    ``taken`` counts the bookings sharing the slot (a group session has ``capacity`` seats); a unit
    is shared only by bookings of the same service and the same slot start.
    """

    resource = ForeignKey(references=BookingResource, on_delete=OnDelete.cascade)
    minute = Integer()
    slot_minute = Integer()
    service_key = Varchar(length=64)
    capacity = Integer(default=1)
    taken = Integer(default=1)


class WaitlistEntry(Table, tablename="booking_waitlist"):
    """A citizen waiting for a slot of a service at a center. ``status``: waiting | offered | booked | left."""

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict, index=True)
    service_key = Varchar(length=64)
    citizen = ForeignKey(references=Citizen, on_delete=OnDelete.restrict, index=True)
    status = Varchar(length=8, default="waiting")
    offer = ForeignKey(references=Booking, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
