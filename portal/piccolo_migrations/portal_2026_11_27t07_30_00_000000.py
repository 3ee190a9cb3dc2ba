"""Outbox: a link on in-app messages.

``link`` is the site-relative path an in-app message points to (the staff inbox, the citizen's
messages page and the live alert show it as "查看"); empty for SMS, email and messages without one.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T07:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "outbox: link of in-app messages"

STATEMENTS = [
    "ALTER TABLE outbox ADD COLUMN link VARCHAR(200) NOT NULL DEFAULT ''",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
