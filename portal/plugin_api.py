"""What plugins return from hooks, and what they declare about themselves.

Plain frozen dataclasses: plugins construct them, core reads them. Nothing here touches the
database or the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from portal.hookspecs import hookimpl

__all__ = [
    "CenterRef",
    "CitizenService",
    "Job",
    "MatterAction",
    "NavItem",
    "Panel",
    "Permission",
    "PluginInfo",
    "Service",
    "SmsError",
    "SmsSender",
    "Widget",
    "hookimpl",
]


@dataclass(frozen=True)
class PluginInfo:
    """Declared as ``PLUGIN_INFO`` in a plugin package's ``__init__.py``.

    ``name`` is the one name used everywhere: package, Piccolo app, template folder, static mount
    and URL slug (``/m/<name>``).
    """

    name: str
    label: str
    version: str = "0.1.0"
    description: str = ""


@dataclass(frozen=True)
class CenterRef:
    """The center a request is about, as per-request hooks and events receive it."""

    id: int
    code: str
    name: str
    level: str  # district | township | village
    path: str  # ancestor ids and own id: "/1/4/17/"

    @classmethod
    def from_row(cls, row: dict) -> "CenterRef":
        return cls(row["id"], row["code"], row["name"], row["level"], row["path"])


@dataclass(frozen=True)
class Permission:
    name: str
    label: str
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    order: int = 100
    permission: str | None = None


@dataclass(frozen=True)
class Widget:
    """A dashboard card rendered from ``template`` with ``context`` (all data resolved already)."""

    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    order: int = 100
    permission: str | None = None
    wide: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    order: int = 100


@dataclass(frozen=True)
class CitizenService:
    label: str
    url: str
    description: str = ""
    order: int = 100


@dataclass(frozen=True)
class Service:
    """A bookable service (the appointments engine books time with a person or a room)."""

    key: str
    label: str
    duration_minutes: int = 30
    capacity: int = 1
    provider_role: str = ""
    bring: str = ""
    anonymous_allowed: bool = False
    booking_window_days: int = 14
    # Optional policy (portal/bookings): earliest booking ahead of time, a gap after each slot,
    # open bookings one citizen may hold for this service, last moment to change or cancel.
    min_notice_minutes: int = 120
    buffer_minutes: int = 0
    per_citizen_limit: int = 1
    cancel_cutoff_minutes: int = 120
    # A service whose mere booking is sensitive (counseling): SMS, in-app messages and calendar
    # entries name neither the service nor the person booked, only "an appointment at the center".
    discreet: bool = False
    # A step the citizen takes after booking (e.g. reading and accepting a consent form): shown on
    # the citizen's booking page while it is booked. ``next_step_url`` is a site path that may
    # contain "{booking_id}" and "{center_code}".
    next_step_label: str = ""
    next_step_url: str = ""


@dataclass(frozen=True)
class MatterAction:
    key: str
    label: str
    url: str  # may contain "{matter_id}"
    permission: str | None = None


@dataclass(frozen=True)
class Job:
    """A periodic job (``register_jobs``); see ``portal.jobs.runner`` for how it is run.

    ``run(ctx)`` is a coroutine function receiving a ``portal.jobs.runner.JobContext`` (one
    without parameters is called bare). It must be idempotent. ``lease_seconds``: how long a
    process holds the job without renewing it (renewed while it runs; a crashed holder's lease
    runs out after this). ``label``: what staff see on the jobs page.
    """

    name: str
    interval_seconds: int
    run: Callable[..., Awaitable[Any]]
    lease_seconds: int = 300
    label: str = ""


class SmsError(Exception):
    """Raised by ``SmsSender.send`` with a short reason ("gateway answered HTTP 503").

    The reason is stored on the outbox row and shown to staff: never put the phone number, the
    message text or a credential in it. Any other exception also counts as a failed attempt.
    """


@dataclass(frozen=True)
class SmsSender:
    """One way to deliver an SMS, returned by the ``sms_senders`` hook.

    ``send(phone, text)`` delivers one message to an 11-digit mainland mobile number; it may be a
    plain or a coroutine function and signals failure by raising (``SmsError`` preferably).
    Senders are tried in ``order``; the first that returns without raising has delivered.
    """

    name: str
    send: Callable[[str, str], Any]
    order: int = 100
