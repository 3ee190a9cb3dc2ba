"""Piccolo app of the counseling module: its tables and migrations (run after core's)."""

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

# Settings, consent, screening, crisis (tables.py); sessions and notes add their own module here.
TABLE_MODULES = ["plugins.counseling.tables", "plugins.counseling.session_tables"]

APP_CONFIG = AppConfig(
    app_name="counseling",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=table_finder(modules=TABLE_MODULES, exclude_imported=True),
    # The tables reference center, staff_user, citizen and booking.
    migration_dependencies=["portal.piccolo_app"],
    commands=[],
)
