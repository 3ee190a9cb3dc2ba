"""Settings come from the environment; production refuses unsafe configurations in one line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from portal.app import create_app
from portal.cli import cli
from portal.settings import DEFAULT_SECRET, Settings, SettingsError

GOOD_SECRET = "s3cr3t-" + "x" * 40


def production(**overrides) -> Settings:
    values = dict(env="production", secret_key=GOOD_SECRET, data_key="d" * 32, load_entrypoints=False)
    values.update(overrides)
    return Settings.from_env({}, **values)


def test_environment_is_read():
    settings = Settings.from_env(
        {
            "PORTAL_ENV": "demo",
            "PORTAL_DATABASE_URL": "postgresql://u@h/db",
            "PORTAL_SESSION_IDLE_MINUTES": "15",
            "PORTAL_PLUGINS": "a.b, c.d",
            "PORTAL_TRUSTED_PROXIES": "10.0.0.0/8",
        }
    )
    assert settings.demo and settings.is_postgres
    assert settings.session_idle_minutes == 15
    assert settings.plugins == ("a.b", "c.d")
    assert settings.trusted_proxies == ("10.0.0.0/8",)
    assert settings.session_cookie == "portal_session"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"secret_key": DEFAULT_SECRET}, "PORTAL_SECRET_KEY"),
        ({"secret_key": "short"}, "PORTAL_SECRET_KEY"),
        ({"debug": True}, "PORTAL_DEBUG"),
        ({"data_key": ""}, "PORTAL_DATA_KEY"),
        ({"env": "staging"}, "PORTAL_ENV"),
    ],
)
def test_unsafe_configurations_are_refused_with_one_line(overrides, reason):
    with pytest.raises(SettingsError) as excinfo:
        production(**overrides).check()
    message = str(excinfo.value)
    assert reason in message and "\n" not in message


def test_production_uses_secure_host_cookies():
    settings = production()
    settings.check()
    assert settings.cookie_secure
    assert settings.session_cookie == "__Host-portal_session"


async def test_production_refuses_to_start_with_demo_accounts(settings):
    app = create_app(settings.replace(env="production", secret_key=GOOD_SECRET, data_key="d" * 32, sms_gateway_url="http://127.0.0.1:9/sms", sms_gateway_token="t" * 24, cookie_secure=True))
    refused = []
    try:
        async with app.lifespan():
            pass
    except* SettingsError as group:
        refused = [str(exc) for exc in group.exceptions]
    assert refused and "demo accounts are present" in refused[0]


async def test_production_hides_the_schema(settings, client_factory):
    from plugins.counseling.notes_crypto import key_material
    from portal.tables import StaffUser

    await StaffUser.update({StaffUser.is_demo: False}).where(StaffUser.is_demo == True)  # noqa: E712
    import httpx

    app = create_app(settings.replace(env="production", secret_key=GOOD_SECRET, data_key="d" * 32, sms_gateway_url="http://127.0.0.1:9/sms", sms_gateway_token="t" * 24,
                                      counseling_key=key_material(settings)))
    async with app.lifespan():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/schema")).status_code == 404
            assert (await client.get("/schema/openapi.json")).status_code == 404


def test_cli_refuses_demo_data_in_production(tmp_path):
    env = {"PORTAL_ENV": "production", "PORTAL_SECRET_KEY": GOOD_SECRET, "PORTAL_DATA_KEY": "d" * 32, "PORTAL_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli, ["demo", "load"], env=env)
    assert result.exit_code != 0 and "refused in production" in result.output
    result = CliRunner().invoke(cli, ["db", "migrate"], env={**env, "PORTAL_SECRET_KEY": ""})
    assert result.exit_code != 0 and "PORTAL_SECRET_KEY" in result.output
