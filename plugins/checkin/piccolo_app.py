"""Piccolo app of the check-in module: its tables and migrations (run after core's)."""

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

APP_CONFIG = AppConfig(
    app_name="checkin",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=table_finder(modules=["plugins.checkin.tables"], exclude_imported=True),
    # The tables reference center, department, staff_user and matter.
    migration_dependencies=["portal.piccolo_app"],
    commands=[],
)
