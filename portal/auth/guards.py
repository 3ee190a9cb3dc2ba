"""Route guards. Metadata lives on handlers: ``opt={"permission": "centers.manage"}``.

Out of scope is 404 (checked where the object is loaded, see portal/centers/scope.py);
in scope but without the permission is 403.
"""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from portal.web.errors import SignInRequired

__all__ = ["module_guard", "staff_guard"]


def staff_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    user = connection.scope.get("user")
    if user is None or not user.signed_in:
        raise SignInRequired(expired=connection.scope.get("auth") == "expired")
    permission = handler.opt.get("permission")
    if permission and not user.can(permission):
        raise PermissionDeniedException("missing permission")


async def module_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """A module's pages exist only where the module is enabled: elsewhere they are 404.

    Public pages name their center in the path (``center_code``); staff pages use the
    signed-in member's center.
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
    if module not in user.modules:
        raise NotFoundException()
    permission = handler.opt.get("permission")
    if permission and not user.can(permission):
        raise PermissionDeniedException("missing permission")
