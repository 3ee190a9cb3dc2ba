"""Tables of the duty lawyer's consultation log (Piccolo app ``legal_aid``, migration 08:30).

* ``legal_aid_consultation``: one consultation a lawyer gave (walk-in, phone, letter, online or a
  booking of the appointments engine). ``day`` is the China-time date it was logged: the
  same-day edit rule and the monthly summaries read it. ``firm`` is the lawyer's firm when the
  entry was saved, so the conflict check still sees advice given while at a firm the lawyer has
  since left. ``conflicts`` (JSON list) holds the possible conflicts the lawyer acknowledged.
* ``legal_aid_draft``: the one draft of the log form per lawyer, saved as they type.
* ``legal_aid_snippet``: reusable advice texts; a lawyer's own, or shared with the lawyers of
  the center (``shared``).
* ``legal_aid_handover``: a consultation handed to the window: to register a matter, or to take
  a legal-aid application. ``submission_key`` is the one-time key of the prefilled window form,
  so two window staff opening it create one matter, and the key's row names what was created.

Composite indexes are raw SQL in the migration; keep both in step.
"""

from __future__ import annotations

from piccolo.columns import Boolean, Date, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.bookings.tables import Booking
from portal.matters.tables import Matter
from portal.tables import Center, StaffUser

__all__ = ["LegalAidConsultation", "LegalAidDraft", "LegalAidHandover", "LegalAidSnippet"]


class LegalAidConsultation(Table, tablename="legal_aid_consultation"):
    """One logged consultation. channel: walk_in | phone | letter | online | booked."""

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    author = ForeignKey(references=StaffUser, on_delete=OnDelete.restrict)
    firm = Varchar(length=100, default="")
    day = Date()
    channel = Varchar(length=8, default="walk_in")
    booking = ForeignKey(references=Booking, null=True, on_delete=OnDelete.set_null)
    person_name = Varchar(length=64, default="")
    person_phone = Varchar(length=16, default="")
    topic = Varchar(length=16)
    question = Text(default="")
    advice = Text(default="")
    route = Varchar(length=16)
    eligible = Boolean(default=False)
    minutes = Integer(default=0)
    matter = ForeignKey(references=Matter, null=True, on_delete=OnDelete.set_null)
    follow_up = Boolean(default=False)
    conflicts = Text(default="[]")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    version = Integer(default=1)


class LegalAidDraft(Table, tablename="legal_aid_draft"):
    """The log form as a lawyer left it (JSON of the field values); one per lawyer."""

    staff = ForeignKey(references=StaffUser, unique=True, on_delete=OnDelete.cascade)
    data = Text(default="{}")
    updated_at = Timestamptz(default=TimestamptzNow())


class LegalAidSnippet(Table, tablename="legal_aid_snippet"):
    """A reusable advice text of ``owner``; ``shared`` ones are offered to every lawyer logging
    at ``center``."""

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    owner = ForeignKey(references=StaffUser, on_delete=OnDelete.restrict)
    shared = Boolean(default=False)
    title = Varchar(length=40)
    body = Text(default="")
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class LegalAidHandover(Table, tablename="legal_aid_handover"):
    """A consultation handed to the window. kind: matter | application; status: open | done."""

    consultation = ForeignKey(references=LegalAidConsultation, on_delete=OnDelete.cascade)
    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    kind = Varchar(length=12)
    submission_key = Varchar(length=64, default="")
    status = Varchar(length=8, default="open")
    created_at = Timestamptz(default=TimestamptzNow())
    created_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    closed_at = Timestamptz(null=True, default=None)
    closed_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
