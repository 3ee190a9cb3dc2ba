from litestar import Request, Response, get
from litestar.params import FromPath

from portal.plugin_api import hookimpl

SECRET = "secret-sql SELECT * FROM staff_user"


@get("/")
async def boom(request: Request) -> Response:
    raise RuntimeError(SECRET)


@get("/c/{center_code:str}")
async def public_boom(request: Request, center_code: FromPath[str]) -> Response:
    raise RuntimeError(SECRET)


@hookimpl
def register_routes(settings):
    return [boom, public_boom]
