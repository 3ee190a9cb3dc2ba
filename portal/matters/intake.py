"""Online intake: one question per page, a draft kept in the database, check your answers, confirmation.

The draft belongs to the citizen (not the session): if the session times out half-way, signing
in again brings the answers back.
"""

from __future__ import annotations

import json

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from portal import clock
from portal.citizens.guards import citizen_guard, citizen_of
from portal.db import create_once, new_submission_key, write_transaction
from portal.i18n import _
from portal.matters.attachments import MAX_FILES, AttachmentError, store
from portal.matters.codes import format_code, parse_code
from portal.matters.forms import GROUP_SIZE, MAX_REPRESENTATIVES, matter_from_form
from portal.matters.service import Ctx, register
from portal.matters.tables import Matter, MatterAttachment, MatterDraft
from portal.matters.vocab import CATEGORIES
from portal.notify.outbox import deliver_soon
from portal.tables import Center
from portal.web.forms import Form, read_form
from portal.web.render import redirect, render
from portal.web.request import citizen_trail

__all__ = ["ROUTES"]

STEPS = ("center", "category", "matter", "place", "people", "files", "consent")
STEP_FIELDS = {
    "center": ("center",),
    "category": ("category",),
    "matter": ("summary", "request", "facts"),
    "place": ("place", "parties"),
    "people": ("petitioner_name", "petitioner_address", "people_count",
               *[f"rep{i}_{part}" for i in range(1, MAX_REPRESENTATIVES + 1) for part in ("name", "phone")]),
    "files": (),
    "consent": ("consent",),
}
CONSENT_VERSION = "2026-11"


class DictForm(Form):
    """A Form over the draft dict, so the final check reuses the window's validation."""

    def __init__(self, data: dict):
        super().__init__(data)

    def list(self, name: str) -> list[str]:  # pragma: no cover - no list fields in intake
        return []


async def _draft(citizen_id: int) -> tuple[int | None, dict]:
    row = await MatterDraft.select(MatterDraft.id, MatterDraft.data).where(MatterDraft.citizen == citizen_id).first()
    return (row["id"], json.loads(row["data"])) if row else (None, {})


async def _save_draft(citizen_id: int, data: dict) -> int:
    async with write_transaction():
        draft_id, _old = await _draft(citizen_id)
        if draft_id is None:
            rows = await MatterDraft.insert(MatterDraft(citizen=citizen_id, data=json.dumps(data, ensure_ascii=False), updated_at=clock.now())).returning(MatterDraft.id)
            return rows[0]["id"]
        await MatterDraft.update({MatterDraft.data: json.dumps(data, ensure_ascii=False), MatterDraft.updated_at: clock.now()}).where(MatterDraft.id == draft_id)
        return draft_id


async def _centers() -> list[dict]:
    return await Center.select(Center.id, Center.name, Center.level, Center.path).where(Center.active == True).order_by(Center.path)  # noqa: E712


def _step_errors(step: str, data: dict, center_ids: set[int]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if step == "center" and (not str(data.get("center", "")).isdigit() or int(data["center"]) not in center_ids):
        errors["center"] = _("Choose the center nearest to where you live or where it happened.")
    if step == "category" and data.get("category") not in CATEGORIES:
        errors["category"] = _("Choose the kind of matter.")
    if step in ("matter", "people"):
        # The full validation, keeping only this page's fields.
        _matter, all_errors, _values = matter_from_form(DictForm(data), channel="online", center_ids=center_ids, phone_required=False)
        errors = {k: v for k, v in all_errors.items() if k in STEP_FIELDS[step]}
    if step == "consent" and data.get("consent") != "1":
        errors["consent"] = _("To submit online you need to agree to how your information is used.")
    return errors


def _first_incomplete(data: dict, center_ids: set[int]) -> str | None:
    for step in STEPS:
        if step != "files" and _step_errors(step, data, center_ids):
            return step
    return None


def _next_url(step: str, back_to_check: bool) -> str:
    if back_to_check or step == STEPS[-1]:
        return "/submit/check"
    return f"/submit/{STEPS[STEPS.index(step) + 1]}"


async def _attachments(draft_id: int | None) -> list[dict]:
    if draft_id is None:
        return []
    return await MatterAttachment.select(MatterAttachment.id, MatterAttachment.filename, MatterAttachment.size).where(
        MatterAttachment.draft == draft_id
    ).order_by(MatterAttachment.id)


async def _step_context(request: Request, step: str, data: dict, errors: dict, draft_id: int | None) -> dict:
    centers = await _centers()
    return {
        "title": _("Raise a matter"), "step": step, "values": data, "errors": errors,
        "number": STEPS.index(step) + 1, "total": len(STEPS),
        "centers": [(c["id"], ("　" * (c["path"].count("/") - 2)) + c["name"]) for c in centers],
        "categories": list(CATEGORIES.items()), "rep_slots": range(1, MAX_REPRESENTATIVES + 1), "group_size": GROUP_SIZE,
        "attachments": await _attachments(draft_id), "max_files": MAX_FILES,
        "back_to_check": request.query_params.get("from") == "check", "hide_sign_in": True,
        "phone": citizen_of(request).masked_phone,
    }


@get("/submit", guards=[citizen_guard])
async def intake_start(request: Request) -> Response:
    citizen = citizen_of(request)
    _draft_id, data = await _draft(citizen.citizen_id)
    chosen = request.query_params.get("center") or ""
    if chosen.isdigit() and not data.get("center"):
        # Coming from a center's public page: that center is the first answer (still changeable).
        if int(chosen) in {c["id"] for c in await _centers()}:
            data["center"] = chosen
            await _save_draft(citizen.citizen_id, data)
    step = _first_incomplete(data, {c["id"] for c in await _centers()}) if data else "center"
    return Redirect(path=f"/submit/{step}" if step else "/submit/check", status_code=303)


@get("/submit/{step:str}", guards=[citizen_guard])
async def intake_step(request: Request, step: FromPath[str]) -> Response:
    if step not in STEPS:
        raise NotFoundException()
    draft_id, data = await _draft(citizen_of(request).citizen_id)
    return await render(request, "matters/intake_step.html", await _step_context(request, step, data, {}, draft_id))


@get("/submit/files", guards=[citizen_guard])
async def intake_files_page(request: Request) -> Response:
    # Its own handler: the static /submit/files/… routes below shadow the {step} route for this path.
    draft_id, data = await _draft(citizen_of(request).citizen_id)
    return await render(request, "matters/intake_step.html", await _step_context(request, "files", data, {}, draft_id))


@post("/submit/{step:str}", guards=[citizen_guard])
async def intake_save(request: Request, step: FromPath[str]) -> Response:
    if step not in STEPS or step == "files":
        raise NotFoundException()
    citizen = citizen_of(request)
    form = await read_form(request)
    draft_id, data = await _draft(citizen.citizen_id)
    for name in STEP_FIELDS[step]:
        data[name] = form.str(name, 8000)
    if step == "consent":
        data["consent"] = "1" if form.flag("consent") else ""
        data["consent_version"] = CONSENT_VERSION
    errors = _step_errors(step, data, {c["id"] for c in await _centers()})
    draft_id = await _save_draft(citizen.citizen_id, data)  # kept even when invalid: nothing typed is lost
    if errors:
        return await render(request, "matters/intake_step.html", await _step_context(request, step, data, errors, draft_id), status=422)
    return Redirect(path=_next_url(step, form.str("from") == "check"), status_code=303)


@post("/submit/files/upload", guards=[citizen_guard])
async def intake_upload(request: Request) -> Response:
    citizen = citizen_of(request)
    form = await request.form()
    upload = form.get("file")
    draft_id, data = await _draft(citizen.citizen_id)
    if draft_id is None:
        draft_id = await _save_draft(citizen.citizen_id, data)
    error = None
    if upload is None or isinstance(upload, str) or not getattr(upload, "filename", ""):
        error = _("Choose a file to upload.")
    elif len(await _attachments(draft_id)) >= MAX_FILES:
        error = _("You can attach at most %(n)s files.", n=MAX_FILES)
    else:
        content = await upload.read()
        try:
            digest, content_type = store(request.app.state.settings.data_dir, content)
        except AttachmentError as problem:
            error = str(problem)
        else:
            async with write_transaction():
                await MatterAttachment.insert(MatterAttachment(
                    draft=draft_id, sha256=digest, filename=upload.filename[-200:], content_type=content_type,
                    size=len(content), uploaded_at=clock.now(),
                ))
    if error:
        return await render(request, "matters/intake_step.html", await _step_context(request, "files", data, {"file": error}, draft_id), status=422)
    return redirect(request, "/submit/files", _("The file has been added."))


@post("/submit/files/{attachment_id:int}/remove", guards=[citizen_guard])
async def intake_remove_file(request: Request, attachment_id: FromPath[int]) -> Response:
    draft_id, _data = await _draft(citizen_of(request).citizen_id)
    async with write_transaction():
        await MatterAttachment.delete().where((MatterAttachment.id == attachment_id) & (MatterAttachment.draft == draft_id))
    return redirect(request, "/submit/files", _("The file has been removed."))


async def intake_check(request: Request, errors: dict | None = None, status: int = 200) -> Response:
    citizen = citizen_of(request)
    draft_id, data = await _draft(citizen.citizen_id)
    centers = {c["id"]: c["name"] for c in await _centers()}
    missing = _first_incomplete(data, set(centers))
    if missing:
        return Redirect(path=f"/submit/{missing}", status_code=303)
    reps = [(data.get(f"rep{i}_name"), data.get(f"rep{i}_phone")) for i in range(1, MAX_REPRESENTATIVES + 1) if data.get(f"rep{i}_name")]
    return await render(request, "matters/intake_check.html", {
        "title": _("Check your answers"), "values": data, "center_name": centers.get(int(data["center"]), ""),
        "category_label": CATEGORIES.get(data.get("category"), ""), "attachments": await _attachments(draft_id),
        "representatives": reps, "submission_key": data.get("submission_key") or new_submission_key(),
        "errors": errors or {}, "hide_sign_in": True, "phone": citizen.masked_phone,
    }, status=status)


@get("/submit/check", guards=[citizen_guard])
async def intake_check_page(request: Request) -> Response:
    return await intake_check(request)


@post("/submit/check", guards=[citizen_guard])
async def intake_submit(request: Request) -> Response:
    citizen = citizen_of(request)
    form = await read_form(request)
    key = form.str("_submission_key")
    draft_id, data = await _draft(citizen.citizen_id)
    centers = await _centers()
    center_ids = {c["id"] for c in centers}

    async def validate():
        if not data or _first_incomplete(data, center_ids):
            return {"draft": _("Some answers are missing. Go back and complete them.")}
        return {}

    async def create():
        center = await Center.select().where(Center.id == int(data["center"])).first()
        matter, _errors, _values = matter_from_form(DictForm({**data, "petitioner_phone": citizen.phone}), channel="online",
                                                    center_ids=center_ids, phone_required=True)
        ctx = Ctx(trail=citizen_trail(request, citizen.citizen_id), registry=request.app.state.registry, user_label=_("the citizen"), citizen_id=citizen.citizen_id)
        created = await register(ctx, center, matter, citizen_id=citizen.citizen_id, consent_version=data.get("consent_version", ""))
        await MatterAttachment.update({MatterAttachment.matter: created["id"], MatterAttachment.draft: None}).where(
            MatterAttachment.draft == draft_id
        )
        await MatterDraft.delete().where(MatterDraft.citizen == citizen.citizen_id)
        return f"/submit/done/{created['code']}", created

    result = await create_once(key, "matter.submit", validate, create)
    if result.errors:
        if not data:
            return Redirect(path="/submit", status_code=303)
        return await intake_check(request, result.errors, status=422)
    deliver_soon(request.app)
    return Redirect(path=result.url, status_code=303)


@get("/submit/done/{code:str}", guards=[citizen_guard])
async def intake_done(request: Request, code: FromPath[str]) -> Response:
    citizen = citizen_of(request)
    parsed = parse_code(code)
    m = await Matter.select().where((Matter.code == parsed) & (Matter.citizen == citizen.citizen_id)).first() if parsed else None
    if m is None:
        raise NotFoundException()
    center = await Center.select(Center.name, Center.phone, Center.address).where(Center.id == m["center"]).first()
    return await render(request, "matters/intake_done.html", {
        "title": _("Your matter has been submitted"), "m": m, "code": format_code(m["code"]), "center": center, "hide_sign_in": True,
    })


ROUTES = [intake_start, intake_check_page, intake_files_page, intake_step, intake_save, intake_upload, intake_remove_file, intake_submit, intake_done]
