"""Piccolo app for core tables and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

APP_CONFIG = AppConfig(
    app_name="portal",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=table_finder(
        modules=["portal.tables", "portal.citizens.tables", "portal.matters.tables", "portal.notify.tables",
                 "portal.bookings.tables", "portal.jobs.tables", "portal.matters.jobs"],
        exclude_imported=True,
    ),
    migration_dependencies=[],
    commands=[],
)
