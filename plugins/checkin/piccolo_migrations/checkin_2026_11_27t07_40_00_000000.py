"""Check-in module: policy per center, whistles, summonses (one per department) and the timeline.

* ``checkin_policy``: one row per center (unique ``center``).
* ``checkin_whistle``: ``code`` unique (the short check-in code); indexes (center, created_at) for
  the list and the board, ``status`` for the escalation job's "open whistles".
* ``checkin_summons``: unique (whistle, department); (department, checked_in_at) for the
  officers' "待报到" and the board.
* ``checkin_event``: (whistle, id) for the timeline.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T07:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "checkin: policy, whistles, summonses, timeline"

STAFF = "INTEGER DEFAULT NULL REFERENCES staff_user (id) ON DELETE RESTRICT"


def _statements(pk: str) -> list[str]:
    return [
        f"CREATE TABLE checkin_policy (id {pk}, "
        "center INTEGER NOT NULL UNIQUE REFERENCES center (id) ON DELETE CASCADE, "
        "require_approval BOOLEAN NOT NULL DEFAULT false, "
        "ack_minutes_emergency INTEGER NOT NULL DEFAULT 30, ack_minutes_urgent INTEGER NOT NULL DEFAULT 120, "
        "ack_minutes_ordinary INTEGER NOT NULL DEFAULT 1440, "
        "renotify_after INTEGER DEFAULT 0, leader_after INTEGER DEFAULT 30, upper_after INTEGER DEFAULT 60, "
        "reasons TEXT NOT NULL DEFAULT '居民诉求超出中心职权\n需联合执法\n突发事件', "
        "updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP, "
        "updated_by INTEGER DEFAULT NULL REFERENCES staff_user (id) ON DELETE SET NULL)",
        f"CREATE TABLE checkin_whistle (id {pk}, "
        "center INTEGER NOT NULL REFERENCES center (id) ON DELETE RESTRICT, "
        "matter INTEGER DEFAULT NULL REFERENCES matter (id) ON DELETE SET NULL, "
        "code VARCHAR(8) NOT NULL UNIQUE, source VARCHAR(12) NOT NULL DEFAULT 'other', "
        "reason VARCHAR(100) NOT NULL DEFAULT '', grade VARCHAR(12) NOT NULL DEFAULT 'ordinary', "
        "mode VARCHAR(8) NOT NULL DEFAULT 'onsite', place VARCHAR(200) NOT NULL DEFAULT '', "
        "report_at TIMESTAMPTZ DEFAULT NULL, instruction TEXT NOT NULL DEFAULT '', "
        "status VARCHAR(20) NOT NULL DEFAULT 'open', policy TEXT NOT NULL DEFAULT '{}', "
        f"created_by {STAFF}, created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP, "
        f"approved_by {STAFF}, approved_at TIMESTAMPTZ DEFAULT NULL, approval_note TEXT NOT NULL DEFAULT '', "
        f"closed_by {STAFF}, closed_at TIMESTAMPTZ DEFAULT NULL, close_note TEXT NOT NULL DEFAULT '', "
        "version INTEGER NOT NULL DEFAULT 1)",
        "CREATE INDEX checkin_whistle_center_created ON checkin_whistle (center, created_at)",
        "CREATE INDEX checkin_whistle_status ON checkin_whistle (status)",
        "CREATE INDEX checkin_whistle_matter ON checkin_whistle (matter)",
        f"CREATE TABLE checkin_summons (id {pk}, "
        "whistle INTEGER NOT NULL REFERENCES checkin_whistle (id) ON DELETE CASCADE, "
        "department INTEGER NOT NULL REFERENCES department (id) ON DELETE RESTRICT, "
        "ack_due_at TIMESTAMPTZ DEFAULT NULL, summoned_at TIMESTAMPTZ DEFAULT NULL, "
        "checked_in_at TIMESTAMPTZ DEFAULT NULL, checkin_method VARCHAR(8) NOT NULL DEFAULT '', "
        f"checked_in_by {STAFF}, attendees TEXT NOT NULL DEFAULT '', "
        "escalation_step INTEGER NOT NULL DEFAULT 0, late BOOLEAN NOT NULL DEFAULT false, "
        "absent BOOLEAN NOT NULL DEFAULT false, task TEXT NOT NULL DEFAULT '', task_at TIMESTAMPTZ DEFAULT NULL, "
        "result TEXT NOT NULL DEFAULT '', result_at TIMESTAMPTZ DEFAULT NULL, "
        f"result_by {STAFF}, result_on_behalf BOOLEAN NOT NULL DEFAULT false, "
        "rating_timeliness INTEGER DEFAULT NULL, rating_effectiveness INTEGER DEFAULT NULL, "
        "rating_note TEXT NOT NULL DEFAULT '', rated_at TIMESTAMPTZ DEFAULT NULL, "
        f"rated_by {STAFF})",
        "CREATE UNIQUE INDEX checkin_summons_whistle_department ON checkin_summons (whistle, department)",
        "CREATE INDEX checkin_summons_department_checked_in ON checkin_summons (department, checked_in_at)",
        f"CREATE TABLE checkin_event (id {pk}, "
        "whistle INTEGER NOT NULL REFERENCES checkin_whistle (id) ON DELETE CASCADE, "
        "summons INTEGER DEFAULT NULL REFERENCES checkin_summons (id) ON DELETE CASCADE, "
        "kind VARCHAR(20) NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '', "
        f"actor {STAFF}, at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        "CREATE INDEX checkin_event_whistle_id ON checkin_event (whistle, id)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="checkin", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        pk = "INTEGER PRIMARY KEY NOT NULL" if engine.engine_type == "sqlite" else "SERIAL PRIMARY KEY"
        for statement in _statements(pk):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
