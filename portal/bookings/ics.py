"""iCalendar (RFC 5545) files: one booking for the citizen, a resource's feed for staff; the QR code.

Times are written in local time with ``TZID=Asia/Shanghai`` and a VTIMEZONE (UTC+8, no daylight
saving since 1991), so calendar apps show the hour the center means even on a phone set elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from markupsafe import Markup, escape

from portal import clock
from portal.auth.totp import qr_svg as _svg

__all__ = ["calendar", "qr_svg"]

TZID = "Asia/Shanghai"
VTIMEZONE = (
    "BEGIN:VTIMEZONE",
    f"TZID:{TZID}",
    "BEGIN:STANDARD",
    "DTSTART:19910915T020000",
    "TZOFFSETFROM:+0800",
    "TZOFFSETTO:+0800",
    "TZNAME:CST",
    "END:STANDARD",
    "END:VTIMEZONE",
)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 §3.1)."""
    out, current = [], b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > (75 if not out else 74):
            out.append(current.decode("utf-8"))
            current = b""
        current += encoded
    out.append(current.decode("utf-8"))
    return "\r\n ".join(out)


def _local(value: dt.datetime) -> str:
    return clock.local(value).strftime("%Y%m%dT%H%M%S")


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def calendar(events: Iterable[dict], *, name: str, host: str) -> bytes:
    """``events``: dicts with uid, starts_at, ends_at, summary, location, description, cancelled."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Whistle//Bookings//ZH", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", f"X-WR-CALNAME:{_escape(name)}", *VTIMEZONE]
    stamp = _utc(clock.now())
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event['uid']}@{host}",
            f"DTSTAMP:{stamp}",
            f"DTSTART;TZID={TZID}:{_local(event['starts_at'])}",
            f"DTEND;TZID={TZID}:{_local(event['ends_at'])}",
            f"SUMMARY:{_escape(event['summary'])}",
            f"LOCATION:{_escape(event.get('location', ''))}",
            f"DESCRIPTION:{_escape(event.get('description', ''))}",
            f"STATUS:{'CANCELLED' if event.get('cancelled') else 'CONFIRMED'}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode("utf-8")


def qr_svg(data: str, title: str) -> Markup:
    """An inline SVG QR code (core's renderer; no external request, works without JavaScript)."""
    svg = _svg(data)
    return Markup(svg.replace("<svg", f'<svg role="img" aria-label="{escape(title)}" class="qr"', 1))
