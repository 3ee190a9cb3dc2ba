"""Email over SMTP against a real aiosmtpd server on a local socket."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from portal import clock
from portal.app import create_app
from portal.db import write_transaction
from portal.notify.email import EmailError, SmtpSender, email_sender_for, mask_email
from portal.notify.outbox import deliver_pending, queue_email
from portal.notify.tables import Outbox
from portal.settings import SettingsError

ADDRESS = "zhangsan@example.cn"
SUBJECT = "您的事项已受理（查询码 ABCD-EFGH-JKLM）"
BODY = "张三您好：\n\n您于 2026 年 11 月 27 日提出的事项已受理，我们将在 60 日内答复。\n\n甘州区综治中心"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd handler: keeps every message; refuses recipients at refuse.example."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's naming
        if address.endswith("@refuse.example"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"portal" and auth_data.password == b"smtp-secret-123"
    return AuthResult(success=ok)


@pytest.fixture
def smtp_server():
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_require_tls=False, auth_required=False)
    controller.start()
    mailbox.port = port
    yield mailbox
    controller.stop()


@pytest.fixture
async def mail_app(settings, smtp_server):
    application = create_app(settings.replace(
        smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_from="noreply@gzq.example.cn",
        smtp_user="portal", smtp_password="smtp-secret-123",
    ))
    async with application.lifespan():
        yield application


async def _queue(address: str = ADDRESS) -> int:
    async with write_transaction():
        return await queue_email(address, SUBJECT, BODY, kind="matter_accepted")


async def test_the_email_arrives_through_the_socket_with_utf8_subject_and_body(mail_app, smtp_server):
    row_id = await _queue()
    report = await deliver_pending(mail_app.state)
    assert report.sent == 1
    [(mail_from, rcpt, raw)] = smtp_server.messages
    assert mail_from == "noreply@gzq.example.cn" and rcpt == [ADDRESS]
    assert b"\xe5" not in raw.split(b"\r\n\r\n", 1)[0]  # headers are 7-bit (RFC 2047 encoded)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == SUBJECT
    assert message["To"] == ADDRESS and message["From"] == "noreply@gzq.example.cn"
    assert message["Message-ID"] and message["Date"]
    assert message["X-Portal-Reference"] == f"outbox-{row_id}"
    assert message.get_content_type() == "text/plain" and message.get_content_charset() == "utf-8"
    assert message.get_content().strip() == BODY
    row = await Outbox.select(Outbox.status, Outbox.attempts, Outbox.channel).where(Outbox.id == row_id).first()
    assert row == {"status": "sent", "attempts": 1, "channel": "email"}


async def test_a_refused_recipient_is_retried_later_with_the_reason(mail_app, smtp_server):
    row_id = await _queue("nobody@refuse.example")
    report = await deliver_pending(mail_app.state)
    assert report.retry == 1 and smtp_server.messages == []
    row = await Outbox.select().where(Outbox.id == row_id).first()
    assert row["status"] == "pending" and row["next_attempt_at"] is not None
    assert row["last_error"] == "smtp: SMTP server refused the recipient"
    assert "refuse.example" not in row["last_error"]


async def test_wrong_credentials_and_an_unreachable_server_are_failures_not_crashes(settings, smtp_server):
    sender = SmtpSender("127.0.0.1", smtp_server.port, "portal", "wrong-password", "noreply@gzq.example.cn", timeout=2)
    with pytest.raises(EmailError) as refused:
        await sender.send(ADDRESS, SUBJECT, BODY)
    assert "wrong-password" not in str(refused.value)
    closed = SmtpSender("127.0.0.1", free_port(), sender="noreply@gzq.example.cn", timeout=2)
    with pytest.raises(EmailError, match="unreachable"):
        await closed.send(ADDRESS, SUBJECT, BODY)
    assert smtp_server.messages == []


async def test_email_rows_fail_after_the_last_attempt(mail_app, smtp_server):
    row_id = await _queue("nobody@refuse.example")
    for _attempt in range(4):
        await deliver_pending(mail_app.state)
        clock.travel(hours=1)
    row = await Outbox.select().where(Outbox.id == row_id).first()
    assert row["status"] == "failed" and row["attempts"] == 4


async def test_queue_email_checks_its_input(app):
    async with write_transaction():
        for address, subject, body in (
            ("not-an-address", SUBJECT, BODY),
            ("a@b", SUBJECT, BODY),
            (ADDRESS, "", BODY),
            (ADDRESS, "two\nlines", BODY),
            (ADDRESS, SUBJECT, " "),
            (ADDRESS, SUBJECT, "身份证 110105194912310021"),
        ):
            with pytest.raises(ValueError):
                await queue_email(address, subject, body, kind="test")
    with pytest.raises(RuntimeError, match="write_transaction"):
        await queue_email(ADDRESS, SUBJECT, BODY, kind="test")


async def test_without_smtp_development_logs_and_production_has_no_sender(settings):
    assert email_sender_for(settings).name == "development"
    assert email_sender_for(settings.replace(env="production")) is None
    assert mask_email(ADDRESS) == "z***@example.cn"
    with pytest.raises(SettingsError, match="PORTAL_SMTP_FROM"):
        settings.replace(smtp_host="mail.example.cn").check()


async def test_production_without_smtp_marks_email_failed_with_the_reason(app):
    row_id = await _queue()
    state = app.state
    state.email_sender = None
    settings = state.registry.settings
    state.registry.settings = settings.replace(env="production")
    try:
        for _ in range(4):
            await deliver_pending(state)
            clock.travel(hours=1)
    finally:
        state.registry.settings = settings
    row = await Outbox.select().where(Outbox.id == row_id).first()
    assert row["status"] == "failed" and "PORTAL_SMTP_HOST" in row["last_error"]
    assert dt.timedelta(0) <= clock.now() - row["created_at"]
