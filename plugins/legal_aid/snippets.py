"""Reusable advice snippets (常用解答): a lawyer's own, and those a lawyer shares with the lawyers
of the center. Inserted into the advice field of the log form; edited by their owner only."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal import clock
from portal.db import create_once, insert, new_submission_key, raw, write_transaction
from portal.i18n import _
from portal.web.forms import read_form
from portal.web.render import redirect, render
from portal.web.request import principal, trail

__all__ = ["ROUTES", "snippet_for_insert", "snippets_for"]

TITLE_MAX = 40
BODY_MAX = 2000
LOG = {"permission": "legal_aid.log"}


async def snippets_for(user, center_id: int | None = None) -> list[dict]:
    """The snippets ``user`` may insert: their own first, then those shared at the center."""
    center_id = center_id or user.center_id
    return await raw(
        "SELECT id, title, body, shared, owner FROM legal_aid_snippet WHERE active AND (owner = {} OR "
        "(shared AND center = {})) ORDER BY CASE WHEN owner = {} THEN 0 ELSE 1 END, title, id",
        user.user_id, center_id, user.user_id,
    )


async def snippet_for_insert(user, snippet_id: int | None, center_id: int | None = None) -> dict | None:
    if snippet_id is None:
        return None
    return next((s for s in await snippets_for(user, center_id) if s["id"] == snippet_id), None)


async def _own(user, snippet_id: int) -> dict:
    rows = await raw("SELECT * FROM legal_aid_snippet WHERE id = {} AND active", snippet_id)
    if not rows or rows[0]["owner"] != user.user_id:
        raise NotFoundException()
    return rows[0]


def _values(form) -> tuple[dict, dict]:
    values = {"title": form.str("title", 200), "body": form.str("body", 20000), "shared": form.flag("shared")}
    errors = {}
    if not values["title"]:
        errors["title"] = _("Give the snippet a short title.")
    elif len(values["title"]) > TITLE_MAX:
        errors["title"] = _("The title has %(n)s characters; at most %(max)s.", n=len(values["title"]), max=TITLE_MAX)
    if not values["body"]:
        errors["body"] = _("Write the advice text of the snippet.")
    elif len(values["body"]) > BODY_MAX:
        errors["body"] = _("The text has %(n)s characters; at most %(max)s.", n=len(values["body"]), max=BODY_MAX)
    return values, errors


async def _list_context(request: Request, values: dict, errors: dict, key: str) -> dict:
    user = principal(request)
    return {"title": _("Advice snippets"), "snippets": await snippets_for(user), "values": values, "errors": errors,
            "submission_key": key, "limits": {"title": TITLE_MAX, "body": BODY_MAX}}


@get("/snippets", opt=LOG)
async def snippet_list(request: Request) -> Response:
    return await render(request, "legal_aid/snippet_list.html", await _list_context(request, {}, {}, new_submission_key()))


@post("/snippets", opt=LOG)
async def snippet_create(request: Request) -> Response:
    user = principal(request)
    form = await read_form(request)
    key = form.str("_submission_key")
    values, errors = _values(form)

    async def validate() -> dict:
        return errors

    async def create():
        now = clock.now()
        new_id = await insert("legal_aid_snippet", {
            "center": user.center_id, "owner": user.user_id, "shared": values["shared"], "title": values["title"],
            "body": values["body"], "active": True, "created_at": now, "updated_at": now,
        })
        await trail(request)("legal_aid.snippet_created", object_type="legal_aid_snippet", object_id=new_id,
                             center_id=user.center_id)
        return "/m/legal_aid/snippets", new_id

    result = await create_once(key, "legal_aid.snippet", validate, create)
    if result.errors:
        return await render(request, "legal_aid/snippet_list.html",
                            await _list_context(request, values, result.errors, key or new_submission_key()), status=422)
    return redirect(request, result.url, None if result.duplicate else _("Snippet saved."))


@get("/snippets/{snippet_id:int}/edit", opt=LOG)
async def snippet_edit_form(request: Request, snippet_id: FromPath[int]) -> Response:
    row = await _own(principal(request), snippet_id)
    values = {"title": row["title"], "body": row["body"], "shared": bool(row["shared"])}
    return await render(request, "legal_aid/snippet_form.html",
                        {"title": _("Change a snippet"), "snippet": row, "values": values, "errors": {}})


@post("/snippets/{snippet_id:int}/edit", opt=LOG)
async def snippet_edit(request: Request, snippet_id: FromPath[int]) -> Response:
    user = principal(request)
    row = await _own(user, snippet_id)
    values, errors = _values(await read_form(request))
    if errors:
        return await render(request, "legal_aid/snippet_form.html",
                            {"title": _("Change a snippet"), "snippet": row, "values": values, "errors": errors}, status=422)
    async with write_transaction():
        await _own(user, snippet_id)
        await raw("UPDATE legal_aid_snippet SET title = {}, body = {}, shared = {}, updated_at = {} WHERE id = {}",
                  values["title"], values["body"], values["shared"], clock.now(), snippet_id)
        await trail(request)("legal_aid.snippet_changed", object_type="legal_aid_snippet", object_id=snippet_id,
                             center_id=row["center"], fields=("title", "body", "shared"))
    return redirect(request, "/m/legal_aid/snippets", _("Snippet saved."))


@post("/snippets/{snippet_id:int}/delete", opt=LOG)
async def snippet_delete(request: Request, snippet_id: FromPath[int]) -> Response:
    user = principal(request)
    async with write_transaction():
        row = await _own(user, snippet_id)
        # Kept inactive rather than deleted: the audit row keeps pointing at something.
        await raw("UPDATE legal_aid_snippet SET active = false, updated_at = {} WHERE id = {}", clock.now(), snippet_id)
        await trail(request)("legal_aid.snippet_removed", object_type="legal_aid_snippet", object_id=snippet_id,
                             center_id=row["center"])
    return redirect(request, "/m/legal_aid/snippets", _("Snippet removed."))


ROUTES = [snippet_list, snippet_create, snippet_edit_form, snippet_edit, snippet_delete]
