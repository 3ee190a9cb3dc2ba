"""Core tables (Piccolo app ``portal``).

Composite unique constraints and the audit triggers are created by raw SQL in the migrations,
because Piccolo's column API has no composite constraints.
"""

from __future__ import annotations

from piccolo.columns import (
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

__all__ = [
    "AuditHead",
    "AuditLog",
    "AuthSession",
    "Center",
    "CenterModule",
    "Department",
    "StaffRole",
    "StaffUser",
    "SubmissionKey",
    "Throttle",
]


class Center(Table, tablename="center"):
    """A comprehensive governance center: district ▸ township/street ▸ village/community."""

    code = Varchar(length=32, unique=True)
    name = Varchar(length=100)
    level = Varchar(length=16, index=True)  # district | township | village
    parent = ForeignKey(references="self", null=True, on_delete=OnDelete.restrict)
    # Materialised ancestor path "/1/4/17/" (own id last): a subtree is one indexed prefix match.
    path = Varchar(length=255, index=True, default="")
    address = Varchar(length=200, default="")
    phone = Varchar(length=40, default="")
    hours = Varchar(length=100, default="")
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Department(Table, tablename="department"):
    """A functional department that a center can summon (人社局, 司法所…)."""

    code = Varchar(length=32, unique=True)
    name = Varchar(length=100)
    # The center the department belongs to: the district for county bureaus, a township for its 站所.
    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    at_district = Boolean(default=True)
    at_township = Boolean(default=False)
    at_village = Boolean(default=False)
    phone = Varchar(length=40, default="")
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


class StaffUser(Table, tablename="staff_user"):
    username = Varchar(length=64, unique=True)
    display_name = Varchar(length=64)
    phone = Varchar(length=20, default="")
    email = Varchar(length=120, default="")
    password_hash = Varchar(length=255)
    must_change_password = Boolean(default=False)
    totp_secret = Text(default="")  # Fernet ciphertext, key from PORTAL_DATA_KEY
    totp_confirmed = Boolean(default=False)
    totp_last_step = BigInt(default=0)  # refuses a code replayed within its window
    center = ForeignKey(references=Center, on_delete=OnDelete.restrict)
    department = ForeignKey(references=Department, null=True, on_delete=OnDelete.restrict)
    active = Boolean(default=True)
    is_demo = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())
    last_login_at = Timestamptz(null=True, default=None)
    password_changed_at = Timestamptz(default=TimestamptzNow())


class StaffRole(Table, tablename="staff_role"):
    user = ForeignKey(references=StaffUser, on_delete=OnDelete.cascade)
    role = Varchar(length=32)


class AuthSession(Table, tablename="auth_session"):
    """Our own session table: only the token's hash is stored; a new token at every sign-in."""

    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(references=StaffUser, on_delete=OnDelete.cascade)
    # password: password accepted, second factor pending; enroll: TOTP set-up pending;
    # change_password: a temporary password must be replaced; full: signed in.
    stage = Varchar(length=16)
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    ip = Varchar(length=64, default="")
    user_agent = Varchar(length=255, default="")


class Throttle(Table, tablename="throttle"):
    """Fixed-window counters shared by every app process (login attempts, locks, rate limits)."""

    key = Varchar(length=160, unique=True)
    window_start = Timestamptz()
    hits = Integer(default=0)
    locked_until = Timestamptz(null=True, default=None)


class CenterModule(Table, tablename="center_module"):
    """Per-center module switch: the district allows, the center admin enables."""

    center = ForeignKey(references=Center, on_delete=OnDelete.cascade)
    module = Varchar(length=64)
    allowed = Boolean(default=False)
    enabled = Boolean(default=False)
    updated_at = Timestamptz(default=TimestamptzNow())


class AuditLog(Table, tablename="audit_log"):
    """Append-only, hash-chained audit trail. Triggers refuse UPDATE and DELETE."""

    seq = BigInt(unique=True)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    actor_id = Integer(null=True, default=None)
    actor = Varchar(length=64, default="")
    role = Varchar(length=200, default="")
    center_id = Integer(null=True, default=None, index=True)
    action = Varchar(length=64, index=True)
    object_type = Varchar(length=64, default="")
    object_id = Varchar(length=64, default="")
    result = Varchar(length=16, default="success")
    ip = Varchar(length=64, default="")
    request_id = Varchar(length=64, default="")
    fields = Text(default="")  # names of changed fields only, never their values
    prev_hash = Varchar(length=64, default="")
    hash = Varchar(length=64, default="")


class AuditHead(Table, tablename="audit_head"):
    """The chain's tip: last sequence number and hash. Lets verify detect a deleted tail."""

    seq = BigInt(default=0)
    hash = Varchar(length=64, default="")


class SubmissionKey(Table, tablename="submission_key"):
    """One-time keys of create forms: a double click or a retry creates one record."""

    key = Varchar(length=64, unique=True)
    purpose = Varchar(length=64)
    result_url = Varchar(length=255, default="")
    created_at = Timestamptz(default=TimestamptzNow())
