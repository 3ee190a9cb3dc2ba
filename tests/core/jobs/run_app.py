"""A separate app process for the two-process scheduler tests (``python -m tests.core.jobs.run_app``).

``scheduler SECONDS``: build the app from the environment, start it (its in-app scheduler runs
every job on its interval) and stop it SECONDS after the deadline-warning and booking-reminder
jobs have run. ``direct ROUNDS``: run both jobs' bodies ROUNDS times *without* the lease, to show
that the jobs are idempotent on their own.
Prints one line per outcome for the test to read.
"""

from __future__ import annotations

import asyncio
import sys

from portal import clock
from portal.app import create_app
from portal.jobs import runner
from portal.jobs.runner import JobContext, process_holder
from portal.bookings.jobs import send_reminders
from portal.db import raw
from portal.matters.jobs import DEADLINE_WARNINGS, deadline_warnings

REMINDERS = "bookings.reminders"
from portal.settings import Settings


async def scheduler(seconds: float) -> None:
    """Serve until the deadline-warning job has run (in either process), then ``seconds`` more."""
    runner.TICK_SECONDS = 0.2
    app = create_app(Settings.from_env())
    async with app.lifespan():
        for _ in range(300):
            done = await raw("SELECT DISTINCT job FROM job_run WHERE job IN ({}, {}) AND status <> 'running'",
                             DEADLINE_WARNINGS, REMINDERS)
            if len(done) == 2:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(seconds)
    print("scheduler stopped", flush=True)


async def direct(rounds: int) -> None:
    app = create_app(Settings.from_env(jobs_enabled=False))  # only the job body below, no scheduler
    async with app.lifespan():
        registry = app.state.registry
        ctx = JobContext(name="matters.deadline_warnings", plugin="portal.core_hooks", registry=registry,
                         settings=registry.settings, holder=process_holder(), now=clock.now(),
                         sms_senders=app.state.sms_senders, app_state=app.state)
        for _ in range(rounds):
            report = await deadline_warnings(ctx)
            print(f"report {report.due_soon} {report.overdue} {report.messages}", flush=True)
            print(f"reminders {await send_reminders(ctx)}", flush=True)


if __name__ == "__main__":
    mode, amount = sys.argv[1], sys.argv[2]
    asyncio.run(scheduler(float(amount)) if mode == "scheduler" else direct(int(amount)))
