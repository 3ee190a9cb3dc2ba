"""An app with low SMS caps (so the daily limits can be reached in a test)."""

from __future__ import annotations

import httpx
import pytest

from portal.app import create_app
from tests.conftest import Client


@pytest.fixture
async def capped_client(settings):
    application = create_app(settings.replace(sms_daily_per_phone=3, sms_daily_per_ip=4))
    async with application.lifespan():
        transport = httpx.ASGITransport(app=application, client=("198.51.100.7", 40000))
        async with Client(transport=transport, base_url="http://testserver.local", headers={"user-agent": "pytest"}) as browser:
            yield browser
