"""Bookings: the constraints that keep a resource out of two bookings at once, and the read paths.

* booking_claim (resource, minute) unique: one row per resource and 5-minute unit, whichever
  service took it; a concurrent claim of the same unit waits on the index and then finds it taken.
* One waitlist place per citizen, service and center while waiting or offered (partial unique).
* The day/week views and the free-slot search read bookings and claims by (resource, time).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T03:36:47:000000"
VERSION = "1.38.0"
DESCRIPTION = "bookings: composite uniques and indexes"

STATEMENTS = [
    "CREATE UNIQUE INDEX booking_claim_resource_minute ON booking_claim (resource, minute)",
    "CREATE UNIQUE INDEX booking_resource_service_pair ON booking_resource_service (resource, service_key)",
    "CREATE INDEX booking_resource_starts ON booking (resource, starts_at)",
    "CREATE INDEX booking_center_starts ON booking (center, starts_at)",
    "CREATE INDEX booking_status_starts ON booking (status, starts_at)",
    "CREATE INDEX booking_citizen_service ON booking (citizen, service_key, status)",
    "CREATE INDEX booking_rule_resource_weekday ON booking_rule (resource, weekday)",
    "CREATE INDEX booking_exception_resource_day ON booking_exception (resource, day)",
    "CREATE UNIQUE INDEX booking_waitlist_one_place ON booking_waitlist (center, service_key, citizen) "
    "WHERE status IN ('waiting', 'offered')",
    "CREATE INDEX booking_waitlist_queue ON booking_waitlist (center, service_key, status, id)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
