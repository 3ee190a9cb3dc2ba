"""Fixtures: every test gets a fresh app on its own copy of a migrated database with demo data.

The lane is chosen by ``PORTAL_TEST_DB``: ``sqlite`` (default) copies a template file per test;
``postgres`` clones a template database per test (``CREATE DATABASE … TEMPLATE``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

os.environ.setdefault("PICCOLO_CONF", "portal.piccolo_conf")
os.environ["PORTAL_LOAD_ENTRYPOINTS"] = "0"  # never load the developer's installed add-ons
os.environ["PORTAL_JOBS"] = "off"  # the in-app scheduler runs only in the tests that ask for it
os.environ.setdefault("PORTAL_PASSWORD_HASH_PROFILE", "test")  # argon2id at minimum cost (portal/auth/passwords.py)
os.environ.setdefault("PORTAL_DATA_DIR", "/tmp/whistle-tests-unused")

import asyncpg  # noqa: E402
import pytest  # noqa: E402
import httpx  # noqa: E402

from portal import clock  # noqa: E402
from portal.app import create_app  # noqa: E402
from portal.audit.chain import SYSTEM, AuditTrail  # noqa: E402
from portal.crypto import audit_key  # noqa: E402
from portal.db import bind_engine, make_engine  # noqa: E402
from portal.demo import DEMO_PASSWORD  # noqa: E402
from portal.settings import Settings  # noqa: E402

logging.getLogger("httpx").setLevel(logging.WARNING)

LANE = os.environ.get("PORTAL_TEST_DB", "sqlite")
PG_URL = os.environ.get("PORTAL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SAMPLE_MODULE = "tests.sample_module"
CSRF_FIELD = "_csrf_token"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector, name, obj):
    # Async tests run under anyio; marking them before collection keeps parametrize working.
    if collector.funcnamefilter(name) and asyncio.iscoroutinefunction(obj):
        pytest.mark.anyio(obj)


@pytest.fixture(autouse=True)
def _lane_only(request):
    if request.node.get_closest_marker("postgres_only") and LANE != "postgres":
        pytest.skip("PostgreSQL lane only")
    if request.node.get_closest_marker("sqlite_only") and LANE != "sqlite":
        pytest.skip("SQLite lane only")


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _pg_url(database: str) -> str:
    return re.sub(r"/[^/]*$", f"/{database}", PG_URL)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def base_settings(**overrides) -> Settings:
    values = dict(
        env="development",
        load_entrypoints=False,
        plugins=(SAMPLE_MODULE,),
        secret_key="test-secret-key-0123456789-abcdefghij",
    )
    values.update(overrides)
    return Settings.from_env(**values)


async def _prepare(settings: Settings) -> None:
    from portal.cli import migrate
    from portal.demo import load_demo

    bind_engine(make_engine(settings))
    await migrate(quiet=True)
    await load_demo(AuditTrail(audit_key(settings), SYSTEM))


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> str:
    """Migrated database with demo data, built once per run; tests get copies."""
    if LANE == "postgres":
        name = f"whistle_tpl_{os.getpid()}"
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}"'))
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        settings = base_settings(database_url=_pg_url(name))
        asyncio.run(_prepare(settings))
        yield name
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    directory = tmp_path_factory.mktemp("template")
    path = directory / "template.sqlite3"
    settings = base_settings(database_url=f"sqlite:///{path}")
    asyncio.run(_prepare(settings))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    yield str(path)


@pytest.fixture
def database_url(template_db, tmp_path) -> str:
    if LANE == "postgres":
        name = f"whistle_t_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"'))
        yield _pg_url(name)
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    path = tmp_path / "portal.sqlite3"
    shutil.copyfile(template_db, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return base_settings(database_url=database_url, data_dir=tmp_path)


@pytest.fixture(autouse=True)
def _reset_clock():
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
async def app(settings):
    """The app with its start-up done, all in the test's own event loop (so test code may use the DB)."""
    application = create_app(settings)
    async with application.lifespan():
        yield application


class Client(httpx.AsyncClient):
    """A test browser: keeps cookies, fills in the CSRF token like a rendered form would."""

    csrf_cookie = "portal_csrf"

    async def csrf(self) -> str:
        if not self.cookies.get(self.csrf_cookie):
            await self.get("/healthz")
            await self.get("/login")
        return self.cookies.get(self.csrf_cookie)

    async def submit(self, url: str, data: dict | None = None, **kwargs):
        """POST a form as the browser would, with the CSRF token and no redirect following."""
        payload = dict(data or {})
        payload.setdefault(CSRF_FIELD, await self.csrf())
        kwargs.setdefault("follow_redirects", False)
        return await self.post(url, data=payload, **kwargs)

    async def login(self, username: str, password: str = DEMO_PASSWORD, expect_ok: bool = True):
        response = await self.submit("/login", {"username": username, "password": password, "next": "/dashboard"})
        if expect_ok:
            assert response.status_code == 303, f"login of {username} failed: {response.status_code}"
            assert response.headers["location"] == "/dashboard", response.headers["location"]
        return response


@pytest.fixture
async def client_factory(app) -> AsyncIterator:
    """Open any number of independent browsers on the same app (and its one event loop)."""
    opened: list[Client] = []

    async def make() -> Client:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
        client = Client(transport=transport, base_url="http://testserver.local", headers={"user-agent": "pytest"})
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        await client.aclose()


@pytest.fixture
async def client(client_factory) -> Client:
    return await client_factory()


def html_text(response) -> str:
    """The response's visible text, whitespace collapsed (for assertions about what users read)."""
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", response.text, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    import html as _html

    return re.sub(r"\s+", " ", _html.unescape(text)).strip()


ROOT = Path(__file__).resolve().parent.parent
