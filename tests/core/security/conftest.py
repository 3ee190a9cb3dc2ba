"""Fixtures for the security tests: an app with a failing module, and a production-mode app."""

from __future__ import annotations

import secrets
import string

import httpx
import pytest

from plugins.counseling.notes_crypto import key_material

from portal.app import create_app
from portal.tables import StaffUser
from tests.conftest import SAMPLE_MODULE, Client

BOOM_PLUGIN = "tests.core.security.boom_plugin"


@pytest.fixture
async def boom_app(settings):
    """The app with the sample module and a module whose pages always raise."""
    application = create_app(settings.replace(plugins=(SAMPLE_MODULE, BOOM_PLUGIN)))
    async with application.lifespan():
        yield application


def production_settings(settings, **changes):
    key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    changes.setdefault("sms_gateway_url", "http://127.0.0.1:9/sms")
    changes.setdefault("sms_gateway_token", "t" * 24)
    # The bundled counseling module requires its own key in production: the one the development
    # apps of this test's database used (derived from their secret), so the stored notes still open.
    changes.setdefault("counseling_key", key_material(settings))
    return settings.replace(env="production", secret_key=key, data_key="k" * 32, **changes)


async def start_production(settings, **changes):
    """A production app on this test's database; the demo flags are cleared first (production refuses them)."""
    application = create_app(production_settings(settings, **changes))  # binds the engine to this database
    await StaffUser.update({StaffUser.is_demo: False}).where(StaffUser.is_demo == True)  # noqa: E712
    return application


@pytest.fixture
async def production_app(settings):
    application = await start_production(settings)
    async with application.lifespan():
        yield application


def browser_for(application, base_url: str = "http://testserver.local", address: str = "198.51.100.7") -> Client:
    transport = httpx.ASGITransport(app=application, client=(address, 40000))
    browser = Client(transport=transport, base_url=base_url, headers={"user-agent": "pytest"})
    browser.csrf_cookie = application.state.settings.csrf_cookie
    return browser
