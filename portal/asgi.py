"""ASGI entry point for granian/uvicorn: ``granian --interface asgi portal.asgi:app``."""

from portal.app import create_app

app = create_app()
