"""Tables of the counseling module (Piccolo app ``counseling``): settings, consent, screening, crisis.

* ``counseling_settings``: a center's rules (one row per center; defaults apply without one).
* ``counseling_supervisor``: counselors the center admin designates as supervisors. The
  ``counseling.supervise`` permission is checked against this designation, not against a role.
* ``counseling_crisis_contact``: staff alerted when a crisis flag is raised, with the phone the
  alert SMS goes to.
* ``counseling_consent``: the informed consent given for one booking (time, text version, where);
  a case opened without a booking has its own (``session_tables.CounselingCaseConsent``).
* ``counseling_screening``: the optional PHQ-9 / GAD-7 self-screening before a first session.
* ``counseling_crisis`` and its checklist ``counseling_crisis_step``.

Sessions, notes, reviews and referrals are in ``session_tables.py`` (their own migration).
Composite uniques and indexes are raw SQL in the migration (Piccolo's column API has none); keep
both in step.
"""

from __future__ import annotations

from piccolo.columns import ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.bookings.tables import Booking
from portal.citizens.tables import Citizen
from portal.tables import Center, StaffUser

__all__ = [
    "CONSENT_VERSION",
    "DEFAULT_RETENTION_DAYS",
    "CounselingConsent",
    "CounselingCrisis",
    "CounselingCrisisContact",
    "CounselingCrisisStep",
    "CounselingScreening",
    "CounselingSettings",
    "CounselingSupervisor",
]

# Three years after the last session: the Chinese Psychological Society's ethics code (2nd ed.,
# 2018) asks that case records be kept at least 3 years; no statute fixes it, so it is a setting.
DEFAULT_RETENTION_DAYS = 1095
# The version of the consent text in consent.py; a center may pin another published version.
CONSENT_VERSION = "2026-11"


class CounselingSettings(Table, tablename="counseling_settings"):
    """A center's counseling rules. ``phone``: the number citizens are given for the counseling
    room (empty = the center's own phone)."""

    center = ForeignKey(references=Center, unique=True, on_delete=OnDelete.cascade)
    retention_days = Integer(default=DEFAULT_RETENTION_DAYS)
    consent_version = Varchar(length=16, default=CONSENT_VERSION)
    phone = Varchar(length=40, default="")
    updated_at = Timestamptz(default=TimestamptzNow())
    updated_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)


class CounselingSupervisor(Table, tablename="counseling_supervisor"):
    """A counselor designated supervisor at a center (unique (center, staff))."""

    center = ForeignKey(references=Center, on_delete=OnDelete.cascade)
    staff = ForeignKey(references=StaffUser, on_delete=OnDelete.cascade)
    created_at = Timestamptz(default=TimestamptzNow())
    created_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)


class CounselingCrisisContact(Table, tablename="counseling_crisis_contact"):
    """A staff member alerted on every crisis flag of the center (unique (center, staff))."""

    center = ForeignKey(references=Center, on_delete=OnDelete.cascade)
    staff = ForeignKey(references=StaffUser, on_delete=OnDelete.cascade)
    phone = Varchar(length=16, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    created_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)


class CounselingConsent(Table, tablename="counseling_consent"):
    """Informed consent for one booking (unique ``booking``). ``channel``: online (the citizen's
    own device) | onsite (ticked by the citizen on the counselor's screen, ``recorded_by`` set).
    ``version``: the consent text version shown."""

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    booking = ForeignKey(references=Booking, on_delete=OnDelete.restrict)
    citizen = ForeignKey(references=Citizen, null=True, on_delete=OnDelete.set_null)
    version = Varchar(length=16)
    channel = Varchar(length=8, default="online")
    recorded_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)
    consented_at = Timestamptz(default=TimestamptzNow())


class CounselingScreening(Table, tablename="counseling_screening"):
    """One self-screening for a booking (unique ``booking``). ``answers``: the PHQ-9 and GAD-7 item
    answers and the functional-difficulty answer as one ciphertext (notes_crypto,
    "screening:<booking>"); totals and bands are computed from them when shown, so nothing about
    the person's health is readable from the database. ``counselor``: the only reader."""

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    booking = ForeignKey(references=Booking, on_delete=OnDelete.restrict)
    counselor = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)
    answers = Text(default="")  # encrypted JSON {phq9: [9], gad7: [7], difficulty}
    submitted_at = Timestamptz(default=TimestamptzNow())


class CounselingCrisis(Table, tablename="counseling_crisis"):
    """A crisis flag. ``source``: screening | counselor. ``counselor``: the case's counselor (who,
    with the center's crisis contacts and supervisors, may see it). ``case_ref``: the id of the
    counseling case (``session_tables``) when raised from a case; no FK because that table comes
    in a later migration. ``status``: open | resolved (only with ``closing_note``)."""

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    booking = ForeignKey(references=Booking, null=True, on_delete=OnDelete.restrict)
    case_ref = Integer(null=True, default=None)
    counselor = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)
    source = Varchar(length=12, default="counselor")
    reason = Text(default="")  # encrypted ("crisis:<id>")
    status = Varchar(length=10, default="open")
    raised_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)
    raised_at = Timestamptz(default=TimestamptzNow())
    resolved_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)
    resolved_at = Timestamptz(null=True, default=None)
    closing_note = Text(default="")  # encrypted ("crisis-closing:<id>")
    version = Integer(default=1)


class CounselingCrisisStep(Table, tablename="counseling_crisis_step"):
    """One checklist step taken (``step``: accompany | family | police | medical | referral | other),
    with who and when; ``note`` required for other (encrypted, like the flag's reason)."""

    crisis = ForeignKey(references=CounselingCrisis, on_delete=OnDelete.cascade)
    step = Varchar(length=12)
    note = Text(default="")  # encrypted ("crisis-step:<crisis>")
    actor = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)
    at = Timestamptz(default=TimestamptzNow())
