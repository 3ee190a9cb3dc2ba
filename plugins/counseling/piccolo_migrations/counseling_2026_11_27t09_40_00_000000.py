"""Counseling: consent given on a case (walk-ins without a booking); screening answers and crisis
texts encrypted at rest with the notes key.

* ``counseling_case_consent``: unique ``case_id`` (one consent per case).
* ``counseling_screening``: the plain answer and total columns go; ``answers`` holds them as one
  ciphertext (``screening:<booking>``). Nothing of the screening is counted by the numbers page.
* ``counseling_crisis.reason`` / ``closing_note`` and ``counseling_crisis_step.note`` keep their
  TEXT type and now hold ciphertext.

Rows written before this migration are encrypted here with PORTAL_COUNSELING_KEY (the key must be
the one the notes use: a mismatch aborts the migration, as every other use of the key does).
Depends on 09:30. Hand-written: only this module's own tables.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T09:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "counseling: consent on a case; screening answers and crisis texts encrypted"

OLD_SCREENING = ("phq9", "phq9_total", "phq9_difficulty", "gad7", "gad7_total")


def _case_consent(pk: str) -> list[str]:
    return [
        f"CREATE TABLE counseling_case_consent (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "case_id INTEGER NOT NULL UNIQUE REFERENCES counseling_case (id) ON DELETE RESTRICT, "
        "version VARCHAR(16) NOT NULL DEFAULT '', channel VARCHAR(8) NOT NULL DEFAULT 'onsite', "
        "recorded_by INTEGER DEFAULT NULL REFERENCES staff_user (id) ON DELETE SET NULL, "
        "consented_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    ]


async def _encrypt_existing() -> None:
    """Existing plaintext rows become ciphertext (no-op on a new database: the key is not even read)."""
    from portal.db import raw
    from portal.settings import Settings

    screenings = await raw("SELECT id, booking, phq9, phq9_difficulty, gad7 FROM counseling_screening")
    crises = await raw("SELECT id, reason, closing_note FROM counseling_crisis WHERE reason <> '' OR closing_note <> ''")
    steps = await raw("SELECT id, crisis, note FROM counseling_crisis_step WHERE note <> ''")
    if not (screenings or crises or steps):
        return
    from plugins.counseling.notes_crypto import ensure_keyring

    cipher = await ensure_keyring(Settings.from_env())
    for row in screenings:
        answers = {"phq9": [int(c) for c in row["phq9"]], "gad7": [int(c) for c in row["gad7"]],
                   "difficulty": int(row["phq9_difficulty"])}
        await raw("UPDATE counseling_screening SET answers = {} WHERE id = {}",
                  cipher.encrypt_json(answers, f"screening:{row['booking']}"), row["id"])
    for row in crises:
        await raw("UPDATE counseling_crisis SET reason = {}, closing_note = {} WHERE id = {}",
                  cipher.encrypt(row["reason"], f"crisis:{row['id']}"),
                  cipher.encrypt(row["closing_note"], f"crisis-closing:{row['id']}"), row["id"])
    for row in steps:
        await raw("UPDATE counseling_crisis_step SET note = {} WHERE id = {}",
                  cipher.encrypt(row["note"], f"crisis-step:{row['crisis']}"), row["id"])


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="counseling", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        pk = "INTEGER PRIMARY KEY NOT NULL" if engine.engine_type == "sqlite" else "SERIAL PRIMARY KEY"
        for statement in _case_consent(pk):
            await engine.run_ddl(statement)
        await engine.run_ddl("ALTER TABLE counseling_screening ADD COLUMN answers TEXT NOT NULL DEFAULT ''")
        await _encrypt_existing()
        for column in OLD_SCREENING:
            await engine.run_ddl(f"ALTER TABLE counseling_screening DROP COLUMN {column}")

    manager.add_raw(run)
    return manager
