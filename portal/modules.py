"""The plugin manager: which plugins are installed, and dispatch to those enabled for a center.

A plugin is a package with ``PLUGIN_INFO`` in its ``__init__`` and ``@hookimpl`` functions in its
``hooks`` module. Core's own hook implementations (``portal.core_hooks``) are always on; every
other plugin is a *module* that the district allows and each center enables (pretix's "installed
vs enabled", done with pluggy's ``subset_hook_caller``).

The manager is built per app (never module-global) so tests can build apps with other plugins.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from portal import hookspecs
from portal.plugin_api import Job, MatterAction, Permission, PluginInfo, Service
from portal.settings import Settings

__all__ = [
    "BUNDLED_PLUGINS",
    "CORE_PLUGINS",
    "InstalledModule",
    "PluginRegistry",
    "await_me_maybe",
    "make_plugin_manager",
    "piccolo_app_paths",
]

# Core features written against the same hooks; they cannot be switched off.
CORE_PLUGINS: tuple[str, ...] = ("portal.core_hooks", "portal.bookings.hooks")
# The product's optional modules (checkin, legal_aid, counseling, video_petition) are added here
# as each one lands; deployments add their own through the "portal" entry-point group.
BUNDLED_PLUGINS: tuple[str, ...] = ("plugins.checkin", "plugins.legal_aid", "plugins.counseling", "plugins.video_petition")


async def await_me_maybe(value: Any) -> Any:
    """Resolve a hook result: call it if callable, await it if awaitable, else return it."""
    if callable(value):
        value = value()
    if inspect.isawaitable(value):
        value = await value
    return value


@dataclass(frozen=True)
class InstalledModule:
    info: PluginInfo
    package: str
    path: Path

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def templates_dir(self) -> Path:
        return self.path / "templates"

    @property
    def static_dir(self) -> Path:
        return self.path / "static"


class PluginError(RuntimeError):
    pass


def _load_module_package(package: str) -> tuple[InstalledModule, ModuleType]:
    pkg = importlib.import_module(package)
    info = getattr(pkg, "PLUGIN_INFO", None)
    if not isinstance(info, PluginInfo):
        raise PluginError(f"plugin package {package} has no PLUGIN_INFO = PluginInfo(...)")
    if info.name != package.rsplit(".", 1)[-1]:
        raise PluginError(
            f"plugin {package}: PLUGIN_INFO.name {info.name!r} must equal the package name"
        )
    hooks = importlib.import_module(f"{package}.hooks")
    return InstalledModule(info=info, package=package, path=Path(pkg.__file__).parent), hooks


def make_plugin_manager(settings: Settings, extra: Iterable[str] = ()) -> pluggy.PluginManager:
    """Core hooks, bundled modules, ``PORTAL_PLUGINS``/``extra`` packages, then entry points."""
    pm = pluggy.PluginManager("portal")
    pm.add_hookspecs(hookspecs)
    pm.portal_modules = {}  # type: ignore[attr-defined]
    for name in CORE_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    packages = [*BUNDLED_PLUGINS, *settings.plugins, *extra]
    if settings.load_entrypoints:
        packages += [ep.value for ep in entry_points(group="portal")]
    for package in dict.fromkeys(packages):
        module, hooks = _load_module_package(package)
        if module.name in settings.blocked_plugins:
            continue
        if module.name in pm.portal_modules:  # type: ignore[attr-defined]
            raise PluginError(f"two plugins are named {module.name!r}")
        pm.register(hooks, name=module.name)
        pm.portal_modules[module.name] = module  # type: ignore[attr-defined]
    # A misspelt hook name is a start-up error, not a silently ignored function.
    pm.check_pending()
    return pm


def piccolo_app_paths(settings: Settings) -> list[str]:
    pm = make_plugin_manager(settings)
    paths = ["portal.piccolo_app"]
    for result in pm.hook.piccolo_apps():
        paths.extend(result or [])
    return paths


class PluginRegistry:
    """What the installed plugins registered at start-up, plus per-center dispatch."""

    def __init__(self, pm: pluggy.PluginManager, settings: Settings):
        self.pm = pm
        self.settings = settings
        self.modules: dict[str, InstalledModule] = dict(pm.portal_modules)  # type: ignore[attr-defined]
        self._subset_cache: dict[tuple[str, frozenset[str]], Any] = {}
        self.permissions: dict[str, Permission] = {}
        self._perm_cache: dict[frozenset[str], frozenset[str]] = {}
        for plugin, perms in self.call_each("register_permissions"):
            for perm in perms:
                if plugin in self.modules and not perm.name.startswith(f"{plugin}."):
                    raise PluginError(f"permission {perm.name!r} of {plugin} must start with '{plugin}.'")
                self.permissions[perm.name] = perm
        self.services: dict[str, tuple[str, Service]] = {}
        for plugin, services in self.call_each("register_services"):
            for service in services:
                self.services[service.key] = (plugin, service)
        self.jobs: dict[str, tuple[str, Job]] = {}
        for plugin, jobs in self.call_each("register_jobs"):
            for job in jobs:
                self.jobs[job.name] = (plugin, job)
        self.matter_actions: list[tuple[str, MatterAction]] = [
            (plugin, action) for plugin, actions in self.call_each("register_matter_actions") for action in actions
        ]

    def permissions_for(self, roles: frozenset[str]) -> frozenset[str]:
        cached = self._perm_cache.get(roles)
        if cached is None:
            cached = frozenset(name for name, perm in self.permissions.items() if perm.roles & roles)
            self._perm_cache[roles] = cached
        return cached

    # ----------------------------------------------------------------- startup

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a start-up hook on every installed plugin; return (plugin name, result) pairs."""
        results = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            args = {name: kwargs[name] for name in impl.argnames if name in kwargs}
            value = impl.function(**args)
            if value:
                results.append((impl.plugin_name, value))
        return results

    # ------------------------------------------------------------- per request

    def _subset(self, hook_name: str, enabled: frozenset[str]):
        key = (hook_name, enabled)
        caller = self._subset_cache.get(key)
        if caller is None:
            disabled = [
                self.pm.get_plugin(name) for name in self.modules if name not in enabled
            ]
            caller = self.pm.subset_hook_caller(hook_name, remove_plugins=disabled)
            self._subset_cache[key] = caller
        return caller

    async def collect(self, hook_name: str, enabled: frozenset[str], **kwargs: Any) -> list[Any]:
        """Call a per-request hook on core and the enabled modules; flatten the resolved lists.

        The modules' answers are resolved together: a dashboard card that waits on the database
        (a PostgreSQL round trip, a pooled SQLite read) overlaps the others' instead of queuing
        behind them. Every answer is awaited before the first error, if any, is raised.
        """
        outcomes = await asyncio.gather(
            *(await_me_maybe(result) for result in self._subset(hook_name, enabled)(**kwargs)),
            return_exceptions=True,
        )
        items: list[Any] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            if outcome:
                items.extend(outcome)
        return items

    def implemented(self, hook_name: str) -> bool:
        """Whether any installed plugin (or core) implements ``hook_name``: callers skip the work of
        preparing an event nobody listens to (the enabled-modules query of every matter change)."""
        return bool(getattr(self.pm.hook, hook_name).get_hookimpls())

    async def emit(self, hook_name: str, enabled: frozenset[str], **kwargs: Any) -> None:
        """Deliver an event to core and the enabled modules (inside the caller's transaction)."""
        for result in self._subset(hook_name, enabled)(**kwargs):
            await await_me_maybe(result)

    async def emit_to(self, plugin_name: str, hook_name: str, /, **kwargs: Any) -> None:
        """Deliver an event to one module only (module switched on/off)."""
        plugin = self.pm.get_plugin(plugin_name)
        others = [p for name, p in self.pm.list_name_plugin() if p is not plugin]
        caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
        for result in caller(**kwargs):
            await await_me_maybe(result)
