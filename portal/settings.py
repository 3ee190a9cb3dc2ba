"""One settings object, read from ``PORTAL_*`` environment variables.

Every knob the README documents lives here; nothing else in the code reads the environment
(except ``portal/__init__.py``, which points Piccolo at our conf module).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_SECRET", "Settings", "SettingsError", "PROJECT_ROOT"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRET = "insecure-development-secret-change-me"
ENVIRONMENTS = ("development", "demo", "production")


class SettingsError(RuntimeError):
    """A configuration that must not run; the message is one line saying why."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    debug: bool = False
    secret_key: str = DEFAULT_SECRET
    # Separate key for the audit hash chain so that rotating the session secret does not
    # invalidate the chain; defaults to one derived from the secret key.
    audit_key: str = ""
    data_key: str = ""
    # Encrypts counseling session notes (plugins/counseling/notes_crypto.py); derived from the secret
    # outside production. The counseling module refuses to start in production without it.
    counseling_key: str = ""
    database_url: str = ""
    data_dir: Path = PROJECT_ROOT / "var"
    site_name: str = "吹哨报到综治服务平台"
    sqlite_pool_size: int = 4
    sqlite_busy_timeout_ms: int = 5000
    pg_pool_min: int = 2
    pg_pool_max: int = 10
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    login_max_failures: int = 5
    login_lock_minutes: int = 30
    login_ip_limit: int = 30
    login_ip_window_minutes: int = 10
    cookie_secure: bool = False
    trusted_proxies: tuple[str, ...] = ()
    load_entrypoints: bool = True
    plugins: tuple[str, ...] = ()
    blocked_plugins: tuple[str, ...] = ()
    require_totp: bool = True
    password_min_length: int = 12
    footer_sponsor: str = ""
    footer_phone: str = ""
    footer_hours: str = "工作日 8:30-12:00，14:30-18:00"
    footer_icp: str = ""
    # Citizens: phone + SMS code sign-in (portal/citizens) and their own sessions.
    citizen_cookie_name: str = "whistle_citizen"
    citizen_session_idle_minutes: int = 120
    citizen_session_absolute_days: int = 7
    sms_code_minutes: int = 5
    sms_code_max_attempts: int = 5
    sms_resend_seconds: int = 60
    sms_daily_per_phone: int = 10
    sms_daily_per_ip: int = 30
    # SMS delivery (portal/notify): an HTTP gateway, plugin senders, or the development sender.
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""
    sms_gateway_timeout: float = 10.0
    # Email over SMTP (portal/notify/email.py); without a host, email is only logged outside production.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_starttls: bool = False
    smtp_timeout: float = 20.0
    # The in-app scheduler (portal/jobs); off for deployments that run `portal jobs run` from cron.
    jobs_enabled: bool = True

    # ------------------------------------------------------------------ derived

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def demo(self) -> bool:
        return self.env == "demo"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def sqlite_path(self) -> Path:
        if self.is_postgres:
            raise SettingsError("database is PostgreSQL, not SQLite")
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "portal.sqlite3"

    @property
    def session_cookie(self) -> str:
        # __Host- binds the cookie to this origin over HTTPS only (no Domain, Path=/).
        return "__Host-portal_session" if self.cookie_secure else "portal_session"

    @property
    def csrf_cookie(self) -> str:
        return "__Host-portal_csrf" if self.cookie_secure else "portal_csrf"

    @property
    def citizen_cookie(self) -> str:
        return f"__Host-{self.citizen_cookie_name}" if self.cookie_secure else self.citizen_cookie_name

    # ---------------------------------------------------------------- factories

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if environ is None else environ
        mode = env.get("PORTAL_ENV", "development").strip().lower()
        production = mode == "production"
        data_dir = Path(env.get("PORTAL_DATA_DIR") or PROJECT_ROOT / "var")
        values = dict(
            env=mode,
            debug=_bool(env.get("PORTAL_DEBUG"), False),
            secret_key=env.get("PORTAL_SECRET_KEY") or DEFAULT_SECRET,
            audit_key=env.get("PORTAL_AUDIT_KEY", ""),
            data_key=env.get("PORTAL_DATA_KEY", ""),
            counseling_key=env.get("PORTAL_COUNSELING_KEY", ""),
            database_url=env.get("PORTAL_DATABASE_URL", ""),
            data_dir=data_dir,
            site_name=env.get("PORTAL_SITE_NAME") or cls.site_name,
            sqlite_pool_size=int(env.get("PORTAL_SQLITE_POOL_SIZE") or 4),
            pg_pool_max=int(env.get("PORTAL_PG_POOL_MAX") or 10),
            session_idle_minutes=int(env.get("PORTAL_SESSION_IDLE_MINUTES") or 30),
            session_absolute_hours=int(env.get("PORTAL_SESSION_ABSOLUTE_HOURS") or 12),
            cookie_secure=_bool(env.get("PORTAL_COOKIE_SECURE"), production),
            trusted_proxies=_list(env.get("PORTAL_TRUSTED_PROXIES")),
            load_entrypoints=_bool(env.get("PORTAL_LOAD_ENTRYPOINTS"), True),
            plugins=_list(env.get("PORTAL_PLUGINS")),
            blocked_plugins=_list(env.get("PORTAL_BLOCKED_PLUGINS")),
            footer_sponsor=env.get("PORTAL_FOOTER_SPONSOR", ""),
            footer_phone=env.get("PORTAL_FOOTER_PHONE", ""),
            footer_icp=env.get("PORTAL_FOOTER_ICP", ""),
            citizen_cookie_name=env.get("PORTAL_CITIZEN_COOKIE") or cls.citizen_cookie_name,
            citizen_session_idle_minutes=int(env.get("PORTAL_CITIZEN_SESSION_IDLE_MINUTES") or 120),
            citizen_session_absolute_days=int(env.get("PORTAL_CITIZEN_SESSION_ABSOLUTE_DAYS") or 7),
            sms_daily_per_phone=int(env.get("PORTAL_SMS_DAILY_PER_PHONE") or 10),
            sms_daily_per_ip=int(env.get("PORTAL_SMS_DAILY_PER_IP") or 30),
            sms_gateway_url=(env.get("PORTAL_SMS_GATEWAY_URL") or "").strip(),
            sms_gateway_token=env.get("PORTAL_SMS_GATEWAY_TOKEN", ""),
            sms_gateway_timeout=float(env.get("PORTAL_SMS_GATEWAY_TIMEOUT") or 10),
            smtp_host=(env.get("PORTAL_SMTP_HOST") or "").strip(),
            smtp_port=int(env.get("PORTAL_SMTP_PORT") or 25),
            smtp_user=env.get("PORTAL_SMTP_USER", ""),
            smtp_password=env.get("PORTAL_SMTP_PASSWORD", ""),
            smtp_from=(env.get("PORTAL_SMTP_FROM") or "").strip(),
            smtp_starttls=_bool(env.get("PORTAL_SMTP_STARTTLS"), False),
            smtp_timeout=float(env.get("PORTAL_SMTP_TIMEOUT") or 20),
            jobs_enabled=_bool(env.get("PORTAL_JOBS"), True),
        )
        if env.get("PORTAL_FOOTER_HOURS"):
            values["footer_hours"] = env["PORTAL_FOOTER_HOURS"]
        values.update(overrides)
        if "PORTAL_COOKIE_SECURE" not in env and "cookie_secure" not in overrides:
            values["cookie_secure"] = values["env"] == "production"
        return cls(**values)

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------- checks

    def check(self) -> None:
        """Refuse configurations that must never serve; raise with a one-line reason."""
        if self.env not in ENVIRONMENTS:
            raise SettingsError(
                f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}"
            )
        if self.sms_gateway_url and not self.sms_gateway_url.startswith(("http://", "https://")):
            raise SettingsError("PORTAL_SMS_GATEWAY_URL must be an http:// or https:// address")
        if self.smtp_host and "@" not in self.smtp_from:
            raise SettingsError("PORTAL_SMTP_FROM must be the sender's address when PORTAL_SMTP_HOST is set")
        if self.smtp_user and not self.smtp_host:
            raise SettingsError("PORTAL_SMTP_USER is set without PORTAL_SMTP_HOST")
        if not re.fullmatch(r"[A-Za-z0-9_]{1,40}", self.citizen_cookie_name):
            raise SettingsError("PORTAL_CITIZEN_COOKIE may hold only letters, digits and _ (up to 40)")
        if not self.production:
            return
        if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32:
            raise SettingsError(
                "production refuses to start: set PORTAL_SECRET_KEY to a random value of 32+ characters"
            )
        if self.debug:
            raise SettingsError("production refuses to start: PORTAL_DEBUG is on")
        if not self.data_key:
            raise SettingsError(
                "production refuses to start: set PORTAL_DATA_KEY (encrypts TOTP secrets and sensitive fields)"
            )
        if self.sms_gateway_url and not self.sms_gateway_token:
            raise SettingsError("production refuses to start: PORTAL_SMS_GATEWAY_URL is set without PORTAL_SMS_GATEWAY_TOKEN")
        # Whether any SMS sender exists (gateway or plugin) is checked once the plugins are loaded:
        # portal.notify.senders.configured_senders, called by create_app.
