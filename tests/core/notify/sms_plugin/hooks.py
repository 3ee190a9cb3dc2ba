"""The test plugin's sender records every message it is given (``SENT``)."""

from portal.plugin_api import SmsSender, hookimpl

SENT: list[tuple[str, str]] = []


async def _send(phone: str, text: str) -> None:
    SENT.append((phone, text))


@hookimpl
def sms_senders(settings):
    return [SmsSender(name="test_operator", send=_send, order=10)]
