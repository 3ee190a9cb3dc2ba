"""The application factory. No globals: every call builds a fresh app (tests build many)."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import pluggy
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, Undefined
from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.config.response_cache import ResponseCacheConfig
from litestar.datastructures import State
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router

from portal.auth.guards import module_guard
from portal.auth.middleware import SessionMiddleware
from portal.citizens.guards import EXCEPTION_HANDLERS as CITIZEN_EXCEPTION_HANDLERS
from portal.crypto import audit_key
from portal.db import bind_engine, make_engine, start_engine, stop_engine
from portal.i18n import translations
from portal.memo import Memo
from portal.modules import PluginRegistry, await_me_maybe, make_plugin_manager
from portal.notify.live import LiveHub
from portal.notify.outbox import stop_delivery
from portal.notify.senders import configured_senders
from portal.settings import PROJECT_ROOT, Settings, SettingsError
from portal.web.errors import EXCEPTION_HANDLERS
from portal.web.inflight import Requests, track_requests
from portal.web.security import make_security_headers

__all__ = ["create_app"]

log = logging.getLogger("portal")

TEMPLATES = PROJECT_ROOT / "templates"
STATIC = PROJECT_ROOT / "static"


def _jinja_environment(settings: Settings, registry: PluginRegistry) -> Environment:
    template_dirs: list[Path] = [TEMPLATES]
    # Plugin templates live in <plugin>/templates/<plugin>/…, so they share one namespace safely.
    template_dirs += [m.templates_dir for m in registry.modules.values() if m.templates_dir.is_dir()]
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader([str(d) for d in template_dirs])]),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined if settings.debug else Undefined,
        auto_reload=settings.debug,
    )
    env.install_gettext_translations(translations(), newstyle=True)  # type: ignore[attr-defined]
    registry.call_each("prepare_jinja2_environment", env=env, settings=settings)
    return env


def _module_routers(registry: PluginRegistry, settings: Settings) -> list[Router]:
    routers = []
    for plugin, handlers in registry.call_each("register_routes", settings=settings):
        if plugin not in registry.modules:
            routers.extend(handlers)  # core's own routes
            continue
        routers.append(
            Router(
                path=f"/m/{plugin}",
                route_handlers=list(handlers),
                guards=[module_guard],
                opt={"module": plugin},
            )
        )
    return routers


def _static_routers(registry: PluginRegistry) -> list:
    routers = [
        create_static_files_router(
            path="/static",
            directories=[STATIC],
            name="static",
            opt={"skip_auth": True},
            cache_control=None,
            include_in_schema=False,
        )
    ]
    for module in registry.modules.values():
        if module.static_dir.is_dir():
            routers.append(
                create_static_files_router(
                    path=f"/static/m/{module.name}",
                    directories=[module.static_dir],
                    name=f"{module.name}_static",
                    opt={"skip_auth": True},
                    include_in_schema=False,
                )
            )
    return routers


def create_app(settings: Settings | None = None, pm: pluggy.PluginManager | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    settings.check()
    pm = pm or make_plugin_manager(settings)
    registry = PluginRegistry(pm, settings)
    sms_senders = configured_senders(registry, settings)  # production without a sender stops here
    engine = make_engine(settings)
    bind_engine(engine)

    from portal.audit.routes import ROUTES as AUDIT_ROUTES
    from portal.auth.routes import ROUTES as AUTH_ROUTES
    from portal.centers.routes import ROUTES as CENTER_ROUTES
    from portal.citizens.routes import ROUTES as CITIZEN_ROUTES
    from portal.jobs.routes import ROUTES as JOB_ROUTES
    from portal.matters.admin_routes import ROUTES as MATTER_ADMIN_ROUTES
    from portal.matters.routes import ROUTES as MATTER_ROUTES
    from portal.notify.routes import ROUTES as NOTIFY_ROUTES
    from portal.staff.routes import ROUTES as STAFF_ROUTES
    from portal.web.shell import ROUTES as SHELL_ROUTES

    async def on_startup(app: Litestar) -> None:
        bind_engine(engine)
        await start_engine(engine, settings)
        if settings.production:
            from portal.demo import demo_accounts_present

            if await demo_accounts_present():
                await stop_engine(engine)
                raise SettingsError("production refuses to start: demo accounts are present (run: portal demo remove)")
        started = registry.call_each("startup", app=app)
        for index, (_plugin, result) in enumerate(started):
            try:
                await await_me_maybe(result)
            except BaseException:
                for _later, pending in started[index + 1:]:
                    if inspect.iscoroutine(pending):
                        pending.close()  # never awaited now: close it rather than leave a warning
                raise
        if settings.jobs_enabled:
            from portal.jobs.runner import Scheduler

            app.state.scheduler = Scheduler(registry, app.state)
            app.state.scheduler.start()
        # Last, so a start-up that fails leaves the server's signal handlers as they were.
        app.state.live.watch_signals()  # open live streams end when the server is told to stop

    async def on_shutdown(app: Litestar) -> None:
        # Live streams never finish by themselves: end them first, or the drain waits its full time.
        await app.state.live.stop()
        await app.state.requests.drain()  # the running requests answer before the pool closes
        scheduler = app.state.get("scheduler")
        if scheduler is not None:
            await scheduler.stop()  # a running job ends (or is cancelled) while the pool is open
        await stop_delivery(app)  # outbox tasks finish (or are cancelled) while the pool is open
        await stop_engine(engine)

    state = State(
        {
            "settings": settings,
            "registry": registry,
            "engine": engine,
            "audit_key": audit_key(settings),
            "sms_senders": sms_senders,
            "delivery_tasks": set(),
            "requests": Requests(),
            "live": LiveHub(),
            "memo": Memo(engine),
        }
    )
    app = Litestar(
        route_handlers=[
            *SHELL_ROUTES,
            *AUTH_ROUTES,
            *CENTER_ROUTES,
            *STAFF_ROUTES,
            *AUDIT_ROUTES,
            *CITIZEN_ROUTES,
            *MATTER_ROUTES,
            *MATTER_ADMIN_ROUTES,
            *NOTIFY_ROUTES,
            *JOB_ROUTES,
            *_module_routers(registry, settings),
            *_static_routers(registry),
        ],
        state=state,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        middleware=[track_requests, SessionMiddleware()],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name=settings.csrf_cookie,
            cookie_secure=settings.cookie_secure,
            cookie_httponly=True,  # the token travels in the page (form field, meta tag), not read from the cookie
            cookie_samesite="lax",
            header_name="x-csrftoken",
        ),
        exception_handlers={**EXCEPTION_HANDLERS, **CITIZEN_EXCEPTION_HANDLERS},
        before_send=[make_security_headers(hsts=settings.cookie_secure)],
        openapi_config=None if settings.production else OpenAPIConfig(title="Whistle portal", version="0.1.0"),
        logging_config=LoggingConfig(
            root={"level": "INFO", "handlers": ["queue_listener"]},
            log_exceptions="never",  # our 500 handler logs once, with the request id
        ),
        response_cache_config=ResponseCacheConfig(),
        debug=False,  # never render tracebacks to users, whatever PORTAL_DEBUG says
    )
    app.state.jinja = _jinja_environment(settings, registry)
    return app
