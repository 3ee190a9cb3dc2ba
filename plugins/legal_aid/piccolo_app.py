"""Piccolo app of the legal-aid module: its tables and migrations (run after core's)."""

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

# Roster and applications (tables.py); the consultation log adds its own module here.
TABLE_MODULES = ["plugins.legal_aid.tables", "plugins.legal_aid.log_tables"]

APP_CONFIG = AppConfig(
    app_name="legal_aid",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=table_finder(modules=TABLE_MODULES, exclude_imported=True),
    # The tables reference center, staff_user, citizen and booking_resource/booking_exception.
    migration_dependencies=["portal.piccolo_app"],
    commands=[],
)
