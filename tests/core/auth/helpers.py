"""Helpers shared by the auth and security tests: reading forms like a browser, TOTP, accounts, DB state."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pyotp

from portal import clock
from portal.auth.passwords import hash_password
from portal.crypto import FieldCipher
from portal.demo import DEMO_PASSWORD
from portal.tables import AuthSession, Center, CenterModule, Department, StaffRole, StaffUser, Throttle

__all__ = [
    "DEMO_PASSWORD",
    "center_id",
    "db_state",
    "department_id",
    "form_fields",
    "login_with_totp",
    "make_staff",
    "sessions_of",
    "set_totp",
    "temporary_password",
    "throttle_hits",
    "totp_now",
    "user_id",
]


class _FormParser(HTMLParser):
    """Collects every <form>: its action and the name/value pairs a browser would send."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None
        self._select_value: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": (a.get("method") or "get").lower(), "fields": []}
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            name = a.get("name")
            if not name or kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self._form["fields"].append((name, a.get("value", "on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select":
            self._select, self._select_value, self._select_first = a.get("name"), None, None
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a:
                self._select_value = value
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), []

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            value = self._select_value if self._select_value is not None else self._select_first
            if value is not None:
                self._form["fields"].append((self._select, value))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form["fields"].append((self._textarea, "".join(self._text)))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)


def form_fields(page_html: str, action: str) -> list[tuple[str, str]]:
    """The name/value pairs the form posting to ``action`` would send as rendered (checked boxes only)."""
    parser = _FormParser()
    parser.feed(page_html)
    for form in parser.forms:
        if form["action"] == action:
            return list(form["fields"])
    raise AssertionError(f"no form with action {action!r} on the page; forms: {[f['action'] for f in parser.forms]}")


async def center_id(code: str) -> int:
    row = await Center.select(Center.id).where(Center.code == code).first()
    assert row is not None, code
    return row["id"]


async def department_id(code: str) -> int:
    row = await Department.select(Department.id).where(Department.code == code).first()
    assert row is not None, code
    return row["id"]


async def user_id(username: str) -> int:
    row = await StaffUser.select(StaffUser.id).where(StaffUser.username == username).first()
    assert row is not None, username
    return row["id"]


async def sessions_of(username: str) -> list[dict]:
    return await AuthSession.select().where(AuthSession.user == await user_id(username))


async def throttle_hits(key: str) -> int:
    row = await Throttle.select(Throttle.hits).where(Throttle.key == key).first()
    return row["hits"] if row else 0


def totp_now(secret: str, offset_steps: int = 0) -> str:
    """The code an authenticator app shows at the app's (travelled) clock."""
    totp = pyotp.TOTP(secret)
    step = int(clock.now().timestamp()) // totp.interval + offset_steps
    return totp.generate_otp(step)


async def set_totp(settings, username: str, secret: str | None = None) -> str:
    """Give ``username`` a confirmed second factor with a known secret (as if enrolled earlier)."""
    secret = secret or pyotp.random_base32()
    await StaffUser.update(
        {StaffUser.totp_secret: FieldCipher(settings).encrypt(secret), StaffUser.totp_confirmed: True, StaffUser.totp_last_step: 0}
    ).where(StaffUser.username == username)
    return secret


async def make_staff(
    settings, username: str, center_code: str, roles: list[str], password: str = DEMO_PASSWORD, department: str | None = None
) -> tuple[int, str]:
    """A real (non-demo) account with a confirmed TOTP secret; returns (id, secret)."""
    rows = await StaffUser.insert(
        StaffUser(
            username=username,
            display_name=f"测试{username}",
            password_hash=hash_password(password),
            center=await center_id(center_code),
            department=await department_id(department) if department else None,
            is_demo=False,
        )
    ).returning(StaffUser.id)
    new_id = rows[0]["id"]
    await StaffRole.insert(*[StaffRole(user=new_id, role=role) for role in roles])
    return new_id, await set_totp(settings, username)


async def login_with_totp(client, username: str, secret: str, password: str = DEMO_PASSWORD, next_url: str = "/dashboard"):
    """Password then code, as a person with an authenticator app would; returns the final response."""
    response = await client.submit("/login", {"username": username, "password": password, "next": next_url})
    assert response.status_code == 303, (username, response.status_code)
    assert response.headers["location"].startswith("/login/totp?"), response.headers["location"]
    response = await client.submit("/login/totp", {"code": totp_now(secret), "next": next_url})
    assert response.status_code == 303, (username, response.status_code, response.text[:300])
    assert response.headers["location"] == next_url
    return response


def temporary_password(page_html: str) -> str:
    """The one-time password shown after an admin creates or resets an account."""
    match = re.search(r'<p class="secret">\s*([^<\s]+)\s*</p>', page_html)
    assert match, "no temporary password on the page"
    return html.unescape(match.group(1))


async def db_state() -> dict:
    """What an administrator's action could change (sessions, throttles and the audit log left out)."""
    return {
        "center": await Center.select().order_by(Center.id),
        "department": await Department.select().order_by(Department.id),
        "staff_user": await StaffUser.select(StaffUser.all_columns(exclude=[StaffUser.last_login_at])).order_by(StaffUser.id),
        "staff_role": sorted((r["user"], r["role"]) for r in await StaffRole.select(StaffRole.user, StaffRole.role)),
        "center_module": await CenterModule.select(
            CenterModule.center, CenterModule.module, CenterModule.allowed, CenterModule.enabled
        ).order_by(CenterModule.id),
    }
