"""Every demo account signs in and sees its own center's scope, nothing above or beside it."""

from __future__ import annotations

import pytest

from portal.demo import DEMO_USERS
from portal.tables import Center
from tests.conftest import html_text

NAMES = {code: name for code, name, *_ in __import__("portal.demo", fromlist=["CENTERS"]).CENTERS}


@pytest.mark.parametrize(("username", "center_code", "roles"), [(u, c, r) for u, _n, c, r, _d in DEMO_USERS])
async def test_demo_account_signs_in_to_its_own_scope(client, username, center_code, roles):
    await client.login(username)
    page = await client.get("/dashboard")
    assert page.status_code == 200
    assert f'<span class="center-name">{NAMES[center_code]}</span>' in page.text
    if "center_admin" in roles or "system_admin" in roles:
        tree = await client.get("/admin/centers")
        assert tree.status_code == 200
        own = await Center.select().where(Center.code == center_code).first()
        visible = {row["name"] for row in await Center.select(Center.name).where(Center.path.like(f"{own['path']}%"))}
        hidden = {row["name"] for row in await Center.select(Center.name)} - visible
        text = html_text(tree)
        assert all(name in text for name in visible)
        assert not any(name in text for name in hidden)
    else:
        assert (await client.get("/admin/centers")).status_code == 403
