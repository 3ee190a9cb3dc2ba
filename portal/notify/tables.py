"""The outbox: every SMS, email and in-app message, written in the same transaction as the change."""

from __future__ import annotations

from piccolo.columns import ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.table import Table

from portal.citizens.tables import Citizen
from portal.matters.tables import Matter
from portal.tables import Center, StaffUser

__all__ = ["Outbox"]


class Outbox(Table, tablename="outbox"):
    channel = Varchar(length=8, index=True)  # sms | email | inapp
    # SMS: the phone number. Email: the address and subject. In-app: the citizen or staff member below.
    phone = Varchar(length=16, default="")
    email = Varchar(length=120, default="")
    subject = Varchar(length=200, default="")
    citizen = ForeignKey(references=Citizen, null=True, on_delete=OnDelete.cascade)
    staff = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.cascade)
    center = ForeignKey(references=Center, null=True, on_delete=OnDelete.set_null)
    matter = ForeignKey(references=Matter, null=True, on_delete=OnDelete.set_null)
    kind = Varchar(length=32, default="")  # what it is about: sign_in_code, matter_accepted…
    body = Text()
    # In-app only: a site-relative path the message points to ("查看"), e.g. the matter or check-in page.
    link = Varchar(length=200, default="")
    status = Varchar(length=12, index=True, default="pending")  # pending | sending | sent | failed
    attempts = Integer(default=0)
    last_error = Varchar(length=200, default="")
    # A failed attempt waits until then (back-off); None: deliver at once.
    next_attempt_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    read_at = Timestamptz(null=True, default=None)
