"""Piccolo app of the video petition module: its tables and migrations (run after core's)."""

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

APP_CONFIG = AppConfig(
    app_name="video_petition",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=table_finder(modules=["plugins.video_petition.tables"], exclude_imported=True),
    # The tables reference center, department, staff_user, citizen and matter.
    migration_dependencies=["portal.piccolo_app"],
    commands=[],
)
