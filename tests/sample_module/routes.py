from litestar.params import FromPath
from litestar import Request, Response, get

from portal.web.render import render


@get("/", opt={"permission": "sample_module.use"})
async def index(request: Request) -> Response:
    return await render(request, "sample_module/index.html", {"title": "示例服务"})


@get("/c/{center_code:str}")
async def public_page(request: Request, center_code: FromPath[str]) -> Response:
    return await render(request, "sample_module/index.html", {"title": "示例便民服务"})


ROUTES = [index, public_page]
