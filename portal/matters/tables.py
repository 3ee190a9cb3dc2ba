"""Tables of the one-stop window: matters, their timeline, notices, the working calendar, numbers.

Composite uniques and partial indexes are created by raw SQL in the migrations.
"""

from __future__ import annotations

from piccolo.columns import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.citizens.tables import Citizen
from portal.tables import Center, Department, StaffUser

__all__ = [
    "CalendarDay",
    "CenterLimit",
    "FollowUp",
    "Matter",
    "MatterAttachment",
    "MatterDraft",
    "MatterEvent",
    "MatterStat",
    "Notice",
    "NoticeCounter",
    "NoticeTemplate",
    "Supervision",
]


class Matter(Table, tablename="matter"):
    """One dispute or petition (矛盾纠纷/信访事项), one tracking code, from receipt to closure."""

    code = Varchar(length=16, unique=True)  # tracking code, stored without separators
    kind = Varchar(length=12, default="petition")  # petition | dispute
    category = Varchar(length=32, index=True)
    channel = Varchar(length=12, index=True)  # online | visit | letter | phone | grid | fax | video
    summary = Varchar(length=200)
    request = Text(default="")
    facts = Text(default="")
    place = Varchar(length=200, default="")
    place_center = ForeignKey(references=Center, null=True, on_delete=OnDelete.restrict)
    # The center that handles the matter now (moves on escalation, review, forwarding).
    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    # Copy of the handling center's path: the queue's subtree filter is one indexed prefix match.
    center_path = Varchar(length=255, default="")
    # Where it was registered; that center keeps read access after escalation.
    origin_center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    department = ForeignKey(references=Department, null=True, on_delete=OnDelete.restrict)
    assigned_at = Timestamptz(null=True, default=None)
    department_due_at = Timestamptz(null=True, default=None)
    petitioner_name = Varchar(length=64, default="")
    petitioner_phone = Varchar(length=16, default="", index=True)
    phone_last4 = Varchar(length=4, default="")
    petitioner_address = Varchar(length=200, default="")
    people_count = Integer(default=1)
    # JSON lists: representatives of a group petition (≤ 5) and other people involved.
    representatives = Text(default="[]")
    parties = Text(default="[]")
    citizen = ForeignKey(references=Citizen, null=True, on_delete=OnDelete.restrict)
    registered_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    status = Varchar(length=20, index=True, default="registered")
    # The running statutory clock: acceptance | objection | handling | review_request | review | rereview_request | rereview | ''
    clock = Varchar(length=20, default="acceptance")
    clock_started_at = Timestamptz(null=True, default=None)
    paused_at = Timestamptz(null=True, default=None)
    paused_days = Integer(default=0)
    extension_days = Integer(default=0)
    due_at = Timestamptz(null=True, default=None, index=True)
    received_at = Timestamptz()
    accepted_at = Timestamptz(null=True, default=None)
    replied_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    resolution = Varchar(length=12, default="")  # on_spot | joint | ''
    outcome = Varchar(length=12, default="")  # support | explain | reject
    review_level = Integer(default=0)  # 0 original, 1 复查, 2 复核
    final = Boolean(default=False)
    rating = Varchar(length=12, default="")  # satisfied | basically | unsatisfied
    rating_reason = Text(default="")
    rated_at = Timestamptz(null=True, default=None)
    repeat_of = ForeignKey(references="self", null=True, on_delete=OnDelete.set_null)
    version = Integer(default=1)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class MatterEvent(Table, tablename="matter_event"):
    """The timeline and the clock events of a matter (append-only)."""

    matter = ForeignKey(references=Matter, on_delete=OnDelete.cascade)
    at = Timestamptz()
    kind = Varchar(length=24)
    actor = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    actor_label = Varchar(length=100, default="")
    center = ForeignKey(references=Center, null=True, on_delete=OnDelete.restrict)
    note = Text(default="")
    public = Boolean(default=True)
    data = Text(default="{}")


class MatterAttachment(Table, tablename="matter_attachment"):
    """A file stored outside the web root under its SHA-256 (content-addressed)."""

    matter = ForeignKey(references=Matter, null=True, on_delete=OnDelete.cascade)
    draft = ForeignKey(references="MatterDraft", null=True, on_delete=OnDelete.cascade)
    sha256 = Varchar(length=64, index=True)
    filename = Varchar(length=200)
    content_type = Varchar(length=64)
    size = Integer()
    uploaded_at = Timestamptz()


class MatterDraft(Table, tablename="matter_draft"):
    """An online submission in progress: survives a session timeout (keyed by citizen)."""

    citizen = ForeignKey(references=Citizen, on_delete=OnDelete.cascade, unique=True)
    data = Text(default="{}")
    updated_at = Timestamptz()


class Notice(Table, tablename="notice"):
    """A written notice (受理告知书…), numbered per center and year without gaps."""

    matter = ForeignKey(references=Matter, on_delete=OnDelete.restrict)
    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    kind = Varchar(length=16)
    year = Integer()
    seq = Integer()
    number = Varchar(length=64)
    title = Varchar(length=100)
    body = Text()
    issued_at = Timestamptz()
    issued_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)


class NoticeCounter(Table, tablename="notice_counter"):
    center = ForeignKey(references=Center, on_delete=OnDelete.cascade)
    year = Integer()
    last = Integer(default=0)


class NoticeTemplate(Table, tablename="notice_template"):
    """A center's own wording for a notice kind; without one the built-in template is used."""

    center = ForeignKey(references=Center, on_delete=OnDelete.cascade)
    kind = Varchar(length=16)
    title = Varchar(length=100)
    body = Text()
    updated_at = Timestamptz()
    updated_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)


class CalendarDay(Table, tablename="calendar_day"):
    """An admin override of the official calendar: a holiday or a make-up working day."""

    day = Date(unique=True)
    workday = Boolean()
    note = Varchar(length=100, default="")


class CenterLimit(Table, tablename="center_limit"):
    """A center's own time limit for one rule (days); without a row the statutory default applies."""

    center = ForeignKey(references=Center, on_delete=OnDelete.cascade)
    rule = Varchar(length=24)
    days = Integer()


class Supervision(Table, tablename="supervision"):
    """A supervision order (督办) from an upper center, with its own due date."""

    matter = ForeignKey(references=Matter, on_delete=OnDelete.cascade)
    from_center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    instruction = Text()
    due_at = Timestamptz()
    created_at = Timestamptz()
    created_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    answered_at = Timestamptz(null=True, default=None)
    answer = Text(default="")


class FollowUp(Table, tablename="follow_up"):
    """A follow-up visit (回访) opened by an unsatisfied rating; closes only with a record."""

    matter = ForeignKey(references=Matter, on_delete=OnDelete.cascade)
    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    opened_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)
    record = Text(default="")
    closed_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)


class MatterStat(Table, tablename="matter_stat"):
    """Counters kept up to date with each event (per center and day), so numbers never scan matters."""

    center = ForeignKey(references=Center, on_delete=OnDelete.cascade)
    day = Date()
    metric = Varchar(length=24)
    count = Integer(default=0)
