"""Constraints Piccolo's column API cannot express, and the append-only audit trail."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T19:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite uniques, audit triggers, audit head row"

COMMON = [
    "CREATE UNIQUE INDEX staff_role_user_role ON staff_role (\"user\", role)",
    "CREATE UNIQUE INDEX center_module_center_module ON center_module (center, module)",
    "CREATE INDEX auth_session_user ON auth_session (\"user\")",
    "CREATE INDEX staff_user_center ON staff_user (center)",
    "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '')",
]

SQLITE = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]

POSTGRES = [
    "CREATE OR REPLACE FUNCTION audit_log_refuse() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        statements = COMMON + (SQLITE if engine.engine_type == "sqlite" else POSTGRES)
        for statement in statements:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
