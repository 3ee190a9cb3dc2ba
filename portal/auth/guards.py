"""Route guards. Metadata lives on handlers: ``opt={"permission": "centers.manage"}``.

Out of scope is 404, and it is decided *before* the permission: a member who lacks the power
must not learn from a 403-versus-404 difference that a record of another center exists.
Path and query parameters named in ``portal.centers.scope.SCOPE_LOADERS`` (``center_id``,
``department_id``, ``staff_id``, ``parent``) are loaded through their scope check first; a plugin
adds its own with ``opt={"scope_loaders": {"whistle_id": whistle_in_scope}}``. Handlers still
load their object through the same check, so the guard is a second fence, not the only one.
"""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from portal.web.errors import SignInRequired

__all__ = ["module_guard", "staff_guard"]


async def check_scope(connection: ASGIConnection, handler: BaseRouteHandler, user) -> None:
    from portal.centers.scope import SCOPE_LOADERS

    loaders = {**SCOPE_LOADERS, **handler.opt.get("scope_loaders", {})}
    for source in (connection.path_params, connection.query_params):
        for name, loader in loaders.items():
            if name not in source:
                continue
            raw = source.get(name)
            try:
                ident = int(raw)
            except (TypeError, ValueError):
                raise NotFoundException() from None
            await loader(user, ident)


async def staff_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    user = connection.scope.get("user")
    if user is None or not user.signed_in:
        raise SignInRequired(expired=connection.scope.get("auth") == "expired")
    await check_scope(connection, handler, user)
    permission = handler.opt.get("permission")
    if permission and not user.can(permission):
        raise PermissionDeniedException("missing permission")


async def module_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """A module's pages exist only where the module is enabled: elsewhere they are 404.

    Public pages name their center in the path (``center_code``); staff pages use the
    signed-in member's center. A staff page about one record of another center (a department
    officer at the district answering a township's whistle) declares ``opt={"module_at":
    "record"}``: the member's own center is not checked, and the handler's scope loader (or the
    handler) must answer 404 unless the module is enabled at the *record's* center.
    ``opt={"module_at": "always"}`` is for read-only pages of records a module leaves behind, guarded
    by a permission: the legal-aid log stays readable to the audit viewer after the module is
    switched off at a center (scope and permission are still checked).
    """
    from portal.centers.modules import enabled_modules_for_code

    module = handler.opt["module"]
    code = connection.path_params.get("center_code")
    if code is not None:
        if module not in await enabled_modules_for_code(code):
            raise NotFoundException()
        return
    user = connection.scope.get("user")
    if user is None or not user.signed_in:
        raise SignInRequired(expired=connection.scope.get("auth") == "expired")
    if module not in user.modules and handler.opt.get("module_at") not in ("record", "always"):
        raise NotFoundException()
    await check_scope(connection, handler, user)
    permission = handler.opt.get("permission")
    if permission and not user.can(permission):
        raise PermissionDeniedException("missing permission")
