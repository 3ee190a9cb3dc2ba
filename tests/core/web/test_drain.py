"""Shutdown waits for running requests before it closes the database, and refuses new ones meanwhile."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from portal.app import create_app
from portal.matters.tables import Matter
from tests.conftest import Client
from tests.core.matters.helpers import WINDOW_FORM, submission_key
from tests.core.test_db import _hold_write_lock


@pytest.mark.sqlite_only
async def test_a_registration_running_at_shutdown_is_answered_and_saved(settings):
    app = create_app(settings)
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve():  # the server's lifespan, in its own task as under granian
        async with app.lifespan():
            started.set()
            await stop.wait()

    server = asyncio.create_task(serve())
    await started.wait()
    client = Client(transport=httpx.ASGITransport(app=app, client=("198.51.100.7", 40000)),
                    base_url="http://testserver.local")
    try:
        await client.login("dmz_window")
        form = await client.get("/matters/new")
        data = {**WINDOW_FORM, "_submission_key": submission_key(form.text)}
        before = await Matter.count()
        # Another process holds the write lock, so the registration is still running at shutdown.
        held = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(str(settings.sqlite_path), 0.5, held))
        holder.start()
        await asyncio.get_running_loop().run_in_executor(None, held.wait)
        registering = asyncio.create_task(client.submit("/matters/new", data))
        await asyncio.sleep(0.1)
        stop.set()  # the server is told to stop while the registration waits for the lock
        await asyncio.sleep(0.05)
        refused = await client.get("/login")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert "重新启动" in refused.text
        answer = await registering
        assert answer.status_code == 303 and answer.headers["location"].startswith("/matters/")
        await server
        holder.join()
    finally:
        await client.aclose()
    # The registration committed before the pool closed: it is there after a restart.
    again = create_app(settings)
    async with again.lifespan():
        assert await Matter.count() == before + 1
