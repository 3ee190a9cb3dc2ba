"""The scheduler: the database lease, run records, the job's context, the in-app runner, the CLI
and the staff page."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from click.testing import CliRunner

from portal import clock
from portal.app import create_app
from portal.cli import cli
from portal.jobs.runner import JobContext, Scheduler, claim_once, job_rows, run_job
from portal.jobs.tables import JobClaim, JobLease, JobRun
from portal.db import write_transaction
from portal.plugin_api import Job
from portal.tables import Center, CenterModule
from tests.conftest import html_text
from tests.sample_module import hooks as sample_hooks


def add_job(app, name: str, run, interval: int = 60, lease: int = 300, plugin: str = "tests") -> None:
    app.state.registry.jobs[name] = (plugin, Job(name=name, interval_seconds=interval, run=run, lease_seconds=lease))


async def test_a_held_lease_keeps_every_other_process_out(app):
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def slow(ctx):
        runs.append(ctx.holder)
        started.set()
        await release.wait()
        return {"done": 1}

    add_job(app, "test.slow", slow)
    registry = app.state.registry
    first = asyncio.create_task(run_job(registry, "test.slow", holder="process-a"))
    await started.wait()
    # Another process (scheduled or forced) finds the job held and runs nothing.
    for force in (False, True):
        outcome = await run_job(registry, "test.slow", holder="process-b", force=force)
        assert not outcome.ran and outcome.status == "busy"
    rows = {r["name"]: r for r in await job_rows(registry)}
    assert rows["test.slow"]["running"] and rows["test.slow"]["holder"] == "process-a"
    release.set()
    outcome = await first
    assert outcome.ran and outcome.status == "ok" and outcome.result == "done=1"
    lease = await JobLease.select().where(JobLease.name == "test.slow").first()
    assert lease["lease_until"] is None and lease["runs"] == 1 and lease["last_result"] == "done=1"
    # Scheduled: not again before the interval has passed, by anyone; forced: yes.
    assert (await run_job(registry, "test.slow", holder="process-b")).status == "not_due"
    clock.travel(seconds=61)
    release.set()
    assert (await run_job(registry, "test.slow", holder="process-b")).ran
    assert runs == ["process-a", "process-b"]


async def test_a_crashed_holders_lease_runs_out(app):
    calls = []

    async def job(ctx):
        calls.append(1)

    add_job(app, "test.crash", job, lease=120)
    registry = app.state.registry
    async with write_transaction():
        await JobLease.insert(JobLease(name="test.crash", holder="dead-process", lease_until=clock.now() + dt.timedelta(seconds=120),
                                       last_started_at=clock.now(), last_finished_at=None))
    assert (await run_job(registry, "test.crash", force=True)).status == "busy"
    clock.travel(seconds=121)
    assert (await run_job(registry, "test.crash", force=True)).ran and calls == [1]


async def test_a_long_job_renews_its_lease(app):
    async def long(ctx):
        await asyncio.sleep(4.5)

    add_job(app, "test.long", long, lease=10)
    registry = app.state.registry
    task = asyncio.create_task(run_job(registry, "test.long", holder="a"))
    await asyncio.sleep(0.2)
    first = (await JobLease.select(JobLease.lease_until).where(JobLease.name == "test.long").first())["lease_until"]
    await asyncio.sleep(4)
    renewed = (await JobLease.select(JobLease.lease_until).where(JobLease.name == "test.long").first())["lease_until"]
    assert renewed > first
    await task


async def test_a_failing_job_is_recorded_and_runs_again_later(app, client):
    async def broken(ctx):
        raise RuntimeError("gateway down")

    add_job(app, "test.broken", broken)
    outcome = await run_job(app.state.registry, "test.broken")
    assert outcome.ran and outcome.status == "error" and "gateway down" in outcome.error
    lease = await JobLease.select().where(JobLease.name == "test.broken").first()
    assert lease["failures"] == 1 and lease["lease_until"] is None and "RuntimeError: gateway down" in lease["last_error"]
    run = await JobRun.select().where(JobRun.job == "test.broken").first()
    assert run["status"] == "error" and run["finished_at"] is not None
    await client.login("gzq_admin")
    page = html_text(await client.get("/admin/jobs"))
    assert "test.broken" in page and "RuntimeError: gateway down" in page


async def test_context_lists_the_centers_where_the_module_is_enabled(app):
    seen: dict[str, list[str]] = {}

    async def module_job(ctx: JobContext):
        seen[ctx.plugin] = [c.code for c in await ctx.enabled_centers()]

    add_job(app, "sample_module.look", module_job, plugin="sample_module")
    add_job(app, "core.look", module_job, plugin="portal.core_hooks")
    dmz = await Center.select(Center.id).where(Center.code == "GZQ-DMZ").first()
    async with write_transaction():
        await CenterModule.insert(CenterModule(center=dmz["id"], module="sample_module", allowed=True, enabled=True))
        dzz = await Center.select(Center.id).where(Center.code == "GZQ-DZZ").first()
        await CenterModule.insert(CenterModule(center=dzz["id"], module="sample_module", allowed=True, enabled=False))
    await run_job(app.state.registry, "sample_module.look")
    await run_job(app.state.registry, "core.look")
    assert seen["sample_module"] == ["GZQ-DMZ"]
    assert len(seen["portal.core_hooks"]) == await Center.count().where(Center.active == True)  # noqa: E712


async def test_claim_once_is_once(app):
    async with write_transaction():
        assert await claim_once("test.remind", "booking:1:day_before")
        assert not await claim_once("test.remind", "booking:1:day_before")
        assert await claim_once("test.other", "booking:1:day_before")
    assert await JobClaim.count() == 2


async def test_jobs_without_parameters_are_called_bare(app):
    sample_hooks.CALLS.clear()
    outcome = await run_job(app.state.registry, "sample_module.tick")
    assert outcome.ran and ("job", "tick") in sample_hooks.CALLS


async def test_the_in_app_scheduler_runs_jobs_and_stops_before_the_pool_closes(settings):
    application = create_app(settings.replace(jobs_enabled=True))
    ran = asyncio.Event()

    async def quick(ctx):
        ran.set()

    application.state.registry.jobs["test.quick"] = ("tests", Job("test.quick", 3600, quick))
    async with application.lifespan():
        scheduler = application.state.scheduler
        assert isinstance(scheduler, Scheduler)
        await asyncio.wait_for(ran.wait(), timeout=10)
        names = {r["job"] for r in await JobRun.select(JobRun.job)}
        assert {"test.quick", "notify.retry", "matters.deadline_warnings"} <= names
    assert scheduler._task is None  # stopped at shutdown


async def test_off_means_no_scheduler(app):
    assert app.state.get("scheduler") is None  # PORTAL_JOBS=off (the tests' default)


def _cli(settings, *args):
    env = {"PORTAL_DATABASE_URL": settings.database_url, "PORTAL_SECRET_KEY": settings.secret_key,
           "PORTAL_PLUGINS": "tests.sample_module", "PORTAL_LOAD_ENTRYPOINTS": "0"}
    return CliRunner().invoke(cli, list(args), env=env)


def test_cli_lists_and_runs_jobs(settings):
    listed = _cli(settings, "jobs", "list")
    assert listed.exit_code == 0, listed.output
    lines = {line.split("\t")[0]: line.split("\t") for line in listed.output.strip().splitlines()}
    assert lines["matters.deadline_warnings"][1:4] == ["portal.core_hooks", "300s", "never"]
    assert lines["sample_module.tick"][1] == "sample_module"
    ran = _cli(settings, "jobs", "run", "matters.deadline_warnings")
    assert ran.exit_code == 0, ran.output
    assert re.search(r"matters.deadline_warnings: due_soon=0, overdue=0, messages=0", ran.output)
    listed = _cli(settings, "jobs", "list")
    line = [x for x in listed.output.splitlines() if x.startswith("matters.deadline_warnings")][0]
    assert "never" not in line and "due_soon=0" in line
    missing = _cli(settings, "jobs", "run", "no.such.job")
    assert missing.exit_code != 0 and "no job named" in missing.output


async def test_jobs_page_for_admins_and_run_now_for_system_admins(app, client_factory):
    admin = await client_factory()
    await admin.login("gzq_admin")
    page = await admin.get("/admin/jobs")
    assert page.status_code == 200
    text = html_text(page)
    assert "一站式受理期限提醒" in text and "matters.deadline_warnings" in text and "5 分钟" in text
    assert 'action="/admin/jobs/run"' not in page.text
    assert (await admin.submit("/admin/jobs/run", {"name": "notify.retry"})).status_code == 403
    sysadmin = await client_factory()
    await sysadmin.login("sysadmin")
    response = await sysadmin.submit("/admin/jobs/run", {"name": "notify.retry"})
    assert response.status_code == 303
    page = html_text(await sysadmin.get("/admin/jobs"))
    assert "claimed=0" in page
    assert (await sysadmin.submit("/admin/jobs/run", {"name": "nope"})).status_code == 404
    window = await client_factory()
    await window.login("gzq_window")
    assert (await window.get("/admin/jobs")).status_code == 403
