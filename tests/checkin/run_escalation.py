"""A separate app process running the escalation job's body (``python -m tests.checkin.run_escalation``).

``ROUNDS --now ISO [--barrier DIR]``: build the app from the environment (no scheduler), move this
process's clock to ISO, and call the registered ``checkin.escalate`` job ROUNDS times *without*
the lease, as two app processes would if the lease ever failed them: the job's own per-step claims
must keep each message once. With ``--barrier``, the process writes ``DIR/ready-<pid>`` once it is
up and waits for ``DIR/go`` before the first round, so that the test can release two processes at
the same instant (their start-up times differ by more than a round lasts).
Prints ``report LATE RENOTIFIED LEADER_ALERTED UPPER_ALERTED`` per round for the test to read.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import time
from pathlib import Path

from portal import clock
from portal.app import create_app
from portal.jobs.runner import JobContext, process_holder
from portal.settings import Settings

ESCALATE = "checkin.escalate"


def _wait_for_go(barrier: Path, timeout: float = 60.0) -> None:
    (barrier / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + timeout
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("barrier: no go signal")
        time.sleep(0.01)


async def main(rounds: int, moment: dt.datetime, barrier: Path | None) -> None:
    clock.travel(seconds=(moment - clock.now()).total_seconds())
    app = create_app(Settings.from_env(jobs_enabled=False))
    async with app.lifespan():
        registry = app.state.registry
        plugin, job = registry.jobs[ESCALATE]
        if barrier is not None:
            _wait_for_go(barrier)
        for _ in range(rounds):
            ctx = JobContext(name=ESCALATE, plugin=plugin, registry=registry, settings=registry.settings,
                             holder=process_holder(), now=clock.now(), sms_senders=app.state.sms_senders,
                             app_state=app.state)
            report = await job.run(ctx)
            print(f"report {report.late} {report.renotified} {report.leader_alerted} {report.upper_alerted}",
                  flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("rounds", type=int)
    parser.add_argument("--now", required=True, type=dt.datetime.fromisoformat)
    parser.add_argument("--barrier", type=Path, default=None)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.now, args.barrier))
