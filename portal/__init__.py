"""Whistle (吹哨报到综治服务平台): the core package.

Piccolo resolves its engine through a conf module; point it at ours before any table is imported
(piccolo#177: setting it later leaves tables bound to the wrong engine).
"""

import os

os.environ.setdefault("PICCOLO_CONF", "portal.piccolo_conf")

__version__ = "0.1.0"
