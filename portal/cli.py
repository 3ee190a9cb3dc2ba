"""The ``portal`` command line: database, demo data, users, modules, matters, audit, jobs. Plugins add commands
through the ``register_commands`` hook."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import click

from portal.audit.chain import Actor, AuditTrail
from portal.crypto import audit_key
from portal.db import bind_engine, make_engine
from portal.settings import Settings, SettingsError

__all__ = ["main", "cli"]


def _settings() -> Settings:
    settings = Settings.from_env()
    try:
        settings.check()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    return settings


def _trail(settings: Settings) -> AuditTrail:
    return AuditTrail(audit_key(settings), Actor(name=f"cli:{getpass.getuser()}"[:64], roles="cli"))


def with_db(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Run an async command against the configured database (engine bound, no pool needed)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings = _settings()
        bind_engine(make_engine(settings))
        return asyncio.run(fn(settings, *args, **kwargs))

    return wrapper


@click.group()
def cli() -> None:
    """吹哨报到综治服务平台 command line."""


# ------------------------------------------------------------------------------ db


@cli.group()
def db() -> None:
    """Database schema."""


async def migrate(quiet: bool = False) -> None:
    import contextlib
    import io

    from piccolo.apps.migrations.commands.forwards import run_forwards

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
        result = await run_forwards("all")
    if not result.success:
        raise click.ClickException(f"migration failed: {result.message}\n{sink.getvalue()}")
    from portal.db import ensure_change_signals

    await ensure_change_signals()


@db.command("migrate")
@with_db
async def db_migrate(settings: Settings) -> None:
    """Apply every pending migration (core and all installed plugins)."""
    await migrate()
    click.echo("database is up to date")


# ---------------------------------------------------------------------------- demo


@cli.group()
def demo() -> None:
    """Demo data (甘州区)."""


@demo.command("load")
@with_db
async def demo_load(settings: Settings) -> None:
    """Load the demo centers, departments and accounts (idempotent)."""
    if settings.production:
        raise click.ClickException("demo data is refused in production")
    from portal.demo import DEMO_PASSWORD, load_demo

    from portal.matters.demo import load_demo_matters

    created = await load_demo(_trail(settings))
    matters = await load_demo_matters(_trail(settings))
    click.echo(
        f"demo data ready: {created['centers']} centers, {created['departments']} departments, "
        f"{created['users']} accounts, {matters} matters created (password for every demo account: {DEMO_PASSWORD})"
    )


@demo.command("remove")
@with_db
async def demo_remove(settings: Settings) -> None:
    """Take the demo accounts out of service before going into production.

    Accounts without records are deleted; those that made records are deactivated (no password,
    no roles) so that the records keep their author.
    """
    from portal.demo import remove_demo

    deleted, deactivated = await remove_demo(_trail(settings))
    click.echo(f"{deleted} demo accounts deleted, {deactivated} deactivated (they made records that keep their name)")


# ---------------------------------------------------------------------------- users


@cli.group()
def user() -> None:
    """Staff accounts."""


@user.command("create")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True, help="The person's name as shown in the portal.")
@click.option("--center", "center_code", required=True, help="Code of the center the person works at.")
@click.option("--role", "roles", multiple=True, required=True, help="Repeat for several roles.")
@click.option("--department", "department_code", default=None, help="Department code (department officers).")
@with_db
async def user_create(settings: Settings, username, display_name, center_code, roles, department_code) -> None:
    """Create a staff account; prints a one-time temporary password."""
    from portal.auth.roles import ROLES
    from portal.staff.service import StaffInput, create_staff
    from portal.tables import Center, Department

    center = await Center.select(Center.id).where(Center.code == center_code).first()
    if center is None:
        raise click.ClickException(f"no center with code {center_code}")
    department = None
    if department_code:
        row = await Department.select(Department.id).where(Department.code == department_code).first()
        if row is None:
            raise click.ClickException(f"no department with code {department_code}")
        department = row["id"]
    data = StaffInput(username=username.lower(), display_name=display_name, center=center["id"], department=department, roles=list(roles))
    errors = await data.validate({center["id"]}, {department} if department else set(), ROLES, new=True)
    if errors:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in errors.items()))
    _user_id, password = await create_staff(_trail(settings), data)
    click.echo(f"account {username} created; temporary password (shown once): {password}")


# -------------------------------------------------------------------------- modules


@cli.group()
def modules() -> None:
    """Optional service modules per center."""


def _registry(settings: Settings):
    from portal.modules import PluginRegistry, make_plugin_manager

    return PluginRegistry(make_plugin_manager(settings), settings)


@modules.command("list")
@click.option("--center", "center_code", default=None, help="Show the state at one center.")
@with_db
async def modules_list(settings: Settings, center_code: str | None) -> None:
    """List installed modules (and where they are allowed and enabled)."""
    from portal.tables import Center, CenterModule

    registry = _registry(settings)
    if not registry.modules:
        click.echo("no optional modules are installed")
        return
    query = CenterModule.select(CenterModule.module, CenterModule.allowed, CenterModule.enabled, CenterModule.center.code.as_alias("code"))
    if center_code:
        if not await Center.exists().where(Center.code == center_code):
            raise click.ClickException(f"no center with code {center_code}")
        query = query.where(CenterModule.center.code == center_code)
    states: dict[str, list[str]] = {}
    for row in await query:
        if row["allowed"]:
            states.setdefault(row["module"], []).append(f"{row['code']}({'on' if row['enabled'] else 'allowed'})")
    for name, module in sorted(registry.modules.items()):
        where = ", ".join(sorted(states.get(name, []))) or "not allowed anywhere"
        click.echo(f"{name}\t{module.info.label}\t{module.info.version}\t{where}")


async def _switch(settings: Settings, module: str, center_code: str, enable: bool) -> None:
    from portal.centers.modules import set_allowed, set_enabled
    from portal.tables import Center

    registry = _registry(settings)
    if module not in registry.modules:
        raise click.ClickException(f"no installed module named {module}")
    center = await Center.select(Center.id).where(Center.code == center_code).first()
    if center is None:
        raise click.ClickException(f"no center with code {center_code}")
    trail = _trail(settings)
    if enable:
        await set_allowed(trail, registry, center["id"], module, True)
        await set_enabled(trail, registry, center["id"], module, True)
    else:
        from portal.centers.modules import ModuleNotAllowed

        try:
            await set_enabled(trail, registry, center["id"], module, False)
        except ModuleNotAllowed:
            pass
    click.echo(f"{module} {'enabled' if enable else 'disabled'} at {center_code}")


@modules.command("enable")
@click.argument("module")
@click.option("--center", "center_code", required=True)
@with_db
async def modules_enable(settings: Settings, module: str, center_code: str) -> None:
    """Allow and switch on MODULE at a center."""
    await _switch(settings, module, center_code, True)


@modules.command("disable")
@click.argument("module")
@click.option("--center", "center_code", required=True)
@with_db
async def modules_disable(settings: Settings, module: str, center_code: str) -> None:
    """Switch off MODULE at a center (its records are kept)."""
    await _switch(settings, module, center_code, False)


# ---------------------------------------------------------------------------- matters


@cli.group()
def matters() -> None:
    """Matters (事项)."""


MAX_ERROR_LINES = 200


@matters.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--center", "center_code", required=True, help="Code of the center whose ledger it is.")
@with_db
async def matters_import(settings: Settings, file: str, center_code: str) -> None:
    """Import a center's ledger (台账, .xlsx or .csv): every row is checked first, then all are imported or none."""
    from portal.matters import ledger

    context = click.get_current_context()
    center = await ledger.find_center(center_code)
    if center is None or not center["active"]:
        problem = f"没有代码为 {center_code} 的中心" if center is None else f"{center['name']}已停用"
        raise click.BadParameter(problem, ctx=context, param_hint="'--center'")
    try:
        table = ledger.read_ledger(file)
    except ledger.LedgerFileError as exc:
        raise click.BadParameter(str(exc), ctx=context, param_hint="'FILE'") from exc
    stderr = sys.stderr
    with click.progressbar(length=len(table.rows), label="校验台账", file=stderr) as bar:
        checked = ledger.check_ledger(table, progress=bar.update)
    if checked.errors:
        for error in checked.errors[:MAX_ERROR_LINES]:
            click.echo(str(error), err=True)
        if len(checked.errors) > MAX_ERROR_LINES:
            click.echo(f"还有 {len(checked.errors) - MAX_ERROR_LINES} 处错误", err=True)
        click.echo(f"台账共有 {len(checked.errors)} 处错误，没有导入任何事项。", err=True)
        sys.exit(1)
    try:
        with click.progressbar(length=len(checked.rows), label="导入事项", file=stderr) as bar:
            count = await ledger.import_ledger(_trail(settings), center, checked, progress=bar.update)
    except Exception as exc:
        raise click.ClickException(f"导入失败，没有写入任何事项：{exc}") from exc
    click.echo(f"已导入 {count} 件事项到 {center['name']}")


# ---------------------------------------------------------------------------- audit


@cli.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
@with_db
async def audit_verify(settings: Settings) -> None:
    """Recompute the hash chain; exit 1 and name the rows if anything was altered or removed."""
    from portal.audit.chain import verify

    report = await verify(audit_key(settings))
    if report.ok:
        click.echo(f"audit chain intact: {report.checked} rows verified")
        return
    for problem in report.problems:
        click.echo(problem, err=True)
    click.echo(f"audit chain BROKEN: {len(report.problems)} problem(s) in {report.checked} rows", err=True)
    sys.exit(1)


# ---------------------------------------------------------------------------- jobs


@cli.group()
def jobs() -> None:
    """Scheduled jobs (the in-app scheduler runs them unless PORTAL_JOBS=off)."""


@jobs.command("list")
@with_db
async def jobs_list(settings: Settings) -> None:
    """Every job: name, plugin, interval, last run, result and the process holding it now."""
    from portal.clock import local
    from portal.jobs.runner import job_rows

    for row in await job_rows(_registry(settings)):
        started = local(row["last_started_at"]) if row["last_started_at"] else None
        result = f"error: {row['last_error']}" if row["last_error"] else (row["last_result"] or "-")
        click.echo("\t".join([
            row["name"], row["plugin"], f"{row['interval']}s",
            started.strftime("%Y-%m-%d %H:%M:%S") if started else "never",
            result, row["holder"] or "-",
        ]))


def _parse_now(value: str | None):
    if value is None:
        return None
    import datetime as dt

    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("an ISO date and time, e.g. 2026-11-27T15:30+08:00", param_hint="'--now'") from None
    from portal.clock import TZ_CN

    # Without an offset the time is China time, as everywhere in the portal's interface.
    return moment if moment.tzinfo else moment.replace(tzinfo=TZ_CN)


@jobs.command("run")
@click.argument("name")
@click.option("--now", "now", default=None, metavar="ISO-DATETIME",
              help="Run as if it were this moment (tests and demos; refused in production).")
@with_db
async def jobs_run(settings: Settings, name: str, now: str | None) -> None:
    """Run job NAME once now (exit 1 if it failed, 75 if another process holds it)."""
    from portal import clock
    from portal.jobs.runner import run_job

    moment = _parse_now(now)
    if moment is not None:
        if settings.production:
            raise click.ClickException("--now is refused in production: jobs run on the real clock there")
        # Travel this process's clock: the job (ctx.now), its messages and its lease see that moment.
        clock.travel(seconds=(moment - clock.now()).total_seconds())
    registry = _registry(settings)
    if name not in registry.jobs:
        raise click.ClickException(f"no job named {name} (see: portal jobs list)")
    outcome = await run_job(registry, name, force=True)
    if not outcome.ran:
        click.echo(f"{name}: another process is running it now; nothing done", err=True)
        sys.exit(75)
    if outcome.status == "error":
        click.echo(f"{name} failed: {outcome.error}", err=True)
        sys.exit(1)
    click.echo(f"{name}: {outcome.result}")


def _register_plugin_commands() -> None:
    try:
        settings = Settings.from_env()
        from portal.modules import PluginRegistry, make_plugin_manager

        registry = PluginRegistry(make_plugin_manager(settings), settings)
        registry.call_each("register_commands", cli=cli)
    except Exception as exc:  # a broken add-on must not take the core commands down
        click.echo(f"warning: plugin commands not loaded: {exc}", err=True)


def main() -> None:
    _register_plugin_commands()
    cli()
