"""Extra fixtures for the sign-in tests."""

from __future__ import annotations

import httpx
import pytest

from portal.app import create_app
from tests.conftest import Client


@pytest.fixture
async def low_limit_app(settings):
    """The app with a per-address limit of 3 failed sign-ins (keeps the slow password hashing short)."""
    application = create_app(settings.replace(login_ip_limit=3))
    async with application.lifespan():
        yield application


@pytest.fixture
async def low_limit_client(low_limit_app):
    transport = httpx.ASGITransport(app=low_limit_app, client=("198.51.100.7", 40000))
    async with Client(transport=transport, base_url="http://testserver.local", headers={"user-agent": "pytest"}) as browser:
        yield browser
