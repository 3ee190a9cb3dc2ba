"""Which bookable services a center offers: registered by plugins, offered where the plugin is enabled."""

from __future__ import annotations

from litestar.exceptions import NotFoundException

from portal.centers.modules import enabled_modules
from portal.modules import PluginRegistry
from portal.plugin_api import Service

__all__ = ["offered_at", "plugin_of", "service_at", "service_by_key"]


def plugin_of(registry: PluginRegistry, key: str) -> str | None:
    entry = registry.services.get(key)
    return entry[0] if entry else None


def service_by_key(registry: PluginRegistry, key: str) -> Service | None:
    entry = registry.services.get(key)
    return entry[1] if entry else None


def _offered(registry: PluginRegistry, plugin: str, enabled: frozenset[str]) -> bool:
    # Core features (not switchable modules) are offered everywhere.
    return plugin not in registry.modules or plugin in enabled


async def offered_at(registry: PluginRegistry, center_id: int) -> list[Service]:
    enabled = await enabled_modules(center_id)
    services = [svc for plugin, svc in registry.services.values() if _offered(registry, plugin, enabled)]
    return sorted(services, key=lambda s: (s.label, s.key))


async def service_at(registry: PluginRegistry, center_id: int, key: str) -> Service:
    """The service if ``center_id`` offers it, else 404 (a disabled module's service does not exist there)."""
    entry = registry.services.get(key)
    if entry is None or not _offered(registry, entry[0], await enabled_modules(center_id)):
        raise NotFoundException()
    return entry[1]
