"""Tables of the video petition module (Piccolo app ``video_petition``).

A *session* (视频接访) is one reception: requested by a citizen (or registered by staff), its ID
check, the decision, then the call. Its *participants* are one row per person and session (the
host is the session's ``host`` staff member, whatever connection they use). *Signals* are the
room's message log: WebRTC offers/answers/ICE between two participants, ``bye`` and ``state``
(someone's state changed: every open stream re-reads the room). Streams poll it, so any number of
app processes on one database serve one room.

Composite uniques and indexes are created by raw SQL in the migration; keep both in step.
"""

from __future__ import annotations

from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.bookings.tables import Booking
from portal.citizens.tables import Citizen
from portal.matters.tables import Matter
from portal.tables import Center, Department, StaffUser

__all__ = ["VideoChunk", "VideoMinutes", "VideoParticipant", "VideoRecording", "VideoSession", "VideoSignal"]


class VideoSession(Table, tablename="video_petition_session"):
    """status: requested | approved | refused | live | ended | cancelled.

    ``service``: leader (领导视频接访) | department (部门视频接访). ``matter`` is the existing
    matter the citizen named (tracking code + phone digits) or the one registered at approval
    from ``description``. ``id_checked_*``: who checked the citizen's identity, when and how.
    """

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    service = Varchar(length=12, default="leader")
    citizen = ForeignKey(references=Citizen, null=True, on_delete=OnDelete.set_null)
    matter = ForeignKey(references=Matter, null=True, on_delete=OnDelete.set_null)
    # The appointment the citizen booked with the schedule (领导视频接访日 / 部门视频接访), if any.
    booking = ForeignKey(references=Booking, null=True, on_delete=OnDelete.set_null)
    name = Varchar(length=50, default="")
    phone = Varchar(length=16, default="")
    description = Text(default="")
    preferred = Varchar(length=100, default="")
    status = Varchar(length=12, default="requested")
    host = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    department = ForeignKey(references=Department, null=True, on_delete=OnDelete.restrict)
    scheduled_at = Timestamptz(null=True, default=None)
    id_checked_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    id_checked_at = Timestamptz(null=True, default=None)
    id_check_method = Varchar(length=20, default="")
    decided_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    decided_at = Timestamptz(null=True, default=None)
    decision_reason = Text(default="")
    recording_requested = Boolean(default=False)
    started_at = Timestamptz(null=True, default=None)
    ended_at = Timestamptz(null=True, default=None)
    created_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz(default=TimestamptzNow())
    version = Integer(default=1)


class VideoParticipant(Table, tablename="video_petition_participant"):
    """kind: host | citizen | staff | department; state: waiting | admitted | left | removed.

    Unique (session, staff) and (session, citizen). ``checked_in_at``: a summoned department's
    first admission, which is its attendance (报到) at the reception.
    """

    session = ForeignKey(references=VideoSession, on_delete=OnDelete.cascade)
    kind = Varchar(length=12, default="citizen")
    staff = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    citizen = ForeignKey(references=Citizen, null=True, on_delete=OnDelete.restrict)
    department = ForeignKey(references=Department, null=True, on_delete=OnDelete.restrict)
    display_name = Varchar(length=100, default="")
    state = Varchar(length=12, default="waiting")
    consent_recording = Boolean(default=False)
    joined_at = Timestamptz(null=True, default=None)
    checked_in_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())


class VideoSignal(Table, tablename="video_petition_signal"):
    """kind: offer | answer | ice | bye | state. ``recipient`` NULL: for everyone in the room."""

    session = ForeignKey(references=VideoSession, on_delete=OnDelete.cascade)
    sender = Integer(null=True, default=None)
    recipient = Integer(null=True, default=None)
    kind = Varchar(length=8, default="state")
    payload = Text(default="{}")
    created_at = Timestamptz(default=TimestamptzNow())


class VideoMinutes(Table, tablename="video_petition_minutes"):
    """The minutes (笔录) of one session (unique): typed by staff, signed by the citizen's SMS code."""

    session = ForeignKey(references=VideoSession, unique=True, on_delete=OnDelete.cascade)
    body = Text(default="")
    updated_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    updated_at = Timestamptz(default=TimestamptzNow())
    code_hash = Varchar(length=64, default="")
    code_expires_at = Timestamptz(null=True, default=None)
    code_attempts = Integer(default=0)
    codes_sent = Integer(default=0)
    signed_at = Timestamptz(null=True, default=None)
    signed_text_sha256 = Varchar(length=64, default="")
    version = Integer(default=1)


class VideoRecording(Table, tablename="video_petition_recording"):
    """state: on | stopped | finished | purged. The file sits under the data directory, never in
    the web root; ``sha256`` of the assembled file."""

    session = ForeignKey(references=VideoSession, on_delete=OnDelete.cascade)
    state = Varchar(length=12, default="on")
    started_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    started_at = Timestamptz(default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)
    chunks = Integer(default=0)
    size = Integer(default=0)
    sha256 = Varchar(length=64, default="")
    path = Varchar(length=300, default="")
    purged_at = Timestamptz(null=True, default=None)


class VideoChunk(Table, tablename="video_petition_chunk"):
    """One uploaded chunk (unique (recording, seq)): a retry of the same seq is a no-op."""

    recording = ForeignKey(references=VideoRecording, on_delete=OnDelete.cascade)
    seq = Integer(default=0)
    size = Integer(default=0)
    sha256 = Varchar(length=64, default="")
    received_at = Timestamptz(default=TimestamptzNow())
