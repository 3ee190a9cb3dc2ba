"""Bookings: a covering index for the free-slot search.

The search reads every claim of a service's resources over the booking window (~14,000 rows for a
busy month of 20 resources, bench/bookings.py) and needs slot, service and seats of each: with
them in the index the scan never visits the table.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T04:31:09:000000"
VERSION = "1.38.0"
DESCRIPTION = "bookings: covering index of claims for the free-slot search"

STATEMENTS = [
    "CREATE INDEX booking_claim_search ON booking_claim (resource, minute, service_key, taken, capacity, slot_minute)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
