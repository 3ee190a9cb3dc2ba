"""Counseling: per-center settings, supervisors, crisis contacts, consent, screening, crisis flags.

* ``counseling_settings``: unique ``center``.
* ``counseling_supervisor`` / ``counseling_crisis_contact``: unique (center, staff).
* ``counseling_consent`` / ``counseling_screening``: unique ``booking`` (one per booking).
* ``counseling_crisis``: (center, status) for the open flags, (counselor, status) for the widget,
  (center, raised_at) for the monthly numbers; ``counseling_crisis_step``: (crisis, id).

Sessions and notes come in their own migration (09:30), which depends on this one.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "counseling: settings, supervisors, crisis contacts, consent, screening, crisis flags"

STAFF_NULL = "INTEGER DEFAULT NULL REFERENCES staff_user (id) ON DELETE SET NULL"
NOW = "TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP"


def _statements(pk: str) -> list[str]:
    return [
        f"CREATE TABLE counseling_settings (id {pk}, "
        "center INTEGER NOT NULL UNIQUE REFERENCES center (id) ON DELETE CASCADE, "
        "retention_days INTEGER NOT NULL DEFAULT 1095, consent_version VARCHAR(16) NOT NULL DEFAULT '2026-11', "
        f"phone VARCHAR(40) NOT NULL DEFAULT '', updated_at {NOW}, updated_by {STAFF_NULL})",
        f"CREATE TABLE counseling_supervisor (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE CASCADE, "
        "staff INTEGER NOT NULL REFERENCES staff_user (id) ON DELETE CASCADE, "
        f"created_at {NOW}, created_by {STAFF_NULL})",
        "CREATE UNIQUE INDEX counseling_supervisor_center_staff ON counseling_supervisor (center, staff)",
        "CREATE INDEX counseling_supervisor_staff ON counseling_supervisor (staff)",
        f"CREATE TABLE counseling_crisis_contact (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE CASCADE, "
        "staff INTEGER NOT NULL REFERENCES staff_user (id) ON DELETE CASCADE, "
        f"phone VARCHAR(16) NOT NULL DEFAULT '', created_at {NOW}, created_by {STAFF_NULL})",
        "CREATE UNIQUE INDEX counseling_crisis_contact_center_staff ON counseling_crisis_contact (center, staff)",
        "CREATE INDEX counseling_crisis_contact_staff ON counseling_crisis_contact (staff)",
        f"CREATE TABLE counseling_consent (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "booking INTEGER NOT NULL UNIQUE REFERENCES booking (id) ON DELETE RESTRICT, "
        "citizen INTEGER DEFAULT NULL REFERENCES citizen (id) ON DELETE SET NULL, "
        "version VARCHAR(16) NOT NULL DEFAULT '', channel VARCHAR(8) NOT NULL DEFAULT 'online', "
        f"recorded_by {STAFF_NULL}, consented_at {NOW})",
        f"CREATE TABLE counseling_screening (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "booking INTEGER NOT NULL UNIQUE REFERENCES booking (id) ON DELETE RESTRICT, "
        f"counselor {STAFF_NULL}, "
        "phq9 VARCHAR(9) NOT NULL DEFAULT '', phq9_total INTEGER NOT NULL DEFAULT 0, "
        "phq9_difficulty INTEGER NOT NULL DEFAULT 0, gad7 VARCHAR(7) NOT NULL DEFAULT '', "
        f"gad7_total INTEGER NOT NULL DEFAULT 0, submitted_at {NOW})",
        "CREATE INDEX counseling_screening_counselor ON counseling_screening (counselor)",
        f"CREATE TABLE counseling_crisis (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "booking INTEGER DEFAULT NULL REFERENCES booking (id) ON DELETE RESTRICT, "
        f"case_ref INTEGER DEFAULT NULL, counselor {STAFF_NULL}, "
        "source VARCHAR(12) NOT NULL DEFAULT 'counselor', reason TEXT NOT NULL DEFAULT '', "
        f"status VARCHAR(10) NOT NULL DEFAULT 'open', raised_by {STAFF_NULL}, raised_at {NOW}, "
        f"resolved_by {STAFF_NULL}, resolved_at TIMESTAMPTZ DEFAULT NULL, "
        "closing_note TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL DEFAULT 1)",
        "CREATE INDEX counseling_crisis_center_status ON counseling_crisis (center, status)",
        "CREATE INDEX counseling_crisis_counselor_status ON counseling_crisis (counselor, status)",
        "CREATE INDEX counseling_crisis_center_raised ON counseling_crisis (center, raised_at)",
        "CREATE INDEX counseling_crisis_booking ON counseling_crisis (booking)",
        "CREATE INDEX counseling_crisis_case_ref ON counseling_crisis (case_ref)",
        f"CREATE TABLE counseling_crisis_step (id {pk}, "
        "crisis INTEGER NOT NULL REFERENCES counseling_crisis (id) ON DELETE CASCADE, "
        "step VARCHAR(12) NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '', "
        f"actor {STAFF_NULL}, at {NOW})",
        "CREATE INDEX counseling_crisis_step_crisis ON counseling_crisis_step (crisis, id)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="counseling", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        pk = "INTEGER PRIMARY KEY NOT NULL" if engine.engine_type == "sqlite" else "SERIAL PRIMARY KEY"
        for statement in _statements(pk):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
