"""Tables of the legal-aid module (Piccolo app ``legal_aid``): lawyers, duty roster, applications.

* ``legal_aid_lawyer``: the profile of a staff account with the lawyer role (one per account).
* ``legal_aid_duty``: one roster interval (a lawyer on duty at a center on a day, from–to). The
  roster is the source of truth; each row owns one ``booking_exception`` (closed = false) of the
  lawyer's booking resource at that center, written in the same transaction, so the appointments
  engine offers slots exactly where the roster says.
* ``legal_aid_policy``: a center's rules (calendar or working days, limits, exemption categories).
* ``legal_aid_application`` with its documents, timeline and the numbered written notices.

The consultation log has its own tables (``log_tables.py``). Composite uniques and indexes are
raw SQL in the migration (Piccolo's column API has none); keep both in step.
"""

from __future__ import annotations

from piccolo.columns import Boolean, Date, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.bookings.tables import BookingException, BookingResource
from portal.citizens.tables import Citizen
from portal.tables import Center, StaffUser

__all__ = [
    "LegalAidApplication",
    "LegalAidDocument",
    "LegalAidDuty",
    "LegalAidEvent",
    "LegalAidLawyer",
    "LegalAidNotice",
    "LegalAidNoticeCounter",
    "LegalAidPolicy",
]


class LegalAidLawyer(Table, tablename="legal_aid_lawyer"):
    """A duty lawyer's profile, kept by the admin of the lawyer's center. ``specialties``: keys
    of ``roster.SPECIALTIES`` joined by commas. ``licence_no``: the 17-digit PRC licence number."""

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    staff = ForeignKey(references=StaffUser, unique=True, on_delete=OnDelete.restrict)
    firm = Varchar(length=100, default="")
    licence_no = Varchar(length=17, default="")
    specialties = Varchar(length=300, default="")
    phone = Varchar(length=16, default="")
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    updated_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)


class LegalAidDuty(Table, tablename="legal_aid_duty"):
    """A lawyer on duty at ``center`` on ``day`` from ``start_minute`` to ``end_minute`` (minutes
    after local midnight, like the engine's rules). Unique (center, lawyer, day, start_minute)."""

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    lawyer = ForeignKey(references=LegalAidLawyer, on_delete=OnDelete.restrict)
    day = Date()
    start_minute = Integer()
    end_minute = Integer()
    resource = ForeignKey(references=BookingResource, null=True, on_delete=OnDelete.set_null)
    exception = ForeignKey(references=BookingException, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())
    created_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)


class LegalAidPolicy(Table, tablename="legal_aid_policy"):
    """A center's legal-aid rules; without a row the defaults apply. ``day_kind``: working |
    calendar (how the 7/3-day limits count). ``exemption_categories``: one category per line,
    empty = the national lists (Art. 42 and Art. 32); read from the nearest center up the tree
    that sets them, so a district sets them for its townships (the province's rules)."""

    center = ForeignKey(references=Center, unique=True, on_delete=OnDelete.cascade)
    day_kind = Varchar(length=8, default="working")
    decision_days = Integer(default=7)
    assign_days = Integer(default=3)
    materials_days = Integer(default=15)
    exemption_categories = Text(default="")
    updated_at = Timestamptz(default=TimestamptzNow())
    updated_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)


class LegalAidApplication(Table, tablename="legal_aid_application"):
    """One legal-aid application (申请).

    status: received | materials_requested | complete (awaiting decision) | granted (awaiting
    assignment) | assigned | refused | withdrawn (deemed withdrawn: materials not supplied).
    ``received_at`` is the first receipt; ``complete_at`` the receipt of a complete application,
    which starts the decision clock (``decision_due_at``); ``assign_due_at`` runs from the grant.
    ``day_kind`` and the limits are copied from the policy when each clock starts.
    """

    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    code = Varchar(length=12, unique=True)
    channel = Varchar(length=8, default="online")  # online | window
    citizen = ForeignKey(references=Citizen, null=True, on_delete=OnDelete.restrict)
    applicant_name = Varchar(length=64)
    id_number = Varchar(length=18)
    phone = Varchar(length=16)
    address = Varchar(length=200, default="")
    on_behalf = Varchar(length=16, default="self")  # self | representative
    represented_name = Varchar(length=64, default="")
    represented_id_number = Varchar(length=18, default="")
    relationship = Varchar(length=32, default="")
    matter_type = Varchar(length=32)
    description = Text(default="")
    hardship_mode = Varchar(length=12, default="statement")  # statement | exempt
    hardship_statement = Text(default="")
    pledge = Boolean(default=False)
    exemption_category = Varchar(length=100, default="")
    status = Varchar(length=20, default="received")
    day_kind = Varchar(length=8, default="working")
    received_at = Timestamptz()
    complete_at = Timestamptz(null=True, default=None)
    decision_due_at = Timestamptz(null=True, default=None)
    materials_requested_at = Timestamptz(null=True, default=None)
    materials_items = Text(default="")
    materials_due_at = Timestamptz(null=True, default=None)
    materials_supplied_at = Timestamptz(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    decided_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    decided_late = Boolean(default=False)
    refusal_reasons = Text(default="")
    assign_due_at = Timestamptz(null=True, default=None)
    assigned_at = Timestamptz(null=True, default=None)
    assigned_lawyer = ForeignKey(references=LegalAidLawyer, null=True, on_delete=OnDelete.restrict)
    assigned_external = Varchar(length=100, default="")
    assigned_late = Boolean(default=False)
    withdrawn_at = Timestamptz(null=True, default=None)
    created_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    version = Integer(default=1)


class LegalAidDocument(Table, tablename="legal_aid_document"):
    """A file of an application, stored like matter attachments (content-addressed, outside the
    web root). ``stage``: initial | supplement."""

    application = ForeignKey(references=LegalAidApplication, on_delete=OnDelete.cascade)
    sha256 = Varchar(length=64)
    filename = Varchar(length=200)
    content_type = Varchar(length=64)
    size = Integer()
    stage = Varchar(length=12, default="initial")
    uploaded_at = Timestamptz(default=TimestamptzNow())


class LegalAidEvent(Table, tablename="legal_aid_event"):
    """The application's timeline (append-only). kind: received, materials_requested,
    materials_supplied, complete, granted, refused, assigned, withdrawn, note. ``actor`` NULL =
    the applicant online or the system (job)."""

    application = ForeignKey(references=LegalAidApplication, on_delete=OnDelete.cascade)
    kind = Varchar(length=24)
    note = Text(default="")
    actor = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)
    at = Timestamptz(default=TimestamptzNow())


class LegalAidNotice(Table, tablename="legal_aid_notice"):
    """A written decision notice (不予法律援助决定书…), numbered per center and year without gaps."""

    application = ForeignKey(references=LegalAidApplication, on_delete=OnDelete.restrict)
    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    kind = Varchar(length=16)  # refusal
    year = Integer()
    seq = Integer()
    number = Varchar(length=64)
    title = Varchar(length=100)
    body = Text()
    issued_at = Timestamptz()
    issued_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.restrict)


class LegalAidNoticeCounter(Table, tablename="legal_aid_notice_counter"):
    """The last notice number per (center, year); unique pair in the migration."""

    center = ForeignKey(references=Center, on_delete=OnDelete.cascade)
    year = Integer()
    last = Integer(default=0)
