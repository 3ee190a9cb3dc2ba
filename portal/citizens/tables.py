"""Citizen accounts, their sessions and the one-time SMS codes that sign them in."""

from __future__ import annotations

from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["Citizen", "CitizenSession", "SmsCode"]


class Citizen(Table, tablename="citizen"):
    """A citizen is known by a verified mobile number only."""

    phone = Varchar(length=16, unique=True)
    created_at = Timestamptz()
    last_sign_in_at = Timestamptz(null=True, default=None)


class CitizenSession(Table, tablename="citizen_session"):
    token_hash = Varchar(length=64, unique=True)
    citizen = ForeignKey(references=Citizen, on_delete=OnDelete.cascade)
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
    expires_at = Timestamptz()


class SmsCode(Table, tablename="sms_code"):
    """The live sign-in code of a phone: only its hash is kept; 5 tries, 5 minutes."""

    phone = Varchar(length=16, index=True)
    code_hash = Varchar(length=64)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    attempts = Integer(default=0)
    used = Boolean(default=False)
