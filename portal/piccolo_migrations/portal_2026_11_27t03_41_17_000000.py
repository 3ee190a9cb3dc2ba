"""Scheduler leases and run history, once-only job claims, deadline warnings, and outbox delivery.

* ``job_lease``: one row per job; a process runs a job only after a conditional UPDATE made it the
  holder until ``lease_until`` (portal/jobs/runner.py). ``job_run``: the run history.
* ``job_claim``: (job, key) unique — what a job did once, claimed in the transaction of its effect.
* ``matter_deadline_warning``: unique (matter, clock, due_at, stage): each warning about one
  deadline of one matter is sent once (``due_at`` is copied from the matter row, so a new deadline
  after an extension gets its own warnings).
* ``outbox``: email messages (address, subject), ``next_attempt_at`` for retries with back-off;
  the index serves the deliverer's "due pending rows" and the staff page's status filter.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T03:41:17:000000"
VERSION = "1.38.0"
DESCRIPTION = "scheduler, deadline warnings, outbox email and retries"


def _statements(pk: str) -> list[str]:
    return [
        f"CREATE TABLE job_lease (id {pk}, name VARCHAR(64) NOT NULL UNIQUE, holder VARCHAR(100) NOT NULL DEFAULT '', "
        "lease_until TIMESTAMPTZ DEFAULT NULL, last_started_at TIMESTAMPTZ DEFAULT NULL, "
        "last_finished_at TIMESTAMPTZ DEFAULT NULL, last_result VARCHAR(200) NOT NULL DEFAULT '', "
        "last_error VARCHAR(500) NOT NULL DEFAULT '', runs INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0)",
        f"CREATE TABLE job_run (id {pk}, job VARCHAR(64) NOT NULL DEFAULT '', holder VARCHAR(100) NOT NULL DEFAULT '', "
        "started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ DEFAULT NULL, "
        "status VARCHAR(12) NOT NULL DEFAULT 'running', result VARCHAR(200) NOT NULL DEFAULT '', "
        "error VARCHAR(500) NOT NULL DEFAULT '')",
        "CREATE INDEX job_run_job_id ON job_run (job, id)",
        f"CREATE TABLE job_claim (id {pk}, job VARCHAR(64) NOT NULL DEFAULT '', key VARCHAR(160) NOT NULL DEFAULT '', "
        "claimed_at TIMESTAMPTZ NOT NULL)",
        "CREATE UNIQUE INDEX job_claim_job_key ON job_claim (job, key)",
        f"CREATE TABLE matter_deadline_warning (id {pk}, "
        "matter INTEGER NOT NULL REFERENCES matter (id) ON DELETE CASCADE, clock VARCHAR(20) NOT NULL DEFAULT '', "
        "due_at TIMESTAMPTZ NOT NULL, stage VARCHAR(12) NOT NULL DEFAULT '', sent_at TIMESTAMPTZ NOT NULL)",
        "CREATE UNIQUE INDEX matter_deadline_warning_once ON matter_deadline_warning (matter, clock, due_at, stage)",
        "ALTER TABLE outbox ADD COLUMN email VARCHAR(120) NOT NULL DEFAULT ''",
        "ALTER TABLE outbox ADD COLUMN subject VARCHAR(200) NOT NULL DEFAULT ''",
        "ALTER TABLE outbox ADD COLUMN next_attempt_at TIMESTAMPTZ DEFAULT NULL",
        "CREATE INDEX outbox_status_next ON outbox (status, next_attempt_at)",
        "CREATE INDEX outbox_center_id ON outbox (center, id)",
        "CREATE INDEX outbox_staff_unread ON outbox (staff, read_at)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        pk = "INTEGER PRIMARY KEY NOT NULL" if engine.engine_type == "sqlite" else "SERIAL PRIMARY KEY"
        for statement in _statements(pk):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
