"""Scheduler tables: one lease row per job, the run history, and once-only claims."""

from __future__ import annotations

from piccolo.columns import Integer, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["JobClaim", "JobLease", "JobRun"]


class JobLease(Table, tablename="job_lease"):
    """Who may run a job now: a process holds it until ``lease_until`` (a crashed holder's lease
    simply runs out). Also the job's last run, for the staff page and ``portal jobs list``."""

    name = Varchar(length=64, unique=True)
    holder = Varchar(length=100, default="")
    lease_until = Timestamptz(null=True, default=None)
    last_started_at = Timestamptz(null=True, default=None)
    last_finished_at = Timestamptz(null=True, default=None)
    last_result = Varchar(length=200, default="")
    last_error = Varchar(length=500, default="")
    runs = Integer(default=0)
    failures = Integer(default=0)


class JobRun(Table, tablename="job_run"):
    """One run of a job (history; the newest rows per job are shown to staff)."""

    job = Varchar(length=64)
    holder = Varchar(length=100, default="")
    started_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    status = Varchar(length=12, default="running")  # running | ok | error
    result = Varchar(length=200, default="")
    error = Varchar(length=500, default="")


class JobClaim(Table, tablename="job_claim"):
    """A key a job marks as done exactly once (unique (job, key)), in the transaction of its effect."""

    job = Varchar(length=64)
    key = Varchar(length=160)
    claimed_at = Timestamptz()
