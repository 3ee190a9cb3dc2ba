"""Legal aid: the duty lawyer's consultation log, drafts, advice snippets, hand-overs to the window.

Runs after 08:00 (lawyers, roster, applications) of the same app; it creates only these tables.

* ``legal_aid_consultation``: (author, id) for "my log" (keyset), (author, day) for the same-day
  rule and the monthly summary, (center, day) for the center summaries and the numbers page,
  (firm) and (person_phone) for the conflict check, ``matter`` and ``booking`` for the links.
* ``legal_aid_draft``: unique ``staff``.
* ``legal_aid_snippet``: (center, shared) and (owner).
* ``legal_aid_handover``: unique (consultation, kind); (center, status) for the window's list.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T08:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "legal_aid: consultation log, drafts, snippets, hand-overs"

STAFF = "INTEGER DEFAULT NULL REFERENCES staff_user (id) ON DELETE RESTRICT"
NOW = "TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP"


def _statements(pk: str) -> list[str]:
    return [
        f"CREATE TABLE legal_aid_consultation (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "author INTEGER NOT NULL REFERENCES staff_user (id) ON DELETE RESTRICT, "
        "firm VARCHAR(100) NOT NULL DEFAULT '', day DATE NOT NULL, channel VARCHAR(8) NOT NULL DEFAULT 'walk_in', "
        "booking INTEGER DEFAULT NULL REFERENCES booking (id) ON DELETE SET NULL, "
        "person_name VARCHAR(64) NOT NULL DEFAULT '', person_phone VARCHAR(16) NOT NULL DEFAULT '', "
        "topic VARCHAR(16) NOT NULL DEFAULT '', question TEXT NOT NULL DEFAULT '', advice TEXT NOT NULL DEFAULT '', "
        "route VARCHAR(16) NOT NULL DEFAULT '', eligible BOOLEAN NOT NULL DEFAULT false, "
        "minutes INTEGER NOT NULL DEFAULT 0, "
        "matter INTEGER DEFAULT NULL REFERENCES matter (id) ON DELETE SET NULL, "
        "follow_up BOOLEAN NOT NULL DEFAULT false, conflicts TEXT NOT NULL DEFAULT '[]', "
        f"created_at {NOW}, updated_at {NOW}, version INTEGER NOT NULL DEFAULT 1)",
        "CREATE INDEX legal_aid_consultation_author_id ON legal_aid_consultation (author, id)",
        "CREATE INDEX legal_aid_consultation_author_day ON legal_aid_consultation (author, day)",
        "CREATE INDEX legal_aid_consultation_center_day ON legal_aid_consultation (center, day)",
        "CREATE INDEX legal_aid_consultation_firm ON legal_aid_consultation (firm)",
        "CREATE INDEX legal_aid_consultation_phone ON legal_aid_consultation (person_phone)",
        "CREATE INDEX legal_aid_consultation_matter ON legal_aid_consultation (matter)",
        "CREATE INDEX legal_aid_consultation_booking ON legal_aid_consultation (booking)",
        f"CREATE TABLE legal_aid_draft (id {pk}, "
        "staff INTEGER NOT NULL UNIQUE REFERENCES staff_user (id) ON DELETE CASCADE, "
        f"data TEXT NOT NULL DEFAULT '{{}}', updated_at {NOW})",
        f"CREATE TABLE legal_aid_snippet (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "owner INTEGER NOT NULL REFERENCES staff_user (id) ON DELETE RESTRICT, "
        "shared BOOLEAN NOT NULL DEFAULT false, title VARCHAR(40) NOT NULL DEFAULT '', "
        "body TEXT NOT NULL DEFAULT '', active BOOLEAN NOT NULL DEFAULT true, "
        f"created_at {NOW}, updated_at {NOW})",
        "CREATE INDEX legal_aid_snippet_center_shared ON legal_aid_snippet (center, shared)",
        "CREATE INDEX legal_aid_snippet_owner ON legal_aid_snippet (owner)",
        f"CREATE TABLE legal_aid_handover (id {pk}, "
        "consultation INTEGER NOT NULL REFERENCES legal_aid_consultation (id) ON DELETE CASCADE, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "kind VARCHAR(12) NOT NULL DEFAULT '', submission_key VARCHAR(64) NOT NULL DEFAULT '', "
        f"status VARCHAR(8) NOT NULL DEFAULT 'open', created_at {NOW}, created_by {STAFF}, "
        f"closed_at TIMESTAMPTZ DEFAULT NULL, closed_by {STAFF})",
        "CREATE UNIQUE INDEX legal_aid_handover_kind ON legal_aid_handover (consultation, kind)",
        "CREATE INDEX legal_aid_handover_center_status ON legal_aid_handover (center, status)",
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
