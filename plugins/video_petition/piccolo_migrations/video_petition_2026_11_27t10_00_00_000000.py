"""Video petition module: sessions, participants, the room's signal log, minutes, recordings.

* ``video_petition_session``: (center, created_at) for the list, ``matter`` for the matter panel.
* ``video_petition_participant``: unique (session, staff) and (session, citizen).
* ``video_petition_signal``: (session, id) — what every open stream of a room polls.
* ``video_petition_chunk``: unique (recording, seq) makes a chunk's retry idempotent.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "video_petition: sessions, participants, signals, minutes, recordings"

STAFF = "INTEGER DEFAULT NULL REFERENCES staff_user (id) ON DELETE RESTRICT"


def _statements(pk: str) -> list[str]:
    return [
        f"CREATE TABLE video_petition_session (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "service VARCHAR(12) NOT NULL DEFAULT 'leader', "
        "citizen INTEGER DEFAULT NULL REFERENCES citizen (id) ON DELETE SET NULL, "
        "matter INTEGER DEFAULT NULL REFERENCES matter (id) ON DELETE SET NULL, "
        "booking INTEGER DEFAULT NULL REFERENCES booking (id) ON DELETE SET NULL, "
        "name VARCHAR(50) NOT NULL DEFAULT '', phone VARCHAR(16) NOT NULL DEFAULT '', "
        "description TEXT NOT NULL DEFAULT '', preferred VARCHAR(100) NOT NULL DEFAULT '', "
        "status VARCHAR(12) NOT NULL DEFAULT 'requested', "
        f"host {STAFF}, "
        "department INTEGER DEFAULT NULL REFERENCES department (id) ON DELETE RESTRICT, "
        "scheduled_at TIMESTAMPTZ DEFAULT NULL, "
        f"id_checked_by {STAFF}, id_checked_at TIMESTAMPTZ DEFAULT NULL, "
        "id_check_method VARCHAR(20) NOT NULL DEFAULT '', "
        f"decided_by {STAFF}, decided_at TIMESTAMPTZ DEFAULT NULL, decision_reason TEXT NOT NULL DEFAULT '', "
        "recording_requested BOOLEAN NOT NULL DEFAULT false, "
        "started_at TIMESTAMPTZ DEFAULT NULL, ended_at TIMESTAMPTZ DEFAULT NULL, "
        f"created_by {STAFF}, created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP, "
        "version INTEGER NOT NULL DEFAULT 1)",
        "CREATE INDEX video_petition_session_center_created ON video_petition_session (center, created_at)",
        "CREATE INDEX video_petition_session_matter ON video_petition_session (matter)",
        "CREATE INDEX video_petition_session_citizen ON video_petition_session (citizen)",
        "CREATE UNIQUE INDEX video_petition_session_booking ON video_petition_session (booking)",
        f"CREATE TABLE video_petition_participant (id {pk}, "
        "session INTEGER NOT NULL REFERENCES video_petition_session (id) ON DELETE CASCADE, "
        "kind VARCHAR(12) NOT NULL DEFAULT 'citizen', "
        f"staff {STAFF}, "
        "citizen INTEGER DEFAULT NULL REFERENCES citizen (id) ON DELETE RESTRICT, "
        "department INTEGER DEFAULT NULL REFERENCES department (id) ON DELETE RESTRICT, "
        "display_name VARCHAR(100) NOT NULL DEFAULT '', state VARCHAR(12) NOT NULL DEFAULT 'waiting', "
        "consent_recording BOOLEAN NOT NULL DEFAULT false, joined_at TIMESTAMPTZ DEFAULT NULL, "
        "checked_in_at TIMESTAMPTZ DEFAULT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        "CREATE UNIQUE INDEX video_petition_participant_staff ON video_petition_participant (session, staff)",
        "CREATE UNIQUE INDEX video_petition_participant_citizen ON video_petition_participant (session, citizen)",
        f"CREATE TABLE video_petition_signal (id {pk}, "
        "session INTEGER NOT NULL REFERENCES video_petition_session (id) ON DELETE CASCADE, "
        "sender INTEGER DEFAULT NULL, recipient INTEGER DEFAULT NULL, "
        "kind VARCHAR(8) NOT NULL DEFAULT 'state', payload TEXT NOT NULL DEFAULT '{}', "
        "created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        "CREATE INDEX video_petition_signal_session_id ON video_petition_signal (session, id)",
        f"CREATE TABLE video_petition_minutes (id {pk}, "
        "session INTEGER NOT NULL UNIQUE REFERENCES video_petition_session (id) ON DELETE CASCADE, "
        f"body TEXT NOT NULL DEFAULT '', updated_by {STAFF}, "
        "updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP, "
        "code_hash VARCHAR(64) NOT NULL DEFAULT '', code_expires_at TIMESTAMPTZ DEFAULT NULL, "
        "code_attempts INTEGER NOT NULL DEFAULT 0, codes_sent INTEGER NOT NULL DEFAULT 0, "
        "signed_at TIMESTAMPTZ DEFAULT NULL, signed_text_sha256 VARCHAR(64) NOT NULL DEFAULT '', "
        "version INTEGER NOT NULL DEFAULT 1)",
        f"CREATE TABLE video_petition_recording (id {pk}, "
        "session INTEGER NOT NULL REFERENCES video_petition_session (id) ON DELETE CASCADE, "
        f"state VARCHAR(12) NOT NULL DEFAULT 'on', started_by {STAFF}, "
        "started_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP, finished_at TIMESTAMPTZ DEFAULT NULL, "
        "chunks INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL DEFAULT 0, "
        "sha256 VARCHAR(64) NOT NULL DEFAULT '', path VARCHAR(300) NOT NULL DEFAULT '', "
        "purged_at TIMESTAMPTZ DEFAULT NULL)",
        "CREATE INDEX video_petition_recording_session ON video_petition_recording (session)",
        f"CREATE TABLE video_petition_chunk (id {pk}, "
        "recording INTEGER NOT NULL REFERENCES video_petition_recording (id) ON DELETE CASCADE, "
        "seq INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL DEFAULT 0, "
        "sha256 VARCHAR(64) NOT NULL DEFAULT '', received_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        "CREATE UNIQUE INDEX video_petition_chunk_recording_seq ON video_petition_chunk (recording, seq)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="video_petition", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        pk = "INTEGER PRIMARY KEY NOT NULL" if engine.engine_type == "sqlite" else "SERIAL PRIMARY KEY"
        for statement in _statements(pk):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
