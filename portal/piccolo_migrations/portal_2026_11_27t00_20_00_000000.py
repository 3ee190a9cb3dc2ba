"""The work queue's filters within a subtree: indexes that seek on both the filter and the subtree.

Measured on 1,000,000 matters (bench/matters.py, bench/RESULTS.md): without them a filtered queue
found its capped count by walking the single-column index of the filter and reading every row to
test ``center_path`` (a village filtered by category: 60 ms on SQLite; status + category: 100 ms;
"overdue" for the district: 45 ms; a department officer's "assigned" list: 95 ms). With them every
filter combination measured takes ≤ 4 ms.

* (status | category | channel, center_path): one seek on the filter value and the subtree range,
  covering for the count; with a single center (``center_path = …``) the rows come newest first.
* (department, status): a department officer's queue by status.
* (status, paused_at, due_at, center_path): the clock filters (overdue, due soon, on track) are
  ``status IN (open…) AND paused_at IS NULL AND due_at <range>``; covering for the count.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T00:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "matters: queue filter indexes"

STATEMENTS = [
    "CREATE INDEX matter_status_center_path ON matter (status, center_path)",
    "CREATE INDEX matter_category_center_path ON matter (category, center_path)",
    "CREATE INDEX matter_channel_center_path ON matter (channel, center_path)",
    "CREATE INDEX matter_department_status ON matter (department, status)",
    "CREATE INDEX matter_open_clock ON matter (status, paused_at, due_at, center_path)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
