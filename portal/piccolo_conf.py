"""Piccolo's conf module: the engine and the apps whose tables and migrations we run.

The app list comes from the plugin system (core plus every installed plugin's Piccolo app), so a
plugin's tables exist whether or not any center has enabled it. ``DB`` is replaced by
``portal.db.bind_engine`` when an app is built from explicit settings.
"""

from piccolo.conf.apps import AppRegistry

from portal.db import make_engine
from portal.modules import piccolo_app_paths
from portal.settings import Settings

DB = make_engine(Settings.from_env())

APP_REGISTRY = AppRegistry(apps=piccolo_app_paths(Settings.from_env()))
