"""Email delivery over SMTP (``PORTAL_SMTP_*``), and the development stand-in.

* ``SmtpSender``: one plain-text UTF-8 message per outbox row through the deployment's mail
  server, with the standard library's ``smtplib`` in a worker thread (a send is one short
  connection; no extra dependency). ``PORTAL_SMTP_STARTTLS`` upgrades the connection before
  authenticating; port 465 uses implicit TLS. Any refusal, timeout or connection error raises
  ``EmailError`` with a short reason (no address, no credential) and the row is retried.
* ``DevelopmentEmailSender``: outside production, without ``PORTAL_SMTP_HOST``, logs the message
  (address masked) and counts it as sent; the row stays in the outbox page.

Production without ``PORTAL_SMTP_HOST`` has no email sender: email rows fail with that reason
(email is optional; SMS is the channel citizens rely on).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from portal.settings import Settings

__all__ = ["DevelopmentEmailSender", "EmailError", "SmtpSender", "email_sender_for", "mask_email"]

log = logging.getLogger("portal.notify")


class EmailError(Exception):
    """A send failed; the message is a short reason stored on the outbox row and shown to staff."""


def mask_email(address: str) -> str:
    """zhang.san@example.cn → z***@example.cn (what logs and staff lists show)."""
    local, _at, domain = (address or "").partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


class SmtpSender:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int = 25,
        user: str = "",
        password: str = "",
        sender: str = "",
        starttls: bool = False,
        timeout: float = 20.0,
    ):
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.sender = sender
        self.starttls = starttls
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> "SmtpSender":
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_user,
            settings.smtp_password,
            settings.smtp_from,
            settings.smtp_starttls,
            settings.smtp_timeout,
        )

    def message(self, to: str, subject: str, body: str, reference: str = "") -> EmailMessage:
        msg = EmailMessage()  # default policy: non-ASCII headers are RFC 2047-encoded, the body UTF-8
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        domain = self.sender.rpartition("@")[2].rstrip(">") or "localhost"
        msg["Message-ID"] = make_msgid(idstring=reference or uuid.uuid4().hex[:12], domain=domain)
        if reference:
            msg["X-Portal-Reference"] = reference
        msg.set_content(body, charset="utf-8")
        return msg

    def _send_blocking(self, msg: EmailMessage) -> None:
        context = ssl.create_default_context()
        if self.port == 465:
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if self.starttls:
                client.starttls(context=context)
                client.ehlo()
            if self.user:
                client.login(self.user, self._password)
            client.send_message(msg)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    async def send(self, to: str, subject: str, body: str, reference: str = "") -> None:
        msg = self.message(to, subject, body, reference)
        try:
            await asyncio.to_thread(self._send_blocking, msg)
        except smtplib.SMTPAuthenticationError:
            raise EmailError("SMTP server refused the credentials") from None
        except smtplib.SMTPRecipientsRefused:
            raise EmailError("SMTP server refused the recipient") from None
        except smtplib.SMTPResponseException as exc:
            raise EmailError(f"SMTP server answered {exc.smtp_code}") from None
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise EmailError(f"SMTP server unreachable ({type(exc).__name__})") from None


class DevelopmentEmailSender:
    name = "development"

    async def send(self, to: str, subject: str, body: str, reference: str = "") -> None:
        log.info("email (development, not sent) to %s: %s", mask_email(to), subject)


def email_sender_for(settings: Settings):
    """The email sender of a deployment: SMTP when configured, the log outside production, else None."""
    if settings.smtp_host:
        return SmtpSender.from_settings(settings)
    if not settings.production:
        return DevelopmentEmailSender()
    return None
