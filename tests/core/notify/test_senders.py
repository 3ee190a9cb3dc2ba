"""SMS senders: the HTTP gateway against a real local server, the plugin hook, production refusal."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portal.app import create_app
from portal.db import write_transaction
from portal.modules import PluginRegistry, make_plugin_manager
from portal.notify.outbox import deliver_pending, queue_sms
from portal.notify.senders import HttpGatewaySender, configured_senders, mask_phone, mask_phones
from portal.notify.tables import Outbox
from portal.plugin_api import SmsError
from portal.settings import Settings, SettingsError
from tests.conftest import SAMPLE_MODULE

PHONE = "13800138000"
TOKEN = "gateway-token-0123456789"
SMS_PLUGIN = "tests.core.notify.sms_plugin"


class Gateway:
    """A tiny SMS gateway on 127.0.0.1: /ok answers 200, /fail 503, /slow after 2 s."""

    def __init__(self):
        self.received: list[dict] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                gateway.received.append(
                    {
                        "path": self.path,
                        "authorization": self.headers.get("authorization"),
                        "content_type": self.headers.get("content-type"),
                        "json": json.loads(self.rfile.read(length) or b"null"),
                    }
                )
                if self.path == "/slow":
                    time.sleep(2)
                status = 200 if self.path in ("/ok", "/slow") else 503
                body = b'{"ok": true}' if status == 200 else b'{"error": "busy"}'
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    with Gateway() as running:
        yield running


async def test_gateway_posts_json_with_the_bearer_token(gateway):
    await HttpGatewaySender(f"{gateway.url}/ok", TOKEN, timeout=5).send(PHONE, "您的事项已受理。")
    [request] = gateway.received
    assert request["path"] == "/ok"
    assert request["authorization"] == f"Bearer {TOKEN}"
    assert request["content_type"].startswith("application/json")
    assert request["json"] == {"phone": PHONE, "text": "您的事项已受理。"}


async def test_gateway_failures_are_short_reasons(gateway):
    with pytest.raises(SmsError, match="HTTP 503"):
        await HttpGatewaySender(f"{gateway.url}/fail", TOKEN).send(PHONE, "text")
    with pytest.raises(SmsError, match="timed out"):
        await HttpGatewaySender(f"{gateway.url}/slow", TOKEN, timeout=0.3).send(PHONE, "text")
    closed = Gateway()  # bound but never started or listening after close
    url = closed.url
    closed.server.server_close()
    with pytest.raises(SmsError, match="unreachable"):
        await HttpGatewaySender(f"{url}/ok", TOKEN, timeout=2).send(PHONE, "text")


async def test_app_delivers_through_the_configured_gateway(settings, gateway):
    application = create_app(settings.replace(sms_gateway_url=f"{gateway.url}/ok", sms_gateway_token=TOKEN))
    assert [s.name for s in application.state.sms_senders] == ["gateway"]  # no development sender
    async with application.lifespan():
        async with write_transaction():
            row_id = await queue_sms(PHONE, "您的事项已受理。", kind="matter_accepted")
        report = await deliver_pending(application.state)
        assert report.sent == 1
        row = await Outbox.select().where(Outbox.id == row_id).first()
        assert row["status"] == "sent" and row["last_error"] == ""
    assert gateway.received[0]["json"] == {"phone": PHONE, "text": "您的事项已受理。"}


async def test_app_records_a_gateway_failure(settings, gateway):
    application = create_app(settings.replace(sms_gateway_url=f"{gateway.url}/fail", sms_gateway_token=TOKEN))
    async with application.lifespan():
        async with write_transaction():
            row_id = await queue_sms(PHONE, "text", kind="test")
        report = await deliver_pending(application.state)
        assert report.sent == 0 and report.retry == 1
        row = await Outbox.select().where(Outbox.id == row_id).first()
        assert row["status"] == "pending" and row["attempts"] == 1
        assert row["last_error"] == "gateway: gateway answered HTTP 503"
        assert TOKEN not in row["last_error"]


async def test_hook_sms_senders(settings):
    from tests.core.notify.sms_plugin.hooks import SENT

    SENT.clear()
    application = create_app(settings.replace(plugins=(SAMPLE_MODULE, SMS_PLUGIN)))
    assert [s.name for s in application.state.sms_senders] == ["test_operator"]
    async with application.lifespan():
        async with write_transaction():
            await queue_sms(PHONE, "您的预约已确认。", kind="booking_confirmed")
        assert (await deliver_pending(application.state)).sent == 1
    assert SENT == [(PHONE, "您的预约已确认。")]


def test_gateway_comes_before_plugin_senders():
    settings = Settings.from_env(
        {}, plugins=(SMS_PLUGIN,), load_entrypoints=False, sms_gateway_url="https://sms.example/send", sms_gateway_token=TOKEN
    )
    registry = PluginRegistry(make_plugin_manager(settings), settings)
    assert [s.name for s in configured_senders(registry, settings)] == ["gateway", "test_operator"]


def _production(**overrides) -> Settings:
    values = dict(env="production", secret_key="s" * 40, data_key="d" * 32, load_entrypoints=False)
    values.update(overrides)
    return Settings.from_env({}, **values)


def test_production_refuses_to_start_without_an_sms_sender():
    with pytest.raises(SettingsError) as excinfo:
        create_app(_production())
    message = str(excinfo.value)
    assert "PORTAL_SMS_GATEWAY_URL" in message and "\n" not in message


def test_production_starts_with_a_gateway_or_a_plugin_sender(tmp_path):
    app = create_app(_production(sms_gateway_url="https://sms.example/send", sms_gateway_token=TOKEN, data_dir=tmp_path))
    assert [s.name for s in app.state.sms_senders] == ["gateway"]
    app = create_app(_production(plugins=(SMS_PLUGIN,), data_dir=tmp_path))
    assert [s.name for s in app.state.sms_senders] == ["test_operator"]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"sms_gateway_url": "https://sms.example/send"}, "PORTAL_SMS_GATEWAY_TOKEN"),
        ({"sms_gateway_url": "ftp://sms.example/", "sms_gateway_token": TOKEN}, "PORTAL_SMS_GATEWAY_URL"),
        ({"citizen_cookie_name": "bad name;"}, "PORTAL_CITIZEN_COOKIE"),
    ],
)
def test_unsafe_sms_settings_are_refused_with_one_line(overrides, reason):
    with pytest.raises(SettingsError) as excinfo:
        _production(**overrides).check()
    assert reason in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_settings_are_read_from_the_environment():
    settings = Settings.from_env(
        {
            "PORTAL_SMS_GATEWAY_URL": " https://sms.example/send ",
            "PORTAL_SMS_GATEWAY_TOKEN": TOKEN,
            "PORTAL_SMS_GATEWAY_TIMEOUT": "3.5",
            "PORTAL_SMS_DAILY_PER_PHONE": "8",
            "PORTAL_SMS_DAILY_PER_IP": "20",
            "PORTAL_CITIZEN_COOKIE": "gz_citizen",
            "PORTAL_CITIZEN_SESSION_IDLE_MINUTES": "60",
            "PORTAL_CITIZEN_SESSION_ABSOLUTE_DAYS": "3",
        }
    )
    assert settings.sms_gateway_url == "https://sms.example/send" and settings.sms_gateway_token == TOKEN
    assert settings.sms_gateway_timeout == 3.5
    assert (settings.sms_daily_per_phone, settings.sms_daily_per_ip) == (8, 20)
    assert settings.citizen_cookie == "gz_citizen"
    assert (settings.citizen_session_idle_minutes, settings.citizen_session_absolute_days) == (60, 3)
    assert settings.replace(cookie_secure=True).citizen_cookie == "__Host-gz_citizen"
    defaults = Settings.from_env({})
    assert (defaults.citizen_cookie, defaults.citizen_session_idle_minutes, defaults.citizen_session_absolute_days) == (
        "whistle_citizen",
        120,
        7,
    )
    assert (defaults.sms_code_minutes, defaults.sms_code_max_attempts, defaults.sms_resend_seconds) == (5, 5, 60)


def test_masking():
    assert mask_phone(PHONE) == "138****8000"
    assert mask_phone("123") == "****"
    assert mask_phones(f"to {PHONE} and 13900139000, not 010-12345678") == "to 138****8000 and 139****9000, not 010-12345678"
