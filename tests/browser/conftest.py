"""Browser lane: the real app under granian, driven by Debian's Chromium through Playwright.

One server per test session (its own temp data dir, demo data, ``sample_module`` switched on at
大满镇 GZQ-DMZ), one browser per session, a fresh browser context per test. Every request a page
makes goes through a route that refuses anything not addressed to 127.0.0.1: a third-party request
(fonts, analytics, CDNs) fails the test.

Run: ``PYTHONPATH=. .venv/bin/python -m pytest -q -m browser tests/browser``
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from portal.demo import DEMO_PASSWORD
from portal.i18n import gettext

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("PORTAL_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--no-proxy-server",  # a developer's http_proxy must not catch requests to 127.0.0.1
]
VNU_VERSION = "26.9.27"
VNU_JAR = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
SERVER_START_TIMEOUT = 20.0
ALLOWED_HOST = "127.0.0.1"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
REQUIRE_ALL = os.environ.get("PORTAL_REQUIRE_ALL_LANES") == "1"
# The running server's environment, for tests that run the CLI against its database (jobs).
SERVER_ENV: dict[str, str] = {}


def server_db() -> sqlite3.Connection:
    """The running server's SQLite database (tests that stand in for time passing)."""
    return sqlite3.connect(Path(SERVER_ENV["PORTAL_DATA_DIR"]) / "portal.sqlite3")


def move_booking(booking_id: int, start: dt.datetime, minutes: int) -> None:
    """The appointment's time has come: the booking runs from ``start`` for ``minutes``."""
    with server_db() as conn:
        (value,) = conn.execute("SELECT starts_at FROM booking WHERE id = ?", (booking_id,)).fetchone()
        sep = "T" if "T" in value else " "
        conn.execute("UPDATE booking SET starts_at = ?, ends_at = ? WHERE id = ?",
                     (start.isoformat(sep=sep), (start + dt.timedelta(minutes=minutes)).isoformat(sep=sep), booking_id))


def _missing(what: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"browser lane cannot run: {what}")
    pytest.skip(f"browser lane skipped: {what}")


# ---------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ALLOWED_HOST, 0))
        return sock.getsockname()[1]


def _server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "PICCOLO_"))}
    env.update(
        PORTAL_ENV="demo",
        PORTAL_DATA_DIR=str(data_dir),
        PORTAL_LOAD_ENTRYPOINTS="0",
        PORTAL_PLUGINS="tests.sample_module",
        PORTAL_JOBS="off",  # jobs run when a test asks (portal jobs run NAME), never behind its back
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        PYTHONUNBUFFERED="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def _cli(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(BIN / "portal"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        pytest.fail(f"portal {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + "/healthz", timeout=1) as response:
            return response.status == 200 and response.read() == b"ok"
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> str:
    """Base URL of a granian-served portal with demo data; stopped (whole process group) at the end."""
    data_dir = tmp_path_factory.mktemp("browser-data")
    env = _server_env(data_dir)
    SERVER_ENV.update(env)
    _cli(env, "db", "migrate")
    _cli(env, "demo", "load")
    _cli(env, "modules", "enable", "sample_module", "--center", "GZQ-DMZ")
    port = _free_port()
    base_url = f"http://{ALLOWED_HOST}:{port}"
    stdout = (data_dir / "granian.out").open("wb")
    stderr = (data_dir / "granian.err").open("wb")
    process = subprocess.Popen(
        [str(BIN / "granian"), "--interface", "asgi", "--host", ALLOWED_HOST, "--port", str(port),
         "--workers", "1", "portal.asgi:app"],
        cwd=ROOT, env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True,
    )

    def stop() -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            except ProcessLookupError:
                pass
        stdout.close()
        stderr.close()

    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not _healthy(base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop()
            log = (data_dir / "granian.err").read_text(errors="replace") + (data_dir / "granian.out").read_text(errors="replace")
            state = f"exited with {process.returncode}" if process.returncode is not None else "did not answer /healthz"
            pytest.fail(f"granian {state} within {SERVER_START_TIMEOUT:.0f} s; its output:\n{log}")
        time.sleep(0.1)
    yield base_url
    stop()


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Guard:
    """What a context's pages did that the test did not ask for: foreign requests, script errors."""

    def __init__(self) -> None:
        self.foreign: list[str] = []
        self.errors: list[str] = []

    def route(self, route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname == ALLOWED_HOST:
            route.continue_()
        else:
            self.foreign.append(f"{route.request.method} {url}")
            route.abort("blockedbyclient")

    def console(self, message) -> None:
        # The pages we test include deliberate 404/422 answers; Chromium logs those as "Failed to load".
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(f"console: {message.text}")

    def check(self) -> None:
        problems = []
        if self.foreign:
            problems.append("requests to hosts other than 127.0.0.1:\n  " + "\n  ".join(self.foreign))
        if self.errors:
            problems.append("script errors:\n  " + "\n  ".join(self.errors))
        if problems:
            pytest.fail("\n".join(problems))


def open_guarded(browser, base_url: str, viewport: dict | None = None, **options):
    """A page in a fresh context whose requests and script errors a :class:`Guard` watches."""
    context = browser.new_context(base_url=base_url, viewport=viewport or DESKTOP, locale="zh-CN", **options)
    context.set_default_timeout(10_000)
    guard = Guard()
    context.route("**/*", guard.route)
    page = context.new_page()
    page.on("console", guard.console)
    page.on("pageerror", lambda error: guard.errors.append(f"pageerror: {error}"))
    return context, page, guard


@pytest.fixture
def new_page(browser, server):
    """Factory: ``new_page(viewport, java_script_enabled=...)`` -> a page in its own guarded context."""
    opened = []

    def make(viewport: dict | None = None, **options):
        context, page, guard = open_guarded(browser, server, viewport, **options)
        opened.append((context, guard))
        return page

    yield make
    for context, _guard in opened:
        context.close()
    for _context, guard in opened:
        guard.check()


@pytest.fixture
def page(new_page):
    return new_page(DESKTOP)


@pytest.fixture
def phone_page(new_page):
    return new_page(PHONE)


@pytest.fixture
def js_off_page(new_page):
    return new_page(DESKTOP, java_script_enabled=False)


# --------------------------------------------------------------------------- helpers


def sign_in(page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the real login form; demo accounts land on the workbench."""
    page.goto("/login")
    form = page.locator("main form[action='/login']")
    form.get_by_label(gettext("Username"), exact=True).fill(username)
    form.get_by_label(gettext("Password"), exact=True).fill(password)
    form.get_by_role("button", name=gettext("Sign in"), exact=True).click()
    page.wait_for_url("**/dashboard")


def elder_link(page, on: bool):
    name = gettext("Large text (elder mode)") if on else gettext("Standard view")
    return page.locator("header nav.account-nav").get_by_role("link", name=name, exact=True)


def _ensure_vnu() -> Path:
    if VNU_JAR.exists():
        return VNU_JAR
    if shutil.which("java") is None:
        _missing("java is not installed (needed by the Nu HTML checker)")
    npm = shutil.which("npm")
    if npm is None:
        _missing(f"npm is not installed and {VNU_JAR} is missing")
    subprocess.run(
        [npm, "install", "--no-save", "--no-audit", "--no-fund", "--ignore-scripts", f"vnu-jar@{VNU_VERSION}"],
        cwd=ROOT, check=True, capture_output=True, timeout=300,
    )
    return VNU_JAR


def vnu(html_list: list[str]) -> list[list[str]]:
    """Check documents with the Nu HTML checker (``--errors-only``), all in one JVM run.

    Returns, for each document in order, its errors as ``"line:column message «extract»"``.
    """
    if shutil.which("java") is None:
        _missing("java is not installed (needed by the Nu HTML checker)")
    jar = _ensure_vnu()
    with tempfile.TemporaryDirectory(prefix="vnu-") as tmp:
        paths = []
        for index, html in enumerate(html_list):
            path = Path(tmp) / f"page-{index:03d}.html"
            path.write_text(html, encoding="utf-8")
            paths.append(path)
        if not paths:
            return []
        result = subprocess.run(
            ["java", "-jar", str(jar), "--errors-only", "--format", "json", "--stdout", *map(str, paths)],
            capture_output=True, text=True, timeout=300,
        )
        try:
            messages = json.loads(result.stdout)["messages"]
        except (ValueError, KeyError):
            pytest.fail(f"vnu gave no JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
        errors: list[list[str]] = [[] for _ in paths]
        by_name = {path.name: index for index, path in enumerate(paths)}
        for message in messages:
            if message.get("type") not in ("error", "non-document-error"):
                continue
            name = Path(urlsplit(message.get("url", "")).path).name
            text = f"{message.get('lastLine', '?')}:{message.get('firstColumn', '?')} {message.get('message')}"
            if message.get("extract"):
                text += f" «{' '.join(message['extract'].split())}»"
            if name in by_name:
                errors[by_name[name]].append(text)
            else:  # not tied to one file: count it against every page rather than lose it
                for page_errors in errors:
                    page_errors.append(text)
        return errors
