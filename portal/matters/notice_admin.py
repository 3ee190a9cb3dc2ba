"""A center's own wording of its notices (受理告知书…), with the built-in text as the default."""

from __future__ import annotations

from string import Template

from litestar import Request, Response, Router, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal import clock
from portal.auth.guards import staff_guard
from portal.db import write_transaction
from portal.i18n import _
from portal.matters.notices import DEFAULT_TEMPLATES, KINDS, PLACEHOLDERS
from portal.matters.tables import NoticeTemplate
from portal.web.forms import read_form
from portal.web.render import redirect, render
from portal.web.request import principal, trail

__all__ = ["ROUTES"]

MAX_LENGTH = 5000


def placeholder_errors(body: str) -> str | None:
    names = set()
    for match in Template.pattern.finditer(body):
        if match.group("invalid") is not None:
            return _("A $ sign must start a field name such as $petitioner. Write $$ for a plain $.")
        names.add(match.group("named") or match.group("braced") or "")
    unknown = sorted(n for n in names if n and n not in PLACEHOLDERS)
    if unknown:
        return _("Unknown field: %(names)s. Use only the fields listed on this page.", names="、".join("$" + n for n in unknown))
    return None


async def _own(center_id: int) -> dict[str, dict]:
    rows = await NoticeTemplate.select().where(NoticeTemplate.center == center_id)
    return {row["kind"]: row for row in rows}


@get("/admin/notice-templates", opt={"permission": "notices.templates"})
async def templates_list(request: Request) -> Response:
    own = await _own(principal(request).center_id)
    kinds = [(kind, title, kind in own) for kind, (title, _prefix) in KINDS.items()]
    return await render(request, "matters/notice_templates.html", {"title": _("Notice templates"), "kinds": kinds})


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise NotFoundException()
    return kind


@get("/admin/notice-templates/{kind:str}", opt={"permission": "notices.templates"})
async def template_edit(request: Request, kind: FromPath[str]) -> Response:
    own = (await _own(principal(request).center_id)).get(_kind(kind))
    body = own["body"] if own else DEFAULT_TEMPLATES[kind]
    return await render(request, "matters/notice_template_form.html", _context(kind, body, {}, own is not None))


def _context(kind: str, body: str, errors: dict, customised: bool) -> dict:
    return {"title": KINDS[kind][0], "kind": kind, "values": {"body": body}, "errors": errors,
            "placeholders": PLACEHOLDERS, "customised": customised}


@post("/admin/notice-templates/{kind:str}", opt={"permission": "notices.templates"})
async def template_save(request: Request, kind: FromPath[str]) -> Response:
    user = principal(request)
    _kind(kind)
    form = await read_form(request)
    body = form.str("body", MAX_LENGTH + 1).replace("\r\n", "\n")
    error = _("Write the text of the notice.") if not body else (
        _("The text may be at most %(n)s characters.", n=MAX_LENGTH) if len(body) > MAX_LENGTH else placeholder_errors(body)
    )
    if error:
        own = (await _own(user.center_id)).get(kind)
        return await render(request, "matters/notice_template_form.html", _context(kind, body, {"body": error}, own is not None), status=422)
    async with write_transaction():
        await NoticeTemplate.delete().where((NoticeTemplate.center == user.center_id) & (NoticeTemplate.kind == kind))
        await NoticeTemplate.insert(NoticeTemplate(center=user.center_id, kind=kind, title=KINDS[kind][0], body=body,
                                                   updated_at=clock.now(), updated_by=user.user_id))
        await trail(request)("notice_template.saved", object_type="notice_template", object_id=kind, center_id=user.center_id)
    return redirect(request, "/admin/notice-templates", _("The template has been saved. New notices use it."))


@post("/admin/notice-templates/{kind:str}/reset", opt={"permission": "notices.templates"})
async def template_reset(request: Request, kind: FromPath[str]) -> Response:
    user = principal(request)
    _kind(kind)
    async with write_transaction():
        await NoticeTemplate.delete().where((NoticeTemplate.center == user.center_id) & (NoticeTemplate.kind == kind))
        await trail(request)("notice_template.reset", object_type="notice_template", object_id=kind, center_id=user.center_id)
    return redirect(request, "/admin/notice-templates", _("The built-in text is used again."))


ROUTES = [Router(path="/", guards=[staff_guard], route_handlers=[templates_list, template_edit, template_save, template_reset])]
