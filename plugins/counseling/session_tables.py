"""Tables of counseling cases, sessions, referrals and supervisor reviews (Piccolo app ``counseling``).

* ``counseling_case``: one client (a citizen, or a pseudonymous booking) with one counselor, the
  only reader of its notes. ``client_label`` (the name or pseudonym) is encrypted. ``last_session_at``
  is the retention clock; ``erased_at`` is set once, by the retention job, when the notes went.
* ``counseling_session``: one session (kind, time, length, attended or not) — the plain columns are
  what the anonymous numbers count and what stays after erasure. ``notes`` holds the clinical
  record (topics, risk assessed, notes, plan) as one ciphertext: one value leaks neither which
  topics nor the risk level through its length. No diagnosis field, by law (精神卫生法 Art. 23).
* ``counseling_referral``: a referral to a medical institution; ``details`` (institution, reason)
  encrypted, the date and the client's agreement plain (counted).
* ``counseling_review``: a supervisor's access to a case, with the reason (encrypted) the
  counselor sees, valid until ``expires_at``.
* ``counseling_matter_link``: the fact "已转介心理咨询" told to a matter, with the client's consent.
* ``counseling_case_consent``: informed consent given on a case opened without a booking (09:40).
* ``counseling_keyring``: the fingerprint of the key the notes are encrypted with (notes_crypto).

Composite uniques and indexes are raw SQL in the migration (09:30); keep both in step.
"""

from __future__ import annotations

from piccolo.columns import Boolean, Date, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.bookings.tables import Booking
from portal.citizens.tables import Citizen
from portal.matters.tables import Matter
from portal.tables import Center, StaffUser

__all__ = [
    "CounselingCase",
    "CounselingCaseConsent",
    "CounselingKeyring",
    "CounselingMatterLink",
    "CounselingReferral",
    "CounselingReview",
    "CounselingSession",
]


class CounselingCase(Table, tablename="counseling_case"):
    """A client's case with one counselor. ``booking``: the booking it was opened from (unique)."""

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    counselor = ForeignKey(references=StaffUser, on_delete=OnDelete.restrict)
    citizen = ForeignKey(references=Citizen, null=True, on_delete=OnDelete.set_null)
    booking = ForeignKey(references=Booking, null=True, on_delete=OnDelete.restrict)
    client_label = Text(default="")  # encrypted ("case:<id>")
    opened_at = Timestamptz(default=TimestamptzNow())
    last_session_at = Timestamptz(null=True, default=None)
    sessions = Integer(default=0)
    erased_at = Timestamptz(null=True, default=None)
    version = Integer(default=1)


class CounselingCaseConsent(Table, tablename="counseling_case_consent"):
    """Informed consent given on a case (unique ``case_id``): a walk-in has no booking to hang the
    consent on, so the client ticks the same text on the counselor's screen (``channel`` onsite,
    ``recorded_by`` the counselor). ``version``: the consent text version shown."""

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    case_id = ForeignKey(references=CounselingCase, on_delete=OnDelete.restrict)
    version = Varchar(length=16)
    channel = Varchar(length=8, default="onsite")
    recorded_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)
    consented_at = Timestamptz(default=TimestamptzNow())


class CounselingSession(Table, tablename="counseling_session"):
    """One session. ``kind``: first | follow_up | group; ``attendance``: attended | no_show.
    ``booking`` (unique when set): the engine's booking it took place in."""

    case_id = ForeignKey(references=CounselingCase, on_delete=OnDelete.restrict)
    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    counselor = ForeignKey(references=StaffUser, on_delete=OnDelete.restrict)
    booking = ForeignKey(references=Booking, null=True, on_delete=OnDelete.restrict)
    kind = Varchar(length=12, default="follow_up")
    held_at = Timestamptz()
    duration_minutes = Integer(default=50)
    attendance = Varchar(length=8, default="attended")
    notes = Text(default="")  # encrypted JSON {topics, risk, notes, plan} ("session:<case id>")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(null=True, default=None)
    erased_at = Timestamptz(null=True, default=None)
    version = Integer(default=1)


class CounselingReferral(Table, tablename="counseling_referral"):
    """A referral to a medical institution (instead of any diagnosis)."""

    case_id = ForeignKey(references=CounselingCase, on_delete=OnDelete.restrict)
    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    counselor = ForeignKey(references=StaffUser, on_delete=OnDelete.restrict)
    referred_on = Date()
    client_agreed = Boolean(default=False)
    details = Text(default="")  # encrypted JSON {institution, reason} ("referral:<case id>")
    created_at = Timestamptz(default=TimestamptzNow())
    erased_at = Timestamptz(null=True, default=None)


class CounselingReview(Table, tablename="counseling_review"):
    """A supervisor's reading of a case: the reason given, when, and until when it is valid."""

    case_id = ForeignKey(references=CounselingCase, on_delete=OnDelete.restrict)
    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    supervisor = ForeignKey(references=StaffUser, on_delete=OnDelete.restrict)
    reason = Text(default="")  # encrypted ("review:<case id>")
    started_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    audit_seq = Integer(null=True, default=None)


class CounselingMatterLink(Table, tablename="counseling_matter_link"):
    """A matter told "已转介心理咨询" from this case (the client agreed); nothing else crosses over."""

    case_id = ForeignKey(references=CounselingCase, on_delete=OnDelete.restrict)
    matter = ForeignKey(references=Matter, null=True, on_delete=OnDelete.set_null)
    matter_code = Varchar(length=16, default="")
    informed_at = Timestamptz(default=TimestamptzNow())
    informed_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)


class CounselingKeyring(Table, tablename="counseling_keyring"):
    """The fingerprint of the notes key in use (one row, ``slot`` 'notes'); ``generation`` is the
    key id written before each ciphertext ("k<generation>:")."""

    slot = Varchar(length=16, unique=True)
    generation = Integer(default=1)
    fingerprint = Varchar(length=64)
    created_at = Timestamptz(default=TimestamptzNow())
    rotated_at = Timestamptz(null=True, default=None)
