"""Every change to a booking, each in one ``write_transaction()``.

Booking a slot (security.md §6.1): inside the transaction the citizen row (per-citizen limit)
and the resource row are locked on PostgreSQL (``FOR UPDATE``; SQLite's IMMEDIATE transaction
already serialises writers), the slot's units are re-read, then claimed with one conditional
upsert on ``booking_claim`` whose unique (resource, minute) index is the backstop: if fewer units
come back than were asked for, the slot was taken and the whole transaction rolls back as
``SlotTaken`` — never a half-claimed slot, never an error page. The booking row, the SMS and
in-app messages, the audit row and the ``booking_event`` commit together or not at all.

A freed slot (cancel, change, expired offer) is offered in the same transaction to the first
citizen on the service's waitlist: a *held* booking claims it for ``OFFER_MINUTES``; accepting
turns it into a booking, expiry passes it on.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from portal import clock
from portal.audit.chain import AuditTrail
from portal.bookings import availability as av
from portal.bookings.catalog import service_by_key
from portal.centers.modules import enabled_modules
from portal.db import current_engine, raw, write_transaction
from portal.i18n import _
from portal.notify.outbox import queue_inapp, queue_sms
from portal.plugin_api import CenterRef, Service
from portal.web.forms import normalize_phone

__all__ = [
    "BookingError",
    "Ctx",
    "NO_SHOW_GRACE_MINUTES",
    "OFFER_MINUTES",
    "SlotTaken",
    "accept_offer",
    "book",
    "cancel",
    "check_slot",
    "change",
    "check_in",
    "expire_offers",
    "join_waitlist",
    "leave_waitlist",
    "mark_no_shows",
    "message_label",
    "send_reminders",
]

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud at the counter
OFFER_MINUTES = 120  # how long a waitlist offer holds the slot
OFFER_MIN_LEAD = 30  # no offer for a slot starting sooner than this
NO_SHOW_GRACE_MINUTES = 15
CHECK_IN_AHEAD_HOURS = 12  # arrival, not a booking made days ahead
OPEN = ("held", "booked")


class BookingError(Exception):
    """A request the rules do not allow; ``message`` is shown on the same form, at ``field``."""

    def __init__(self, message: str, field: str = "slot"):
        super().__init__(message)
        self.message = message
        self.field = field


class SlotTaken(BookingError):
    """Someone else took the slot first (「该时段刚被约满」)."""

    def __init__(self) -> None:
        super().__init__(_("This time has just been fully booked."), "slot")


@dataclass(frozen=True)
class Ctx:
    trail: AuditTrail
    registry: Any = None
    user_id: int | None = None


def _pg() -> bool:
    return current_engine().engine_type == "postgres"


def _dt(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def message_label(service: Service | None, key: str = "") -> str:
    """What messages call the service: a discreet one (counseling) is only "an appointment at the
    center", since an SMS is read over shoulders and on shared phones."""
    if service is None:
        return key
    return _("an appointment at the center") if service.discreet else service.label


def when_text(booking: dict, service: Service | None = None) -> str:
    """「12月1日 上午 9:00–9:30」 for messages."""
    start = av.to_minute(_dt(booking["starts_at"]))
    end = av.to_minute(_dt(booking["ends_at"]))
    day = av.day_of(start)
    return f"{day.month}月{day.day}日 {av.slot_label(start, end - start)}"


async def _center(center_id: int) -> dict:
    rows = await raw("SELECT id, code, name, level, path, phone, address FROM center WHERE id = {}", center_id)
    return rows[0]


async def _emit(ctx: Ctx, event: str, booking: dict, center: dict) -> None:
    if ctx.registry is None:
        return
    enabled = await enabled_modules(center["id"])
    await ctx.registry.emit("booking_event", enabled, event=event, booking=dict(booking),
                            center=CenterRef.from_row(center), actor=ctx.trail.actor)


async def _tell(booking: dict, center: dict, text: str, kind: str) -> None:
    """SMS to the booking's mobile number (if any) and an in-app message to the citizen (if any)."""
    phone = normalize_phone(booking.get("phone") or "")
    if phone:
        await queue_sms(phone, f"【{center['name']}】{text}", kind=kind, citizen=booking.get("citizen"), center=center["id"])
    if booking.get("citizen"):
        await queue_inapp(body=text, kind=kind, citizen=booking["citizen"], center=center["id"])


async def _load(booking_id: int, lock: bool = True) -> dict | None:
    suffix = " FOR UPDATE" if lock and _pg() else ""
    rows = await raw(f"SELECT * FROM booking WHERE id = {{}}{suffix}", booking_id)
    return rows[0] if rows else None


async def _new_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
        if not await raw("SELECT 1 FROM booking WHERE code = {}", code):
            return code


# ------------------------------------------------------------------------------ claims

def _units(service: Service, minute: int) -> list[int]:
    return list(range(minute, minute + av.span(service), av.UNIT))


async def _units_free(resource: int, service: Service, minute: int) -> bool:
    units = _units(service, minute)
    rows = await raw(
        "SELECT slot_minute, service_key, capacity, taken FROM booking_claim "
        "WHERE resource = {} AND minute >= {} AND minute < {}", resource, units[0], units[-1] + 1,
    )
    return all(r["slot_minute"] == minute and r["service_key"] == service.key and r["taken"] < r["capacity"] for r in rows)


async def _claim(resource: int, service: Service, minute: int) -> bool:
    units = _units(service, minute)
    values = ", ".join("({}, {}, {}, {}, {}, 1)" for _ in units)
    args: list[Any] = []
    for unit in units:
        args += [resource, unit, minute, service.key, service.capacity]
    rows = await raw(
        f"INSERT INTO booking_claim (resource, minute, slot_minute, service_key, capacity, taken) VALUES {values} "
        "ON CONFLICT (resource, minute) DO UPDATE SET taken = booking_claim.taken + 1 "
        "WHERE booking_claim.slot_minute = excluded.slot_minute AND booking_claim.service_key = excluded.service_key "
        "AND booking_claim.taken < booking_claim.capacity RETURNING id",
        *args,
    )
    return len(rows) == len(units)


async def _release(booking: dict, service: Service) -> None:
    minute = av.to_minute(_dt(booking["starts_at"]))
    units = _units(service, minute)
    await raw(
        "UPDATE booking_claim SET taken = taken - 1 WHERE resource = {} AND minute >= {} AND minute < {} AND slot_minute = {}",
        booking["resource"], units[0], units[-1] + 1, minute,
    )
    await raw("DELETE FROM booking_claim WHERE resource = {} AND taken <= 0", booking["resource"])


async def check_slot(center_id: int, service: Service, minute: int, *, min_notice: bool = True) -> av.Search:
    """The one check of a chosen slot (check page and booking): raises ``BookingError`` with the
    reason, or ``SlotTaken`` when it is offered but full; returns that day's search."""
    now_minute = av.to_minute(clock.now())
    if minute <= now_minute:
        raise BookingError(_("That time has already passed. Choose another time."))
    day = av.day_of(minute)
    found = await av.search(center_id, service, first=day, days=1, min_notice=False)
    if day > found.latest_day:
        raise BookingError(_("You can book at most %(n)s days ahead.", n=service.booking_window_days))
    if minute not in found.offered:
        raise BookingError(_("That time is not offered: it is outside the opening hours. Choose one of the times listed."))
    if min_notice and minute < now_minute + service.min_notice_minutes:
        raise BookingError(_("Book at least %(n)s minutes ahead. Choose a later time.", n=service.min_notice_minutes))
    if not found.free_resources(minute):
        raise SlotTaken()
    return found


async def _take(center_id: int, service: Service, minute: int, *, min_notice: bool, resource: int | None = None) -> int:
    """Check the slot is offered and claim it on a free resource; returns the resource id."""
    found = await check_slot(center_id, service, minute, min_notice=min_notice)
    candidates = found.free_resources(minute)
    if resource is not None:
        candidates = [r for r in candidates if r == resource]
    for rid in candidates:
        if _pg():
            await raw("SELECT id FROM booking_resource WHERE id = {} FOR UPDATE", rid)
        if not await _units_free(rid, service, minute):
            continue
        if not await _claim(rid, service, minute):
            raise SlotTaken()  # the unique index caught a race the lock did not: roll everything back
        return rid
    raise SlotTaken()


async def _open_count(citizen_id: int, service_key: str, exclude: int | None = None) -> int:
    rows = await raw(
        "SELECT count(*) AS n FROM booking WHERE citizen = {} AND service_key = {} AND status = 'booked' "
        "AND starts_at > {} AND id <> {}",
        citizen_id, service_key, clock.now(), exclude or 0,
    )
    return rows[0]["n"]


async def _check_limit(citizen_id: int, service: Service, exclude: int | None = None) -> None:
    if _pg():
        await raw("SELECT id FROM citizen WHERE id = {} FOR UPDATE", citizen_id)
    if await _open_count(citizen_id, service.key, exclude) >= service.per_citizen_limit:
        raise BookingError(
            _("You already have %(n)s open booking(s) for this service. Change or cancel it instead of booking again.",
              n=service.per_citizen_limit), "service")


# ------------------------------------------------------------------------------ booking

async def book(
    ctx: Ctx,
    center_id: int,
    service: Service,
    minute: int,
    *,
    citizen_id: int | None,
    name: str = "",
    phone: str = "",
    note: str = "",
    channel: str = "online",
) -> dict:
    """Book ``minute`` (epoch minute of the slot start) at ``center_id``; returns the booking row."""
    async with write_transaction():
        if citizen_id is not None:
            await _check_limit(citizen_id, service)
        resource = await _take(center_id, service, minute, min_notice=channel == "online")
        booking = await _insert(center_id, service, minute, resource, citizen_id=citizen_id, name=name,
                                phone=phone, note=note, channel=channel, status="booked")
        center = await _center(center_id)
        if channel == "online":
            await _tell(booking, center, _("Booked: %(service)s, %(when)s. Show code %(code)s on arrival.",
                                           service=message_label(service), when=when_text(booking), code=booking["code"]),
                        "booking_booked")
        await ctx.trail("booking.booked", object_type="booking", object_id=booking["id"], center_id=center_id)
        await _emit(ctx, "booked", booking, center)
        return booking


async def _insert(center_id: int, service: Service, minute: int, resource: int, *, citizen_id, name, phone, note,
                  channel, status, hold_until=None) -> dict:
    now = clock.now()
    rows = await raw(
        "INSERT INTO booking (code, center, resource, service_key, starts_at, ends_at, citizen, name, phone, note, "
        "channel, status, hold_expires_at, created_at, changed_at, cancelled_at, cancel_reason, checked_in_at, "
        "no_show_at, reminded_at, version) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, NULL, NULL, "
        "'', NULL, NULL, NULL, 1) RETURNING *",
        await _new_code(), center_id, resource, service.key, av.from_minute(minute),
        av.from_minute(minute + service.duration_minutes), citizen_id, name[:64], phone[:16], note[:200],
        channel, status, hold_until, now,
    )
    return rows[0]


def _own(booking: dict | None, citizen_id: int | None) -> dict:
    if booking is None or (citizen_id is not None and booking["citizen"] != citizen_id):
        raise LookupError("no such booking")
    return booking


def _before_cutoff(booking: dict, service: Service) -> None:
    cutoff = _dt(booking["starts_at"]) - dt.timedelta(minutes=service.cancel_cutoff_minutes)
    if clock.now() > cutoff:
        raise BookingError(_("Changes are possible until %(n)s minutes before the appointment. Please call the center.",
                             n=service.cancel_cutoff_minutes), "reason")


async def change(ctx: Ctx, booking_id: int, minute: int, *, citizen_id: int | None, registry) -> dict:
    async with write_transaction():
        booking = _own(await _load(booking_id), citizen_id)
        service = service_by_key(registry, booking["service_key"])
        if booking["status"] != "booked" or service is None:
            raise BookingError(_("This booking can no longer be changed."))
        if citizen_id is not None:
            _before_cutoff(booking, service)
        old_minute = av.to_minute(_dt(booking["starts_at"]))
        if minute == old_minute:
            raise BookingError(_("That is the time you already have. Choose another time."))
        await _release(booking, service)
        resource = await _take(booking["center"], service, minute, min_notice=citizen_id is not None)
        rows = await raw(
            "UPDATE booking SET resource = {}, starts_at = {}, ends_at = {}, changed_at = {}, reminded_at = NULL, "
            "version = version + 1 WHERE id = {} AND status = 'booked' RETURNING *",
            resource, av.from_minute(minute), av.from_minute(minute + service.duration_minutes), clock.now(), booking_id,
        )
        updated = rows[0]
        center = await _center(booking["center"])
        await _tell(updated, center, _("Changed: %(service)s is now %(when)s. Your code %(code)s stays the same.",
                                       service=message_label(service), when=when_text(updated), code=updated["code"]),
                    "booking_changed")
        await ctx.trail("booking.changed", object_type="booking", object_id=booking_id, center_id=center["id"],
                        fields=["starts_at", "resource"])
        await _emit(ctx, "changed", updated, center)
        await _offer_freed(ctx, center, service, old_minute)
        return updated


async def cancel(ctx: Ctx, booking_id: int, reason: str, *, citizen_id: int | None, registry) -> dict:
    if not reason:
        raise BookingError(_("Give a reason for cancelling."), "reason")
    async with write_transaction():
        booking = _own(await _load(booking_id), citizen_id)
        service = service_by_key(registry, booking["service_key"])
        if booking["status"] != "booked" or service is None:
            raise BookingError(_("This booking can no longer be cancelled."), "reason")
        if citizen_id is not None:
            _before_cutoff(booking, service)
        rows = await raw(
            "UPDATE booking SET status = 'cancelled', cancelled_at = {}, cancel_reason = {}, version = version + 1 "
            "WHERE id = {} AND status = 'booked' RETURNING *", clock.now(), reason[:200], booking_id,
        )
        updated = rows[0]
        await _release(booking, service)
        center = await _center(booking["center"])
        await _tell(updated, center, _("Cancelled: %(service)s, %(when)s (code %(code)s).",
                                       service=message_label(service), when=when_text(updated), code=updated["code"]),
                    "booking_cancelled")
        await ctx.trail("booking.cancelled", object_type="booking", object_id=booking_id, center_id=center["id"])
        await _emit(ctx, "cancelled", updated, center)
        await _offer_freed(ctx, center, service, av.to_minute(_dt(booking["starts_at"])))
        return updated


async def check_in(ctx: Ctx, booking_id: int) -> dict:
    """Arrival (or correcting a no-show): booked | no_show → checked_in."""
    async with write_transaction():
        booking = await _load(booking_id)
        if booking is None:
            raise LookupError("no such booking")
        if booking["status"] == "checked_in":
            raise BookingError(_("Already checked in."), "code")
        if booking["status"] not in ("booked", "no_show"):
            raise BookingError(_("This booking was cancelled; it cannot be checked in."), "code")
        if booking["status"] == "booked" and _dt(booking["starts_at"]) - clock.now() > dt.timedelta(hours=CHECK_IN_AHEAD_HOURS):
            raise BookingError(_("This booking is for %(when)s; check-in opens on the day.", when=when_text(booking)), "code")
        rows = await raw(
            "UPDATE booking SET status = 'checked_in', checked_in_at = {}, no_show_at = NULL, version = version + 1 "
            "WHERE id = {} AND status IN ('booked', 'no_show') RETURNING *", clock.now(), booking_id,
        )
        center = await _center(booking["center"])
        await ctx.trail("booking.checked_in", object_type="booking", object_id=booking_id, center_id=center["id"],
                        fields=["status"] if booking["status"] == "no_show" else ())
        await _emit(ctx, "checked_in", rows[0], center)
        return rows[0]


# ------------------------------------------------------------------------------ waitlist

async def join_waitlist(ctx: Ctx, center_id: int, service: Service, citizen_id: int) -> bool:
    """Queue the citizen for the next freed slot; False when already waiting."""
    async with write_transaction():
        rows = await raw(
            "INSERT INTO booking_waitlist (center, service_key, citizen, status, offer, created_at) "
            "VALUES ({}, {}, {}, 'waiting', NULL, {}) "
            "ON CONFLICT (center, service_key, citizen) WHERE status IN ('waiting', 'offered') DO NOTHING RETURNING id",
            center_id, service.key, citizen_id, clock.now(),
        )
        if rows:
            await ctx.trail("booking.waitlist_joined", object_type="booking_waitlist", object_id=rows[0]["id"], center_id=center_id)
        return bool(rows)


async def leave_waitlist(ctx: Ctx, entry_id: int, citizen_id: int) -> None:
    async with write_transaction():
        rows = await raw(
            "UPDATE booking_waitlist SET status = 'left' WHERE id = {} AND citizen = {} AND status = 'waiting' RETURNING id",
            entry_id, citizen_id,
        )
        if rows:
            await ctx.trail("booking.waitlist_left", object_type="booking_waitlist", object_id=entry_id)


async def _offer_freed(ctx: Ctx, center: dict, service: Service, minute: int) -> None:
    """Offer a freed slot to the first waiting citizen who may take it (inside the caller's transaction)."""
    if minute < av.to_minute(clock.now()) + OFFER_MIN_LEAD:
        return
    waiting = await raw(
        "SELECT id, citizen FROM booking_waitlist WHERE center = {} AND service_key = {} AND status = 'waiting' ORDER BY id",
        center["id"], service.key,
    )
    for entry in waiting:
        if await _open_count(entry["citizen"], service.key) >= service.per_citizen_limit:
            continue  # they got a booking meanwhile; keep their place, offer to the next
        try:
            resource = await _take(center["id"], service, minute, min_notice=False)
        except SlotTaken:
            return
        hold_until = min(clock.now() + dt.timedelta(minutes=OFFER_MINUTES),
                         av.from_minute(minute) - dt.timedelta(minutes=OFFER_MIN_LEAD // 2))
        phone = (await raw("SELECT phone FROM citizen WHERE id = {}", entry["citizen"]))[0]["phone"]
        held = await _insert(center["id"], service, minute, resource, citizen_id=entry["citizen"], name="",
                             phone=phone, note="", channel="online", status="held", hold_until=hold_until)
        await raw("UPDATE booking_waitlist SET status = 'offered', offer = {} WHERE id = {}", held["id"], entry["id"])
        until = clock.local(hold_until)
        await _tell(held, center, _("A place is free: %(service)s, %(when)s. Sign in and accept it by %(until)s, or it goes to the next person.",
                                    service=message_label(service), when=when_text(held), until=until.strftime("%H:%M")),
                    "booking_offer")
        await ctx.trail("booking.offered", object_type="booking", object_id=held["id"], center_id=center["id"])
        return


async def accept_offer(ctx: Ctx, booking_id: int, citizen_id: int, registry) -> dict:
    async with write_transaction():
        booking = _own(await _load(booking_id), citizen_id)
        service = service_by_key(registry, booking["service_key"])
        if booking["status"] != "held" or _dt(booking["hold_expires_at"]) <= clock.now() or service is None:
            raise BookingError(_("This offer has expired and was passed to the next person. You are no longer on the waiting list for it."), "offer")
        await _check_limit(citizen_id, service, exclude=booking_id)
        rows = await raw(
            "UPDATE booking SET status = 'booked', hold_expires_at = NULL, version = version + 1 "
            "WHERE id = {} AND status = 'held' RETURNING *", booking_id,
        )
        await raw("UPDATE booking_waitlist SET status = 'booked' WHERE offer = {}", booking_id)
        center = await _center(booking["center"])
        updated = rows[0]
        await _tell(updated, center, _("Booked: %(service)s, %(when)s. Show code %(code)s on arrival.",
                                       service=message_label(service), when=when_text(updated), code=updated["code"]),
                    "booking_booked")
        await ctx.trail("booking.booked", object_type="booking", object_id=booking_id, center_id=center["id"])
        await _emit(ctx, "booked", updated, center)
        return updated


async def decline_offer(ctx: Ctx, booking_id: int, citizen_id: int, registry) -> None:
    async with write_transaction():
        booking = _own(await _load(booking_id), citizen_id)
        if booking["status"] != "held":
            return
        await _end_offer(ctx, booking, registry, "left")


async def _end_offer(ctx: Ctx, booking: dict, registry, entry_status: str) -> None:
    service = service_by_key(registry, booking["service_key"])
    rows = await raw("UPDATE booking SET status = 'expired', version = version + 1 WHERE id = {} AND status = 'held' RETURNING id",
                     booking["id"])
    if not rows or service is None:
        return
    await _release(booking, service)
    await raw("UPDATE booking_waitlist SET status = {} WHERE offer = {}", entry_status, booking["id"])
    center = await _center(booking["center"])
    await ctx.trail("booking.offer_ended", object_type="booking", object_id=booking["id"], center_id=center["id"])
    await _offer_freed(ctx, center, service, av.to_minute(_dt(booking["starts_at"])))


# ------------------------------------------------------------------------------ jobs

async def expire_offers(ctx: Ctx) -> int:
    """Offers past their time pass to the next person. Idempotent: each offer ends once."""
    due = await raw("SELECT id FROM booking WHERE status = 'held' AND hold_expires_at <= {} ORDER BY id", clock.now())
    done = 0
    for row in due:
        async with write_transaction():
            booking = await _load(row["id"])
            if booking and booking["status"] == "held":
                await _end_offer(ctx, booking, ctx.registry, "expired")
                done += 1
    return done


async def mark_no_shows(ctx: Ctx) -> int:
    """Bookings not checked in ``NO_SHOW_GRACE_MINUTES`` after their start become no-shows (once)."""
    cutoff = clock.now() - dt.timedelta(minutes=NO_SHOW_GRACE_MINUTES)
    due = await raw("SELECT id FROM booking WHERE status = 'booked' AND starts_at <= {} ORDER BY id", cutoff)
    done = 0
    for row in due:
        async with write_transaction():
            rows = await raw(
                "UPDATE booking SET status = 'no_show', no_show_at = {}, version = version + 1 "
                "WHERE id = {} AND status = 'booked' RETURNING *", clock.now(), row["id"],
            )
            if rows:
                center = await _center(rows[0]["center"])
                await ctx.trail("booking.no_show", object_type="booking", object_id=row["id"], center_id=center["id"])
                await _emit(ctx, "no_show", rows[0], center)
                done += 1
    return done


async def send_reminders(ctx: Ctx) -> int:
    """An SMS the day before (local calendar day), claimed per booking so it is never sent twice."""
    today = av.day_of(av.to_minute(clock.now()))
    tomorrow = today + dt.timedelta(days=1)
    low = av.from_minute(av.local_day_start(tomorrow))
    high = av.from_minute(av.local_day_start(tomorrow + dt.timedelta(days=1)))
    due = await raw(
        "SELECT id FROM booking WHERE status = 'booked' AND reminded_at IS NULL AND starts_at >= {} AND starts_at < {} ORDER BY id",
        low, high,
    )
    sent = 0
    for row in due:
        async with write_transaction():
            rows = await raw(
                "UPDATE booking SET reminded_at = {} WHERE id = {} AND reminded_at IS NULL AND status = 'booked' RETURNING *",
                clock.now(), row["id"],
            )
            if not rows:
                continue  # another process reminded it first
            booking = rows[0]
            service = service_by_key(ctx.registry, booking["service_key"]) if ctx.registry else None
            center = await _center(booking["center"])
            label = message_label(service, booking["service_key"])
            await _tell(booking, center, _("Reminder: %(service)s tomorrow, %(when)s. Code %(code)s.",
                                           service=label, when=when_text(booking), code=booking["code"]),
                        "booking_reminder")
            sent += 1
    return sent
