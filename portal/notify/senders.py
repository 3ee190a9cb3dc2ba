"""The SMS senders core offers, and the choice of senders for an app.

* ``HttpGatewaySender``: the deployment's SMS gateway (``PORTAL_SMS_GATEWAY_URL``): a JSON POST
  ``{"phone": …, "text": …}`` with ``Authorization: Bearer <PORTAL_SMS_GATEWAY_TOKEN>``; any
  answer other than 2xx, a timeout or a connection error is a failure.
* ``DevelopmentSender``: sends nothing. It logs each message at INFO with the phone masked; the
  message stays in the outbox (``/admin/outbox`` in development and demo mode). Used only when
  no other sender exists and the portal is not in production.
* Plugins add senders through the ``sms_senders`` hook (an operator's SMS platform).

Production refuses to start without a real sender (``configured_senders``).
"""

from __future__ import annotations

import logging
import re

import httpx

from portal.modules import PluginRegistry
from portal.plugin_api import SmsError, SmsSender
from portal.settings import Settings, SettingsError

__all__ = [
    "DevelopmentSender",
    "HttpGatewaySender",
    "configured_senders",
    "mask_phone",
    "mask_phones",
]

log = logging.getLogger("portal.notify")

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phone(phone: str) -> str:
    """13812345678 → 138****5678 (what logs and lists show)."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) == 11 else "****"


def mask_phones(text: str) -> str:
    """Mask every mainland mobile number inside ``text`` (log lines, error reasons)."""
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


class DevelopmentSender:
    """Delivers nothing: the log line and the outbox row are the message."""

    name = "development"

    async def send(self, phone: str, text: str) -> None:
        log.info("SMS (development, not sent) to %s: %s", mask_phone(phone), mask_phones(text))

    def as_sender(self) -> SmsSender:
        return SmsSender(name=self.name, send=self.send, order=1000)


class HttpGatewaySender:
    """POST each message as JSON to the deployment's SMS gateway."""

    name = "gateway"

    def __init__(self, url: str, token: str, timeout: float = 10.0):
        self.url = url
        self._token = token
        self.timeout = timeout

    async def send(self, phone: str, text: str) -> None:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                response = await client.post(self.url, json={"phone": phone, "text": text}, headers=headers)
        except httpx.TimeoutException:
            raise SmsError("gateway timed out") from None
        except httpx.HTTPError as exc:
            raise SmsError(f"gateway unreachable ({type(exc).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise SmsError(f"gateway answered HTTP {response.status_code}")

    def as_sender(self) -> SmsSender:
        return SmsSender(name=self.name, send=self.send, order=0)


def configured_senders(registry: PluginRegistry, settings: Settings) -> tuple[SmsSender, ...]:
    """The senders of this app, in the order they are tried.

    The gateway (when configured) and every plugin's ``sms_senders``; the development sender when
    there is none of those outside production. Production without any raises ``SettingsError``.
    """
    senders: list[SmsSender] = []
    if settings.sms_gateway_url:
        senders.append(
            HttpGatewaySender(settings.sms_gateway_url, settings.sms_gateway_token, settings.sms_gateway_timeout).as_sender()
        )
    for plugin, provided in registry.call_each("sms_senders", settings=settings):
        for sender in provided:
            if not isinstance(sender, SmsSender):
                raise SettingsError(f"plugin {plugin}: sms_senders must return SmsSender objects")
            senders.append(sender)
    if not senders:
        if settings.production:
            raise SettingsError(
                "production refuses to start: no SMS sender (set PORTAL_SMS_GATEWAY_URL or install a plugin that provides sms_senders)"
            )
        senders.append(DevelopmentSender().as_sender())
    senders.sort(key=lambda s: (s.order, s.name))
    return tuple(senders)
