"""Tables of the check-in module (Piccolo app ``checkin``).

A *whistle* (哨) is one call of a center to several departments; each summoned department has one
*summons* row that carries its own clock (``ack_due_at``), its check-in, escalation step, task,
result and the center's rating. ``checkin_event`` is the whistle's timeline (append-only).

Composite uniques and indexes are created by raw SQL in the migration (Piccolo's column API has
none); keep both in step.
"""

from __future__ import annotations

from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.matters.tables import Matter
from portal.tables import Center, Department, StaffUser

__all__ = ["CheckinEvent", "CheckinPolicy", "CheckinSummons", "CheckinWhistle", "DEFAULT_REASONS"]

DEFAULT_REASONS = "居民诉求超出中心职权\n需联合执法\n突发事件"


class CheckinPolicy(Table, tablename="checkin_policy"):
    """A center's rules for its whistles. Copied onto each whistle when it is blown (``policy``),
    so a later change never moves the limits of a whistle already running."""

    center = ForeignKey(references=Center, unique=True, on_delete=OnDelete.cascade)
    require_approval = Boolean(default=False)
    # Minutes a summoned department has to check in, per urgency grade.
    ack_minutes_emergency = Integer(default=30)
    ack_minutes_urgent = Integer(default=120)
    ack_minutes_ordinary = Integer(default=1440)
    # The escalation chain: minutes after the check-in limit; NULL switches the step off.
    renotify_after = Integer(null=True, default=0)
    leader_after = Integer(null=True, default=30)
    upper_after = Integer(null=True, default=60)
    reasons = Text(default=DEFAULT_REASONS)  # one reason per line
    updated_at = Timestamptz(default=TimestamptzNow())
    updated_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)


class CheckinWhistle(Table, tablename="checkin_whistle"):
    """One whistle: who blew it, why, how urgent, where and when to report, and its state.

    status: pending_approval | rejected | open | closed | cancelled. ``approved_*`` record the
    leader's decision (approval or rejection); ``closed_*`` the closing (or the cancellation).
    ``policy`` is the JSON snapshot of the center's policy when the whistle was blown.
    """

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    matter = ForeignKey(references=Matter, null=True, on_delete=OnDelete.set_null)
    code = Varchar(length=8, unique=True)  # short check-in code (报到码)
    source = Varchar(length=12, default="other")  # matter | emergency | grid | other
    reason = Varchar(length=100, default="")
    grade = Varchar(length=12, default="ordinary")  # emergency | urgent | ordinary
    mode = Varchar(length=8, default="onsite")  # onsite | online
    place = Varchar(length=200, default="")
    report_at = Timestamptz(null=True, default=None)
    instruction = Text(default="")
    status = Varchar(length=20, default="open")
    policy = Text(default="{}")
    created_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz(default=TimestamptzNow())
    approved_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    approved_at = Timestamptz(null=True, default=None)
    approval_note = Text(default="")
    closed_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    closed_at = Timestamptz(null=True, default=None)
    close_note = Text(default="")
    version = Integer(default=1)


class CheckinSummons(Table, tablename="checkin_summons"):
    """One summoned department of one whistle (unique together).

    ``ack_due_at``: when the whistle went out + the grade's limit from the snapshot (NULL while
    the whistle waits for approval). ``escalation_step``: 0 none, 1 re-notified, 2 leader
    alerted, 3 upper center alerted — each step claimed once by a conditional UPDATE.
    ``late``: checked in after ``ack_due_at`` (or never); ``absent``: never checked in by the close.
    """

    whistle = ForeignKey(references=CheckinWhistle, on_delete=OnDelete.cascade)
    department = ForeignKey(references=Department, on_delete=OnDelete.restrict)
    ack_due_at = Timestamptz(null=True, default=None)
    summoned_at = Timestamptz(null=True, default=None)
    checked_in_at = Timestamptz(null=True, default=None)
    checkin_method = Varchar(length=8, default="")  # code | qr | online | ""
    checked_in_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    attendees = Text(default="")
    escalation_step = Integer(default=0)
    late = Boolean(default=False)
    absent = Boolean(default=False)
    task = Text(default="")
    task_at = Timestamptz(null=True, default=None)
    result = Text(default="")
    result_at = Timestamptz(null=True, default=None)
    result_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    # True when center staff entered the result for the department (recorded as such).
    result_on_behalf = Boolean(default=False)
    rating_timeliness = Integer(null=True, default=None)  # 1–5
    rating_effectiveness = Integer(null=True, default=None)  # 1–5
    rating_note = Text(default="")
    rated_at = Timestamptz(null=True, default=None)
    rated_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)


class CheckinEvent(Table, tablename="checkin_event"):
    """The whistle's timeline. kind: blown, approved, rejected, notified, checked_in, renotified,
    leader_alerted, upper_alerted, minutes (会商纪要), task, result, rated, closed, cancelled.
    ``actor`` NULL means the system (the escalation job)."""

    whistle = ForeignKey(references=CheckinWhistle, on_delete=OnDelete.cascade)
    summons = ForeignKey(references=CheckinSummons, null=True, on_delete=OnDelete.cascade)
    kind = Varchar(length=20)
    note = Text(default="")
    actor = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    at = Timestamptz(default=TimestamptzNow())
