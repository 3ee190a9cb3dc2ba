"""Running jobs: the database lease, the job's context, and the in-app scheduler loop.

The lease: each job has one ``job_lease`` row. A process runs a job only after a conditional
UPDATE moved the lease to itself (``lease_until`` empty or past, and — for scheduled runs — the
interval elapsed since the last start by anyone). The UPDATE is atomic on both engines (SQLite
under ``BEGIN IMMEDIATE``; PostgreSQL re-checks the WHERE after taking the row lock), so of
several app processes exactly one runs a job at a time, and all of them together run it once per
interval. While the job runs, the holder renews the lease; a process that dies stops renewing and
its lease runs out after ``Job.lease_seconds``. Finishing clears the lease and records the result.

Because a lease can run out under a job that is merely slow, and because ``portal jobs run`` may
be started by cron as well, jobs must also be idempotent on their own: claim each row they act on
with a conditional UPDATE or a unique insert in the transaction of the effect (``claim_once``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import logging
import os
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

from portal import clock
from portal.db import in_transaction, raw, write_transaction
from portal.plugin_api import CenterRef, Job

__all__ = [
    "JobContext",
    "RunOutcome",
    "Scheduler",
    "claim_once",
    "job_rows",
    "process_holder",
    "run_job",
]

log = logging.getLogger("portal.jobs")

TICK_SECONDS = 5.0  # how often the in-app scheduler looks for due jobs
HISTORY_KEEP = 200  # run-history rows kept per job


def process_holder() -> str:
    """This process's name in lease rows: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class JobContext:
    """What a job's ``run(ctx)`` receives.

    ``registry`` and ``settings`` of the app (or CLI), ``plugin`` (the module that registered the
    job, or ``portal.core_hooks``), ``sms_senders`` (so ``ctx`` can be handed to
    ``portal.notify.outbox.deliver_pending``), ``now`` (the clock when the run began) and
    ``enabled_centers()``: the active centers where the job's module is enabled — every active
    center for core's own jobs. A module's job acts only on those centers.
    """

    name: str
    plugin: str
    registry: Any
    settings: Any
    holder: str
    now: dt.datetime
    sms_senders: tuple = ()
    # app.state when the app's scheduler (or staff page) runs the job, None from the CLI. Named so
    # that ``hasattr(ctx, "state")`` stays false: a JobContext is not an app.
    app_state: Any = None
    _centers: list[CenterRef] | None = field(default=None, repr=False)

    async def enabled_centers(self) -> list[CenterRef]:
        if self._centers is None:
            if self.plugin in self.registry.modules:
                rows = await raw(
                    "SELECT c.id, c.code, c.name, c.level, c.path FROM center c JOIN center_module cm ON cm.center = c.id "
                    "WHERE cm.module = {} AND cm.allowed AND cm.enabled AND c.active ORDER BY c.path",
                    self.plugin,
                )
            else:
                rows = await raw("SELECT id, code, name, level, path FROM center WHERE active ORDER BY path")
            self._centers = [CenterRef.from_row(row) for row in rows]
        return self._centers

    async def enabled_center_ids(self) -> set[int]:
        return {center.id for center in await self.enabled_centers()}


@dataclass(frozen=True)
class RunOutcome:
    name: str
    ran: bool
    status: str = ""  # ok | error | busy (another holder) | not_due
    result: str = ""
    error: str = ""


async def claim_once(job: str, key: str) -> bool:
    """Mark ``key`` done for ``job``, inside the caller's ``write_transaction()``.

    True the first time (go ahead: queue the message in this same transaction); False when it was
    claimed before, by this process or any other. A rollback of the caller returns the claim.
    """
    if not in_transaction():
        raise RuntimeError("claim_once runs inside the write_transaction() of the effect it guards")
    rows = await raw(
        "INSERT INTO job_claim (job, key, claimed_at) VALUES ({}, {}, {}) ON CONFLICT (job, key) DO NOTHING RETURNING id",
        job[:64], key[:160], clock.now(),
    )
    return bool(rows)


# ------------------------------------------------------------------------- the lease


async def _ensure_row(name: str) -> None:
    await raw("INSERT INTO job_lease (name, holder, last_result, last_error, runs, failures) "
              "VALUES ({}, '', '', '', 0, 0) ON CONFLICT (name) DO NOTHING", name)


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


async def _claim(name: str, holder: str, job: Job, *, force: bool) -> bool:
    now = clock.now()
    # A plain read first: most ticks find the job held or not due, and should not take SQLite's
    # write lock (every request that writes waits for it) just to learn that.
    rows = await raw("SELECT lease_until, last_started_at FROM job_lease WHERE name = {}", name)
    if rows:
        until, started = _aware(rows[0]["lease_until"]), _aware(rows[0]["last_started_at"])
        if until is not None and until >= now:
            return False
        if not force and started is not None and started > now - dt.timedelta(seconds=job.interval_seconds):
            return False
    lease_until = now + dt.timedelta(seconds=_lease_seconds(job))
    sql = (
        "UPDATE job_lease SET holder = {}, lease_until = {}, last_started_at = {} "
        "WHERE name = {} AND (lease_until IS NULL OR lease_until < {})"
    )
    args: list[Any] = [holder, lease_until, now, name, now]
    if not force:
        sql += " AND (last_started_at IS NULL OR last_started_at <= {})"
        args.append(now - dt.timedelta(seconds=job.interval_seconds))
    async with write_transaction():
        await _ensure_row(name)
        rows = await raw(sql + " RETURNING id", *args)
    return bool(rows)


def _lease_seconds(job: Job) -> int:
    return max(10, int(getattr(job, "lease_seconds", 0) or 300))


async def _renew(name: str, holder: str, job: Job) -> None:
    seconds = _lease_seconds(job)
    while True:
        await asyncio.sleep(seconds / 3)
        with contextlib.suppress(Exception):
            await raw("UPDATE job_lease SET lease_until = {} WHERE name = {} AND holder = {}",
                      clock.now() + dt.timedelta(seconds=seconds), name, holder)


async def _finish(name: str, holder: str, run_id: int, status: str, result: str, error: str) -> None:
    now = clock.now()
    async with write_transaction():
        await raw(
            "UPDATE job_lease SET lease_until = NULL, last_finished_at = {}, last_result = {}, last_error = {}, "
            "runs = runs + 1, failures = failures + {} WHERE name = {} AND holder = {}",
            now, result[:200], error[:500], 1 if status == "error" else 0, name, holder,
        )
        await raw("UPDATE job_run SET finished_at = {}, status = {}, result = {}, error = {} WHERE id = {}",
                  now, status, result[:200], error[:500], run_id)
        # Keep the history short: everything older than the newest HISTORY_KEEP runs of this job.
        await raw(
            "DELETE FROM job_run WHERE job = {} AND id < (SELECT MIN(id) FROM "
            f"(SELECT id FROM job_run WHERE job = {{}} ORDER BY id DESC LIMIT {HISTORY_KEEP}) AS newest)",
            name, name,
        )


def _describe(value: Any) -> str:
    if value is None:
        return "ok"
    if hasattr(value, "__dataclass_fields__"):
        return ", ".join(f"{k}={getattr(value, k)}" for k in value.__dataclass_fields__)[:200]
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())[:200]
    return str(value)[:200]


async def _call(job: Job, ctx: JobContext) -> Any:
    # ``run(ctx)`` is the contract; ``run()`` (no parameters) is accepted for simple jobs.
    try:
        takes_ctx = bool(inspect.signature(job.run).parameters)
    except (TypeError, ValueError):
        takes_ctx = True
    return await (job.run(ctx) if takes_ctx else job.run())


async def run_job(
    registry: Any,
    name: str,
    *,
    holder: str | None = None,
    force: bool = False,
    state: Any = None,
) -> RunOutcome:
    """Run job ``name`` once if this process can take its lease.

    ``force`` skips the interval check (``portal jobs run``, the staff page) but never the lease:
    while another process holds it, the answer is ``busy`` and nothing runs.
    """
    plugin, job = registry.jobs[name]
    holder = holder or process_holder()
    if not await _claim(name, holder, job, force=force):
        rows = await raw("SELECT holder, lease_until FROM job_lease WHERE name = {}", name)
        held = rows and rows[0]["lease_until"] is not None and rows[0]["holder"] != holder
        return RunOutcome(name, False, "busy" if held else "not_due")
    started = clock.now()
    rows = await raw(
        "INSERT INTO job_run (job, holder, started_at, status, result, error) VALUES ({}, {}, {}, 'running', '', '') RETURNING id",
        name, holder, started,
    )
    run_id = rows[0]["id"]
    senders = getattr(state, "sms_senders", None) if state is not None else None
    if senders is None:
        from portal.notify.senders import configured_senders

        senders = configured_senders(registry, registry.settings)
    ctx = JobContext(name=name, plugin=plugin, registry=registry, settings=registry.settings, holder=holder,
                     now=started, sms_senders=senders, app_state=state)
    renewer = asyncio.get_running_loop().create_task(_renew(name, holder, job), name=f"lease-{name}")
    status, result, error = "ok", "", ""
    try:
        result = _describe(await _call(job, ctx))
    except asyncio.CancelledError:
        status, error = "error", "cancelled (shutdown)"
        raise
    except Exception as exc:  # noqa: BLE001 - a failing job is recorded and retried at its next interval
        status, error = "error", f"{type(exc).__name__}: {exc}"
        log.exception("job %s failed", name)
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        try:
            await asyncio.shield(_finish(name, holder, run_id, status, result, error))
        except Exception:  # noqa: BLE001 - the lease then simply runs out
            log.exception("job %s: could not record the end of the run", name)
    return RunOutcome(name, True, status, result, error)


async def job_rows(registry: Any) -> list[dict]:
    """Every registered job with its lease row (for ``portal jobs list`` and the staff page)."""
    leases = {row["name"]: dict(row) for row in await raw("SELECT * FROM job_lease")}
    now = clock.now()
    out = []
    for name, (plugin, job) in sorted(registry.jobs.items()):
        lease = leases.get(name) or {}
        until = _aware(lease.get("lease_until"))
        out.append({
            "name": name,
            "plugin": plugin,
            "interval": job.interval_seconds,
            "last_started_at": lease.get("last_started_at"),
            "last_finished_at": lease.get("last_finished_at"),
            "last_result": lease.get("last_result", ""),
            "last_error": lease.get("last_error", ""),
            "runs": lease.get("runs", 0),
            "failures": lease.get("failures", 0),
            "holder": lease.get("holder", "") if until is not None and until > now else "",
            "running": until is not None and until > now,
        })
    return out


# ----------------------------------------------------------------- the in-app runner


class Scheduler:
    """Runs every registered job on its interval inside the app process (one task per app).

    Started by the app's start-up when ``PORTAL_JOBS`` is on, stopped at shutdown before the
    connection pool closes: a running job gets ``timeout`` seconds to finish, then is cancelled
    (its lease is cleared by ``run_job``, or runs out if even that fails).
    """

    def __init__(self, registry: Any, state: Any = None, tick: float | None = None):
        self.registry = registry
        self.state = state
        self.tick = tick or TICK_SECONDS
        self.holder = process_holder()
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        if self._task is None and self.registry.jobs:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="scheduler")

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            for name in list(self.registry.jobs):
                if self._stopping.is_set():
                    break
                try:
                    await run_job(self.registry, name, holder=self.holder, state=self.state)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the database may be briefly unreachable; try at the next tick
                    log.exception("scheduler: job %s could not be started", name)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.tick)

    async def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=timeout)
        except asyncio.TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        except Exception:  # noqa: BLE001
            log.exception("scheduler ended with an error")

