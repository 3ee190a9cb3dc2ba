"""Citizen pages of the legal-aid module, under /m/legal_aid/c/{center_code}/ (``module_guard``
answers 404 where the module is not enabled at that center).

* the service guide (办事指南): who may use the duty lawyer, what to bring, free of charge, the
  right to apply for legal aid with its conditions and procedure (法律援助法 Art. 23), the
  categories exempt from the hardship check (Arts. 32 and 42, as configured), and the way to book;
* the legal-aid application (signed in with phone + SMS code): the form, a check-your-answers page,
  then one submission (one-time key) with a reference code by SMS;
* the applicant's own applications: status, timeline, the one request for materials and the upload
  that answers it, the written refusal notice.

Files chosen on the form are stored at once (content-addressed, outside the web root) and carried
through the check page as a signed list, so a forged list cannot attach someone else's file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal.citizens.guards import citizen_guard, citizen_of
from portal.db import create_once, new_submission_key, raw
from portal.i18n import _
from portal.matters.codes import format_code, parse_code
from portal.notify.outbox import deliver_soon
from portal.web.forms import Form
from portal.web.render import redirect, render
from portal.web.request import citizen_trail

from plugins.legal_aid import applications as apps
from plugins.legal_aid.roster import SERVICE, SERVICE_KEY
from plugins.legal_aid.routes import read_documents

__all__ = ["ROUTES"]

NO_STORE = {"Cache-Control": "no-store"}


async def _center(code: str) -> dict:
    rows = await raw("SELECT id, code, name, level, path, phone, address, hours FROM center WHERE code = {} AND active", code)
    if not rows:
        raise NotFoundException()
    return rows[0]


def _who(request: Request) -> apps.Who:
    return apps.Who(trail=citizen_trail(request, citizen_of(request).citizen_id), user_id=None)


# ----------------------------------------------------------------------------- the guide


@get("/c/{center_code:str}")
async def guide(request: Request, center_code: FromPath[str]) -> Response:
    center = await _center(center_code)
    policy = await apps.load_policy(center)
    return await render(request, "legal_aid/guide.html", {
        "title": _("Legal aid and free legal consultation"), "center": center, "service": SERVICE,
        "book_url": f"/book/{center['id']}/{SERVICE_KEY}", "apply_url": f"/m/legal_aid/c/{center['code']}/apply",
        "matter_types": list(apps.MATTER_TYPES.values()), "categories": policy["categories"], "policy": policy,
        "day_kind_label": apps.DAY_KINDS[policy["day_kind"]],
    })


# ----------------------------------------------------------------------------- documents through the check page


def _signature(request: Request, citizen_id: int, payload: str) -> str:
    key = request.app.state.settings.secret_key.encode()
    return hmac.new(key, f"legal_aid.documents:{citizen_id}:{payload}".encode(), hashlib.sha256).hexdigest()


def sign_documents(request: Request, citizen_id: int, documents: list[dict]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(documents, ensure_ascii=False).encode()).decode()
    return f"{payload}.{_signature(request, citizen_id, payload)}"


def read_signed_documents(request: Request, citizen_id: int, token: str) -> list[dict] | None:
    """The document list of a check page, or None when it was altered."""
    if not token:
        return []
    payload, _dot, signature = token.partition(".")
    if not hmac.compare_digest(signature, _signature(request, citizen_id, payload)):
        return None
    try:
        documents = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return None
    return documents if isinstance(documents, list) else None


# ----------------------------------------------------------------------------- applying


async def _form_page(request: Request, center: dict, values: dict, errors: dict, documents: list[dict],
                     status: int = 200) -> Response:
    citizen = citizen_of(request)
    policy = await apps.load_policy(center)
    return await render(request, "legal_aid/apply.html", {
        "title": _("Apply for legal aid"), "center": center, "values": values, "errors": errors,
        "documents": documents, "documents_token": sign_documents(request, citizen.citizen_id, documents),
        "phone": citizen.masked_phone, "matter_types": list(apps.MATTER_TYPES.items()),
        "on_behalf_options": list(apps.ON_BEHALF.items()), "hardship_modes": list(apps.HARDSHIP_MODES.items()),
        "categories": [(c, c) for c in policy["categories"]], "hide_sign_in": True,
    }, status=status, headers=NO_STORE)


@get("/c/{center_code:str}/apply", guards=[citizen_guard])
async def apply_form(request: Request, center_code: FromPath[str]) -> Response:
    from plugins.legal_aid.routes import prefill_values

    center = await _center(center_code)
    return await _form_page(request, center, prefill_values(request), {}, [])


def _values(form: Form, phone: str) -> dict:
    values = apps.application_values(form)
    values["phone"] = phone  # the verified sign-in number: not asked again
    return values


@post("/c/{center_code:str}/apply", guards=[citizen_guard])
async def apply_check(request: Request, center_code: FromPath[str]) -> Response:
    """The form posts here: errors → the form again (input kept); else the check page."""
    center = await _center(center_code)
    citizen = citizen_of(request)
    data = await request.form()
    form = Form(data)
    values = _values(form, citizen.phone)
    documents = read_signed_documents(request, citizen.citizen_id, form.str("documents_token", 20000))
    if documents is None:
        documents = []
    errors = apps.validate(values, await apps.load_policy(center))
    added, problem = await read_documents(request, data, already=len(documents))
    if problem:
        errors["documents"] = problem
    else:
        documents += added
    if form.str("edit") or errors:
        return await _form_page(request, center, values, errors, documents, status=422 if errors else 200)
    return await render(request, "legal_aid/apply_check.html", {
        "title": _("Check your application"), "center": center, "values": values, "documents": documents,
        "documents_token": sign_documents(request, citizen.citizen_id, documents), "phone": citizen.masked_phone,
        "matter_label": apps.MATTER_TYPES[values["matter_type"]], "on_behalf_label": apps.ON_BEHALF[values["on_behalf"]],
        "hardship_label": apps.HARDSHIP_MODES[values["hardship_mode"]], "submission_key": new_submission_key(),
        "hide_sign_in": True,
    }, headers=NO_STORE)


@post("/c/{center_code:str}/apply/submit", guards=[citizen_guard])
async def apply_submit(request: Request, center_code: FromPath[str]) -> Response:
    center = await _center(center_code)
    citizen = citizen_of(request)
    form = Form(await request.form())
    values = _values(form, citizen.phone)
    documents = read_signed_documents(request, citizen.citizen_id, form.str("documents_token", 20000))
    key = form.str("_submission_key")

    async def check() -> dict:
        if documents is None:
            return {"documents": _("The list of files was changed. Choose the files again.")}
        return apps.validate(values, await apps.load_policy(center))

    async def create():
        created = await apps.create_application(_who(request), center, values, documents, channel="online",
                                                citizen_id=citizen.citizen_id)
        return apps.citizen_url(center["code"], created["code"]) + "?done=1", created

    result = await create_once(key, "legal_aid.apply", check, create)
    if result.errors:
        return await _form_page(request, center, values, result.errors, documents or [], status=422)
    deliver_soon(request.app)
    return redirect(request, result.url)


# ----------------------------------------------------------------------------- the applicant's own


async def _own(request: Request, center: dict, code: str) -> dict:
    parsed = parse_code(code)
    citizen = citizen_of(request)
    if parsed is None:
        raise NotFoundException()
    rows = await raw(
        "SELECT * FROM legal_aid_application WHERE code = {} AND center = {} AND (citizen = {} OR phone = {})",
        parsed, center["id"], citizen.citizen_id, citizen.phone,
    )
    if not rows:
        raise NotFoundException()
    return rows[0]


@get("/c/{center_code:str}/applications", guards=[citizen_guard])
async def my_applications(request: Request, center_code: FromPath[str]) -> Response:
    center = await _center(center_code)
    citizen = citizen_of(request)
    rows = await raw(
        "SELECT code, matter_type, status, received_at FROM legal_aid_application WHERE center = {} "
        "AND (citizen = {} OR phone = {}) ORDER BY id DESC LIMIT 100", center["id"], citizen.citizen_id, citizen.phone,
    )
    return await render(request, "legal_aid/application_mine.html", {
        "title": _("My legal-aid applications"), "center": center, "rows": rows, "statuses": apps.STATUS_LABELS,
        "matter_types": apps.MATTER_TYPES, "fmt": format_code,
    }, headers=NO_STORE)


async def _own_page(request: Request, center: dict, app: dict, errors: dict | None = None, status: int = 200) -> Response:
    events = await raw("SELECT kind, at FROM legal_aid_event WHERE application = {} ORDER BY id", app["id"])
    documents = await raw("SELECT filename, stage FROM legal_aid_document WHERE application = {} ORDER BY id", app["id"])
    notice = await raw("SELECT number FROM legal_aid_notice WHERE application = {}", app["id"])
    assigned = None
    if app["assigned_lawyer"]:
        assigned = (await raw("SELECT s.display_name, l.firm, l.phone FROM legal_aid_lawyer l JOIN staff_user s ON "
                              "s.id = l.staff WHERE l.id = {}", app["assigned_lawyer"]))[0]
    return await render(request, "legal_aid/application_citizen.html", {
        "title": _("Legal-aid application %(code)s", code=format_code(app["code"])), "center": center, "a": app,
        "events": events, "documents": documents, "notice": notice[0] if notice else None, "assigned": assigned,
        "status_label": apps.STATUS_LABELS.get(app["status"], app["status"]), "event_labels": apps.EVENT_LABELS,
        "matter_label": apps.MATTER_TYPES.get(app["matter_type"], ""), "fmt": format_code,
        "materials_items": [line for line in (app["materials_items"] or "").splitlines() if line],
        "date_text": apps.local_date_text, "done": request.query_params.get("done") == "1", "errors": errors or {},
    }, status=status, headers=NO_STORE)


@get("/c/{center_code:str}/applications/{code:str}", guards=[citizen_guard])
async def my_application(request: Request, center_code: FromPath[str], code: FromPath[str]) -> Response:
    center = await _center(center_code)
    return await _own_page(request, center, await _own(request, center, code))


@post("/c/{center_code:str}/applications/{code:str}/supply", guards=[citizen_guard])
async def my_application_supply(request: Request, center_code: FromPath[str], code: FromPath[str]) -> Response:
    center = await _center(center_code)
    app = await _own(request, center, code)
    data = await request.form()
    documents, problem = await read_documents(request, data)
    if not problem and not documents:
        problem = _("Choose the files of the missing materials (photos or PDF). You can also bring them to the center.")
    if problem:
        return await _own_page(request, center, app, {"documents": problem}, status=422)
    try:
        await apps.supply_materials(_who(request), app["id"], documents)
    except apps.ApplicationError as refused:
        return await _own_page(request, center, app, {"documents": refused.message}, status=422)
    deliver_soon(request.app)
    return redirect(request, apps.citizen_url(center["code"], app["code"]),
                    _("Thank you: the materials were received. The center decides within the time limit."))


@get("/c/{center_code:str}/applications/{code:str}/notice", guards=[citizen_guard])
async def my_notice(request: Request, center_code: FromPath[str], code: FromPath[str]) -> Response:
    center = await _center(center_code)
    app = await _own(request, center, code)
    rows = await raw("SELECT * FROM legal_aid_notice WHERE application = {}", app["id"])
    if not rows:
        raise NotFoundException()
    return await render(request, "legal_aid/application_notice.html", {
        "title": rows[0]["title"], "notice": rows[0], "issuer": center["name"],
        "back": apps.citizen_url(center["code"], app["code"]),
    }, headers=NO_STORE)


ROUTES = [guide, apply_form, apply_check, apply_submit, my_applications, my_application, my_application_supply, my_notice]
