"""Counseling: cases, sessions (encrypted notes), referrals, supervisor reviews, matter links, keyring.

* ``counseling_case``: unique ``booking`` (one case per booking it was opened from); (counselor, id)
  for the counselor's list; (center, id) for the supervisor's list; (erased_at, last_session_at)
  for the retention job.
* ``counseling_session``: unique ``booking`` (a booking is one session); (case_id, held_at) for the
  case page; (center, held_at) for the monthly numbers.
* ``counseling_referral``: (case_id, id); (center, referred_on) for the numbers.
* ``counseling_review``: (case_id, id) for the counselor's view; (supervisor, case_id) for grants.
* ``counseling_matter_link``: (case_id, id).
* ``counseling_keyring``: unique ``slot``.

Depends on 09:00 (the module's first tables). Hand-written: only this module's own tables.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T09:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "counseling: cases, sessions with encrypted notes, referrals, reviews, matter links, keyring"

NOW = "TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP"
STAFF = "INTEGER NOT NULL REFERENCES staff_user (id) ON DELETE RESTRICT"
CENTER = "INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT"
CASE = "INTEGER NOT NULL REFERENCES counseling_case (id) ON DELETE RESTRICT"


def _statements(pk: str) -> list[str]:
    return [
        f"CREATE TABLE counseling_case (id {pk}, center {CENTER}, counselor {STAFF}, "
        "citizen INTEGER DEFAULT NULL REFERENCES citizen (id) ON DELETE SET NULL, "
        "booking INTEGER DEFAULT NULL UNIQUE REFERENCES booking (id) ON DELETE RESTRICT, "
        f"client_label TEXT NOT NULL DEFAULT '', opened_at {NOW}, last_session_at TIMESTAMPTZ DEFAULT NULL, "
        "sessions INTEGER NOT NULL DEFAULT 0, erased_at TIMESTAMPTZ DEFAULT NULL, version INTEGER NOT NULL DEFAULT 1)",
        "CREATE INDEX counseling_case_counselor ON counseling_case (counselor, id)",
        "CREATE INDEX counseling_case_center ON counseling_case (center, id)",
        "CREATE INDEX counseling_case_retention ON counseling_case (erased_at, last_session_at)",
        "CREATE INDEX counseling_case_citizen ON counseling_case (citizen)",
        f"CREATE TABLE counseling_session (id {pk}, case_id {CASE}, center {CENTER}, counselor {STAFF}, "
        "booking INTEGER DEFAULT NULL UNIQUE REFERENCES booking (id) ON DELETE RESTRICT, "
        "kind VARCHAR(12) NOT NULL DEFAULT 'follow_up', held_at TIMESTAMPTZ NOT NULL, "
        "duration_minutes INTEGER NOT NULL DEFAULT 50, attendance VARCHAR(8) NOT NULL DEFAULT 'attended', "
        f"notes TEXT NOT NULL DEFAULT '', created_at {NOW}, updated_at TIMESTAMPTZ DEFAULT NULL, "
        "erased_at TIMESTAMPTZ DEFAULT NULL, version INTEGER NOT NULL DEFAULT 1)",
        "CREATE INDEX counseling_session_case ON counseling_session (case_id, held_at)",
        "CREATE INDEX counseling_session_center_held ON counseling_session (center, held_at)",
        f"CREATE TABLE counseling_referral (id {pk}, case_id {CASE}, center {CENTER}, counselor {STAFF}, "
        "referred_on DATE NOT NULL, client_agreed BOOLEAN NOT NULL DEFAULT false, details TEXT NOT NULL DEFAULT '', "
        f"created_at {NOW}, erased_at TIMESTAMPTZ DEFAULT NULL)",
        "CREATE INDEX counseling_referral_case ON counseling_referral (case_id, id)",
        "CREATE INDEX counseling_referral_center_on ON counseling_referral (center, referred_on)",
        f"CREATE TABLE counseling_review (id {pk}, case_id {CASE}, center {CENTER}, supervisor {STAFF}, "
        f"reason TEXT NOT NULL DEFAULT '', started_at {NOW}, expires_at TIMESTAMPTZ NOT NULL, "
        "audit_seq INTEGER DEFAULT NULL)",
        "CREATE INDEX counseling_review_case ON counseling_review (case_id, id)",
        "CREATE INDEX counseling_review_supervisor ON counseling_review (supervisor, case_id)",
        f"CREATE TABLE counseling_matter_link (id {pk}, case_id {CASE}, "
        "matter INTEGER DEFAULT NULL REFERENCES matter (id) ON DELETE SET NULL, "
        f"matter_code VARCHAR(16) NOT NULL DEFAULT '', informed_at {NOW}, "
        "informed_by INTEGER DEFAULT NULL REFERENCES staff_user (id) ON DELETE SET NULL)",
        "CREATE INDEX counseling_matter_link_case ON counseling_matter_link (case_id, id)",
        f"CREATE TABLE counseling_keyring (id {pk}, slot VARCHAR(16) NOT NULL UNIQUE, "
        "generation INTEGER NOT NULL DEFAULT 1, fingerprint VARCHAR(64) NOT NULL DEFAULT '', "
        f"created_at {NOW}, rotated_at TIMESTAMPTZ DEFAULT NULL)",
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
