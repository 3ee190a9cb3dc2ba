"""The notes key (Done-when 2, second half): a changed key fails loudly until ``portal counseling
rotate-key --old …`` has moved every note to it, in one transaction; production needs the key."""

from __future__ import annotations

import asyncio
import types

import click
import httpx
import pytest
from click.testing import CliRunner

from portal.app import create_app
from portal.db import bind_engine, make_engine, raw
from portal.modules import PluginRegistry, make_plugin_manager
from portal.settings import Settings, SettingsError
from tests.conftest import Client, html_text
from tests.counseling.case_helpers import (
    NOTE_WORDS, PSEUDONYM, audit_rows, case_with_notes, setup_counseling, submission_key,
)

from plugins.counseling.notes_crypto import MISMATCH, CounselingKeyError, startup_check

OLD = "old-counseling-key-0123456789-abcdefghijklmnop"
NEW = "new-counseling-key-9876543210-qrstuvwxyzabcdef"
ENCRYPTED = (("counseling_case", "client_label"), ("counseling_session", "notes"), ("counseling_referral", "details"),
             ("counseling_review", "reason"), ("counseling_screening", "answers"), ("counseling_crisis", "reason"),
             ("counseling_crisis", "closing_note"), ("counseling_crisis_step", "note"))


def _flatten(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _flatten(inner)]
    return [error]


async def _with_app(settings: Settings, work):
    app = create_app(settings)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
        async with Client(transport=transport, base_url="http://testserver.local") as client:
            return await work(app, client)


async def _write_everything(app, client) -> int:
    """A case with a session, a referral, a supervisor's review, a self-screening and a crisis flag
    with a checklist note and a closing note: every encrypted column used."""
    await setup_counseling(app)
    await client.login("counselor")
    case_id, booking = await case_with_notes(client)
    # The screening as the citizen's page stores it (the page itself needs a signed-in citizen).
    from plugins.counseling import screening as sc
    from plugins.counseling.notes_crypto import open_cipher

    async def no_audit(*args, **kwargs):
        return None

    counselor_id = (await raw("SELECT counselor FROM counseling_case WHERE id = {}", case_id))[0]["counselor"]
    await sc.submit(no_audit, {**booking, "counselor": counselor_id}, sc.score([1] * 8 + [0], [2] * 7, 1),
                    await open_cipher(app.state.settings))
    flag = await client.get(f"/m/counseling/crisis/new?case_id={case_id}")
    raised = await client.submit(f"/m/counseling/crisis/new?case_id={case_id}", {
        "reason": "会谈中表达强烈的轻生念头", "_submission_key": submission_key(flag.text)})
    assert raised.status_code == 303, raised.status_code
    url = raised.headers["location"]
    page = await client.get(url)
    step = await client.submit(f"{url}/steps", {"step": "other", "note": "已联系其姐姐到场陪同",
                                                "_submission_key": submission_key(page.text)})
    assert step.status_code == 303, step.status_code
    assert (await client.submit(f"{url}/resolve", {"closing_note": "家属已接回，约定明天复谈"})).status_code == 303
    form = await client.get(f"/m/counseling/cases/{case_id}/referrals/new")
    await client.submit(f"/m/counseling/cases/{case_id}/referrals/new", {
        "institution": "甘州区人民医院", "reason": "持续失眠", "referred_on": "2026-11-20", "agreed": "yes",
        "_submission_key": submission_key(form.text)})
    supervisor = Client(transport=httpx.ASGITransport(app=app, client=("198.51.100.8", 40000)), base_url="http://testserver.local")
    await supervisor.login("k2_supervisor")
    form = await supervisor.get(f"/m/counseling/review/{case_id}")
    assert form.status_code == 200, form.status_code
    response = await supervisor.submit(f"/m/counseling/review/{case_id}", {"reason": "月度督导会个案讨论（季度）",
                                                                           "_submission_key": submission_key(form.text)})
    assert response.status_code == 303, response.status_code
    await supervisor.aclose()
    return case_id


async def _values() -> dict:
    return {(table, column): [r[column] for r in await raw(f"SELECT {column} FROM {table} ORDER BY id")]
            for table, column in ENCRYPTED}


def _cli(settings: Settings, *args: str, key: str = NEW, stdin: str | None = None):
    group = click.Group("portal")
    PluginRegistry(make_plugin_manager(settings), settings).call_each("register_commands", cli=group)
    env = {"PORTAL_DATABASE_URL": settings.database_url, "PORTAL_SECRET_KEY": settings.secret_key,
           "PORTAL_COUNSELING_KEY": key, "PORTAL_PLUGINS": "tests.sample_module", "PORTAL_LOAD_ENTRYPOINTS": "0"}
    return CliRunner().invoke(group, list(args), env=env, input=stdin)


def test_rotate_key_moves_every_note_to_the_new_key(settings):
    old_settings, new_settings = settings.replace(counseling_key=OLD), settings.replace(counseling_key=NEW)
    case_id = asyncio.run(_with_app(old_settings, _write_everything))
    bind_engine(make_engine(settings))
    before = asyncio.run(_values())
    assert all(v and all(x.startswith("k1:") for x in v) for v in before.values()), [(k, v) for k, v in before.items() if not v or not all(x.startswith("k1:") for x in v)]

    # The new key alone: the app refuses to start, saying how to migrate.
    with pytest.raises(BaseException) as refused:
        asyncio.run(_with_app(new_settings, lambda app, client: asyncio.sleep(0)))
    assert [str(e) for e in _flatten(refused.value) if isinstance(e, CounselingKeyError)] == [MISMATCH]

    # A wrong old key or the same key: refused, nothing touched.
    wrong = _cli(settings, "counseling", "rotate-key", "--old", "not-the-key-that-encrypted-these-notes")
    assert wrong.exit_code != 0 and "--old 给出的密钥与已加密数据不符" in wrong.output
    same = _cli(settings, "counseling", "rotate-key", "--old", NEW)
    assert same.exit_code != 0 and "新旧密钥相同" in same.output
    bind_engine(make_engine(settings))
    assert asyncio.run(_values()) == before

    # The old key given on standard input (kept out of the shell history): every value moves.
    moved = _cli(settings, "counseling", "rotate-key", "--old", "-", stdin=OLD + "\n")
    assert moved.exit_code == 0, moved.output
    assert "已用新密钥重新加密 8 项咨询记录（密钥编号 k2）" in moved.output
    bind_engine(make_engine(settings))
    after = asyncio.run(_values())
    for column, values in after.items():
        assert len(values) == len(before[column]) and all(v.startswith("k2:") for v in values), column
        assert not set(values) & set(before[column])
    assert len(asyncio.run(audit_rows("counseling.key_rotated"))) == 1

    # Now the new key reads everything, and the old one is the stranger.
    async def read(app, client):
        await client.login("counselor")
        return await client.get(f"/m/counseling/cases/{case_id}")

    page = asyncio.run(_with_app(new_settings, read))
    text = html_text(page)
    assert page.status_code == 200 and NOTE_WORDS in text and PSEUDONYM in text and "甘州区人民医院" in text
    assert "月度督导会个案讨论（季度）" in text

    async def read_flag(app, client):
        await client.login("counselor")
        flag_id = (await raw("SELECT id FROM counseling_crisis"))[0]["id"]
        return html_text(await client.get(f"/m/counseling/crisis/{flag_id}"))

    flag_text = asyncio.run(_with_app(new_settings, read_flag))
    assert "会谈中表达强烈的轻生念头" in flag_text and "已联系其姐姐到场陪同" in flag_text and "家属已接回" in flag_text
    with pytest.raises(BaseException) as stale:
        asyncio.run(_with_app(old_settings, lambda app, client: asyncio.sleep(0)))
    assert any(isinstance(e, CounselingKeyError) for e in _flatten(stale.value))


def test_production_refuses_to_start_without_the_counseling_key(settings):
    production = settings.replace(env="production", data_key="d" * 44, counseling_key="")
    engine = make_engine(settings)
    app = types.SimpleNamespace(state=types.SimpleNamespace(settings=production, engine=engine))
    with pytest.raises(SettingsError) as refused:
        asyncio.run(startup_check(app))
    assert "PORTAL_COUNSELING_KEY" in str(refused.value)
    assert Settings.from_env({"PORTAL_COUNSELING_KEY": NEW}).counseling_key == NEW
