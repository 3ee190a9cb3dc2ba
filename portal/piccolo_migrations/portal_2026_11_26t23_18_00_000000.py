"""One-stop window: composite uniques (gap-free notice numbers, counters) and the queue's indexes."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T23:18:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "matters: composite uniques and indexes"

STATEMENTS = [
    "CREATE UNIQUE INDEX notice_center_year_seq ON notice (center, year, seq)",
    "CREATE INDEX notice_matter ON notice (matter)",
    "CREATE UNIQUE INDEX notice_counter_center_year ON notice_counter (center, year)",
    "CREATE UNIQUE INDEX notice_template_center_kind ON notice_template (center, kind)",
    "CREATE UNIQUE INDEX center_limit_center_rule ON center_limit (center, rule)",
    "CREATE UNIQUE INDEX matter_stat_center_day_metric ON matter_stat (center, day, metric)",
    "CREATE INDEX matter_event_matter_at ON matter_event (matter, at)",
    # The work queue: newest first inside a subtree, optionally by status; keyset on id.
    "CREATE INDEX matter_center_path_id ON matter (center_path, id)",
    "CREATE INDEX matter_center_path_status_id ON matter (center_path, status, id)",
    "CREATE INDEX matter_department_id ON matter (department, id)",
    "CREATE INDEX matter_citizen ON matter (citizen)",
    "CREATE INDEX matter_origin_center ON matter (origin_center)",
    "CREATE INDEX citizen_session_citizen ON citizen_session (citizen)",
    "CREATE INDEX outbox_citizen ON outbox (citizen, id)",
    "CREATE INDEX outbox_staff ON outbox (staff, id)",
    "CREATE INDEX supervision_matter ON supervision (matter)",
    "CREATE INDEX follow_up_matter ON follow_up (matter)",
    "CREATE INDEX matter_attachment_matter ON matter_attachment (matter)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
