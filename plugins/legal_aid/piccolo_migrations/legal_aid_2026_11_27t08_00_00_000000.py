"""Legal aid: lawyer profiles, duty roster, policy, applications (documents, timeline, notices).

* ``legal_aid_lawyer``: unique ``staff``; index ``center``.
* ``legal_aid_duty``: unique (center, lawyer, day, start_minute); (center, day) for the week view,
  the gap job and the widget.
* ``legal_aid_policy``: unique ``center``.
* ``legal_aid_application``: unique ``code``; (center, status) for the list and the jobs.
* ``legal_aid_document`` / ``legal_aid_event``: (application, id).
* ``legal_aid_notice``: unique (center, year, seq); ``legal_aid_notice_counter``: unique (center, year).

The consultation log's tables come in their own migration (08:30), which depends on this one.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T08:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "legal_aid: lawyers, duty roster, policy, applications"

STAFF = "INTEGER DEFAULT NULL REFERENCES staff_user (id) ON DELETE RESTRICT"
STAFF_NULL = "INTEGER DEFAULT NULL REFERENCES staff_user (id) ON DELETE SET NULL"
NOW = "TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP"


def _statements(pk: str) -> list[str]:
    return [
        f"CREATE TABLE legal_aid_lawyer (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "staff INTEGER NOT NULL UNIQUE REFERENCES staff_user (id) ON DELETE RESTRICT, "
        "firm VARCHAR(100) NOT NULL DEFAULT '', licence_no VARCHAR(17) NOT NULL DEFAULT '', "
        "specialties VARCHAR(300) NOT NULL DEFAULT '', phone VARCHAR(16) NOT NULL DEFAULT '', "
        f"active BOOLEAN NOT NULL DEFAULT true, created_at {NOW}, updated_at {NOW}, "
        f"updated_by {STAFF_NULL})",
        "CREATE INDEX legal_aid_lawyer_center ON legal_aid_lawyer (center)",
        f"CREATE TABLE legal_aid_duty (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "lawyer INTEGER NOT NULL REFERENCES legal_aid_lawyer (id) ON DELETE RESTRICT, "
        "day DATE NOT NULL, start_minute INTEGER NOT NULL, end_minute INTEGER NOT NULL, "
        "resource INTEGER DEFAULT NULL REFERENCES booking_resource (id) ON DELETE SET NULL, "
        "exception INTEGER DEFAULT NULL REFERENCES booking_exception (id) ON DELETE SET NULL, "
        f"created_at {NOW}, created_by {STAFF_NULL})",
        "CREATE UNIQUE INDEX legal_aid_duty_slot ON legal_aid_duty (center, lawyer, day, start_minute)",
        "CREATE INDEX legal_aid_duty_center_day ON legal_aid_duty (center, day)",
        f"CREATE TABLE legal_aid_policy (id {pk}, "
        "center INTEGER NOT NULL UNIQUE REFERENCES center (id) ON DELETE CASCADE, "
        "day_kind VARCHAR(8) NOT NULL DEFAULT 'working', decision_days INTEGER NOT NULL DEFAULT 7, "
        "assign_days INTEGER NOT NULL DEFAULT 3, materials_days INTEGER NOT NULL DEFAULT 15, "
        f"exemption_categories TEXT NOT NULL DEFAULT '', updated_at {NOW}, updated_by {STAFF_NULL})",
        f"CREATE TABLE legal_aid_application (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "code VARCHAR(12) NOT NULL UNIQUE, channel VARCHAR(8) NOT NULL DEFAULT 'online', "
        "citizen INTEGER DEFAULT NULL REFERENCES citizen (id) ON DELETE RESTRICT, "
        "applicant_name VARCHAR(64) NOT NULL DEFAULT '', id_number VARCHAR(18) NOT NULL DEFAULT '', "
        "phone VARCHAR(16) NOT NULL DEFAULT '', address VARCHAR(200) NOT NULL DEFAULT '', "
        "on_behalf VARCHAR(16) NOT NULL DEFAULT 'self', represented_name VARCHAR(64) NOT NULL DEFAULT '', "
        "represented_id_number VARCHAR(18) NOT NULL DEFAULT '', relationship VARCHAR(32) NOT NULL DEFAULT '', "
        "matter_type VARCHAR(32) NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '', "
        "hardship_mode VARCHAR(12) NOT NULL DEFAULT 'statement', hardship_statement TEXT NOT NULL DEFAULT '', "
        "pledge BOOLEAN NOT NULL DEFAULT false, exemption_category VARCHAR(100) NOT NULL DEFAULT '', "
        "status VARCHAR(20) NOT NULL DEFAULT 'received', day_kind VARCHAR(8) NOT NULL DEFAULT 'working', "
        f"received_at {NOW}, complete_at TIMESTAMPTZ DEFAULT NULL, decision_due_at TIMESTAMPTZ DEFAULT NULL, "
        "materials_requested_at TIMESTAMPTZ DEFAULT NULL, materials_items TEXT NOT NULL DEFAULT '', "
        "materials_due_at TIMESTAMPTZ DEFAULT NULL, materials_supplied_at TIMESTAMPTZ DEFAULT NULL, "
        f"decided_at TIMESTAMPTZ DEFAULT NULL, decided_by {STAFF}, decided_late BOOLEAN NOT NULL DEFAULT false, "
        "refusal_reasons TEXT NOT NULL DEFAULT '', assign_due_at TIMESTAMPTZ DEFAULT NULL, "
        "assigned_at TIMESTAMPTZ DEFAULT NULL, "
        "assigned_lawyer INTEGER DEFAULT NULL REFERENCES legal_aid_lawyer (id) ON DELETE RESTRICT, "
        "assigned_external VARCHAR(100) NOT NULL DEFAULT '', assigned_late BOOLEAN NOT NULL DEFAULT false, "
        f"withdrawn_at TIMESTAMPTZ DEFAULT NULL, created_by {STAFF}, version INTEGER NOT NULL DEFAULT 1)",
        "CREATE INDEX legal_aid_application_center_status ON legal_aid_application (center, status)",
        "CREATE INDEX legal_aid_application_citizen ON legal_aid_application (citizen)",
        f"CREATE TABLE legal_aid_document (id {pk}, "
        "application INTEGER NOT NULL REFERENCES legal_aid_application (id) ON DELETE CASCADE, "
        "sha256 VARCHAR(64) NOT NULL DEFAULT '', filename VARCHAR(200) NOT NULL DEFAULT '', "
        "content_type VARCHAR(64) NOT NULL DEFAULT '', size INTEGER NOT NULL DEFAULT 0, "
        f"stage VARCHAR(12) NOT NULL DEFAULT 'initial', uploaded_at {NOW})",
        "CREATE INDEX legal_aid_document_application ON legal_aid_document (application, id)",
        f"CREATE TABLE legal_aid_event (id {pk}, "
        "application INTEGER NOT NULL REFERENCES legal_aid_application (id) ON DELETE CASCADE, "
        "kind VARCHAR(24) NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '', "
        f"actor {STAFF}, at {NOW})",
        "CREATE INDEX legal_aid_event_application ON legal_aid_event (application, id)",
        f"CREATE TABLE legal_aid_notice (id {pk}, "
        "application INTEGER NOT NULL REFERENCES legal_aid_application (id) ON DELETE RESTRICT, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "kind VARCHAR(16) NOT NULL DEFAULT '', year INTEGER NOT NULL, seq INTEGER NOT NULL, "
        "number VARCHAR(64) NOT NULL DEFAULT '', title VARCHAR(100) NOT NULL DEFAULT '', "
        f"body TEXT NOT NULL DEFAULT '', issued_at {NOW}, issued_by {STAFF})",
        "CREATE UNIQUE INDEX legal_aid_notice_number ON legal_aid_notice (center, year, seq)",
        "CREATE INDEX legal_aid_notice_application ON legal_aid_notice (application)",
        f"CREATE TABLE legal_aid_notice_counter (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE CASCADE, "
        "year INTEGER NOT NULL, last INTEGER NOT NULL DEFAULT 0)",
        "CREATE UNIQUE INDEX legal_aid_notice_counter_year ON legal_aid_notice_counter (center, year)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="legal_aid", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        pk = "INTEGER PRIMARY KEY NOT NULL" if engine.engine_type == "sqlite" else "SERIAL PRIMARY KEY"
        for statement in _statements(pk):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
