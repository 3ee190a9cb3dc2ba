"""Pages of cases, sessions, referrals and supervisor review (mounted at /m/counseling by core).

404 is the only answer anyone but the author gets for a case — another counselor, the center
admin, the district admin, window staff, a forged id — decided by the scope loaders before any
permission (``sessions.case_for_author``, ``review.review_case_in_scope``, ``review.grant_in_scope``).
The lists answer 404 too for someone without the power, so no page of this side says "forbidden".

A key that does not match the stored notes (notes_crypto.CounselingKeyError) shows a Chinese
explanation with status 503: never garbage, never an empty note.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal.db import create_once, new_submission_key, write_transaction
from portal.i18n import _
from portal.notify.outbox import deliver_soon
from portal.web.forms import read_form
from portal.web.render import redirect, render
from portal.web.request import principal, trail

from plugins.counseling import booking as bk
from plugins.counseling import consent as cs
from plugins.counseling import review as rv
from plugins.counseling import sessions as svc
from plugins.counseling.notes_crypto import CounselingKeyError, open_cipher

__all__ = ["ROUTES"]

log = logging.getLogger("portal.counseling")

PAGE_SIZE = 50
CASE = {"scope_loaders": {"case_id": svc.case_for_author}}
REVIEW = {"scope_loaders": {"case_id": rv.review_case_in_scope}}
GRANT = {"scope_loaders": {"review_id": rv.grant_in_scope}}
BASE = "/m/counseling"


def who(request: Request) -> svc.Who:
    return svc.Who(trail=trail(request), user=principal(request), settings=request.app.state.settings,
                   registry=request.app.state.registry)


async def _cipher(request: Request):
    return await open_cipher(request.app.state.settings)


async def _guarded(request: Request, page: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await page()
    except CounselingKeyError:
        log.error("counseling notes cannot be decrypted with the configured PORTAL_COUNSELING_KEY (%s)", request.url.path)
        return await render(request, "counseling/notes_key_error.html", {"title": _("The counseling records cannot be opened")},
                            status=503)


def _before(request: Request) -> int | None:
    value = request.query_params.get("before", "")
    return int(value) if value.isdigit() and len(value) < 12 else None


def _counselor(request: Request):
    user = principal(request)
    if not user.can("counseling.counsel"):
        raise NotFoundException()
    return user


# ----------------------------------------------------------------------------- the counselor's cases


@get("/cases")
async def case_list(request: Request) -> Response:
    user = _counselor(request)

    async def page() -> Response:
        cipher = await _cipher(request)
        rows = await svc.my_cases(user, _before(request), PAGE_SIZE + 1)
        more = None
        if len(rows) > PAGE_SIZE:
            rows = rows[:PAGE_SIZE]
            more = f"?before={rows[-1]['id']}"
        for row in rows:
            row["client"] = cipher.decrypt(row["client_label"], f"case:{row['id']}")
        return await render(request, "counseling/case_list.html", {
            "title": _("My counseling cases"), "rows": rows, "more": more,
            "open_bookings": len(await svc.open_bookings(user)),
        })

    return await _guarded(request, page)


async def _new_case_context(request: Request, values: dict, errors: dict, key: str) -> dict:
    user = principal(request)
    bookings = await svc.open_bookings(user)
    chosen = values["booking"]
    existing = await svc.existing_case_for_booking(user, int(chosen)) if chosen.isdigit() and len(chosen) < 12 else None
    return {"title": _("Open a case"), "values": values, "errors": errors, "submission_key": key,
            "bookings": [(str(b["id"]), svc.booking_label(b)) for b in bookings], "existing_case": existing}


@get("/cases/new")
async def case_new_form(request: Request) -> Response:
    _counselor(request)
    values = {"booking": request.query_params.get("booking", ""), "client": ""}
    return await render(request, "counseling/case_new.html", await _new_case_context(request, values, {}, new_submission_key()))


@post("/cases/new")
async def case_new(request: Request) -> Response:
    _counselor(request)
    form = await read_form(request)
    key = form.str("_submission_key")
    values = {"booking": form.str("booking", 20), "client": form.str("client", 100)}

    async def page() -> Response:
        cipher = await _cipher(request)
        created: dict = {}

        async def validate() -> dict:
            errors, case_id = await svc.open_case(who(request), cipher, values)
            created["id"] = case_id
            return errors

        async def create():
            return f"{BASE}/cases/{created['id']}", created["id"]

        result = await create_once(key, "counseling.case", validate, create)
        if result.errors:
            context = await _new_case_context(request, values, result.errors, key or new_submission_key())
            return await render(request, "counseling/case_new.html", context, status=422)
        return redirect(request, result.url, None if result.duplicate else _("Case opened. Record the session when it has taken place."))

    return await _guarded(request, page)


async def _case_context(request: Request, case: dict, errors: dict | None = None, values: dict | None = None) -> dict:
    cipher = await _cipher(request)
    records = await svc.case_records(cipher, case)
    return {
        "title": _("Counseling case %(id)s", id=case["id"]), "case": case, **records,
        "errors": errors or {}, "values": values or {"code": "", "agreed": False},
        "kinds": svc.KINDS, "attendance": svc.ATTENDANCE, "grant_hours": rv.GRANT_HOURS,
    }


@get("/cases/{case_id:int}", opt=CASE)
async def case_page(request: Request, case_id: FromPath[int]) -> Response:
    case = await svc.case_for_author(principal(request), case_id)

    async def page() -> Response:
        context = await _case_context(request, case)
        async with write_transaction():
            await svc.read_audited(who(request), case)
        return await render(request, "counseling/case.html", context)

    return await _guarded(request, page)


@post("/cases/{case_id:int}/inform", opt=CASE)
async def case_inform(request: Request, case_id: FromPath[int]) -> Response:
    case = await svc.case_for_author(principal(request), case_id)
    form = await read_form(request)
    values = {"code": form.str("code", 40), "agreed": form.flag("agreed")}

    async def page() -> Response:
        async with write_transaction():
            errors, code = await svc.inform_matter(who(request), case_id, values)
            if errors:
                raise _Invalid(errors)
        return redirect(request, f"{BASE}/cases/{case_id}",
                        _("Matter %(code)s now shows that the citizen was referred to counseling; nothing else.", code=code))

    try:
        return await _guarded(request, page)
    except _Invalid as invalid:
        errors = {f"inform-{k}": v for k, v in invalid.errors.items()}

    async def again() -> Response:
        context = await _case_context(request, case, errors, values)
        async with write_transaction():
            await svc.read_audited(who(request), case)
        return await render(request, "counseling/case.html", context, status=422)

    return await _guarded(request, again)


class _Invalid(Exception):
    """Rolls the transaction back and carries the form's errors out of it."""

    def __init__(self, errors: dict):
        self.errors = errors


# ----------------------------------------------------------------------------- consent on the case


async def _case_consent_page(request: Request, case: dict, errors: dict | None = None, status: int = 200) -> Response:
    settings = await bk.load_settings(case["center"])
    consent = await cs.case_consent_for(case["id"])
    return await render(request, "counseling/consent_onsite.html", {
        "title": _("Informed consent"), "consent": consent, "channels": cs.CHANNELS,
        "text": cs.text_for(consent["version"] if consent else settings["consent_version"], settings),
        "back": f"{BASE}/cases/{case['id']}", "back_label": _("Back to the case"),
        "action": f"{BASE}/cases/{case['id']}/consent", "errors": errors or {},
    }, status=status, headers={"Cache-Control": "no-store"})


@get("/cases/{case_id:int}/consent", opt=CASE)
async def case_consent_form(request: Request, case_id: FromPath[int]) -> Response:
    """For a client without a booking (a walk-in): the same consent text, ticked on this screen."""
    return await _case_consent_page(request, await svc.case_for_author(principal(request), case_id))


@post("/cases/{case_id:int}/consent", opt=CASE)
async def case_consent(request: Request, case_id: FromPath[int]) -> Response:
    user = principal(request)
    case = await svc.case_for_author(user, case_id)
    form = await read_form(request)
    if not form.flag("agree"):
        return await _case_consent_page(request, case, {
            "agree": _("The person ticks the box to give consent; without it there is no first session.")}, status=422)
    version = form.str("version", 16)
    if version not in cs.TEXTS:
        version = (await bk.load_settings(case["center"]))["consent_version"]
    await cs.record_for_case(trail(request), case, version=version, recorded_by=user.user_id)
    return redirect(request, f"{BASE}/cases/{case_id}", _("Consent recorded."))


# ----------------------------------------------------------------------------- sessions


def _session_form(form) -> svc.SessionForm:
    return svc.SessionForm(
        booking=form.str("booking", 20), held_at=form.str("held_at", 25), duration=form.str("duration", 6, ascii_fold=True),
        kind=form.str("kind", 12), attendance=form.str("attendance", 12), topics=form.list("topics")[:10],
        risk=form.str("risk", 8), notes=form.str("notes", svc.MAX_NOTES + 1), plan=form.str("plan", svc.MAX_PLAN + 1),
    )


async def _session_context(request: Request, case: dict, values: svc.SessionForm, errors: dict, *,
                           key: str = "", session: dict | None = None) -> dict:
    bookings = await svc.open_bookings(principal(request), case_id=case["id"])
    options = [(str(b["id"]), svc.booking_label(b)) for b in bookings]
    if session is not None and session["booking"]:
        options.insert(0, (str(session["booking"]), _("The appointment recorded with this session")))
    return {
        "title": _("Edit the session record") if session else _("Record a session"), "case": case, "values": values,
        "errors": errors, "submission_key": key, "session": session, "bookings": options,
        "kinds": list(svc.KINDS.items()), "attendance": list(svc.ATTENDANCE.items()),
        "topics": list(svc.TOPICS.items()), "risks": list(svc.RISKS.items()),
    }


@get("/cases/{case_id:int}/sessions/new", opt=CASE)
async def session_new_form(request: Request, case_id: FromPath[int]) -> Response:
    case = await svc.case_for_author(principal(request), case_id)
    values = svc.SessionForm(kind="first" if not case["sessions"] else "follow_up")
    bookings = await svc.open_bookings(principal(request), case_id=case_id)
    chosen = request.query_params.get("booking", "")
    match = next((b for b in bookings if str(b["id"]) == chosen), None)
    if match is None and case["booking"] and not case["sessions"]:
        match = next((b for b in bookings if b["id"] == case["booking"]), None)
    if match is not None:
        values.booking = str(match["id"])
        values.held_at = svc.local_text(match["starts_at"])
        values.kind = svc.SERVICE_KIND.get(match["service_key"], values.kind)
    return await render(request, "counseling/session_form.html",
                        await _session_context(request, case, values, {}, key=new_submission_key()))


@post("/cases/{case_id:int}/sessions/new", opt=CASE)
async def session_new(request: Request, case_id: FromPath[int]) -> Response:
    case = await svc.case_for_author(principal(request), case_id)
    form = await read_form(request)
    key = form.str("_submission_key")
    values = _session_form(form)

    async def page() -> Response:
        cipher = await _cipher(request)

        async def validate() -> dict:
            errors, _session_id = await svc.record_session(who(request), cipher, case_id, values)
            return errors

        async def create():
            return f"{BASE}/cases/{case_id}", None

        result = await create_once(key, "counseling.session", validate, create)
        if result.errors:
            context = await _session_context(request, case, values, result.errors, key=key or new_submission_key())
            return await render(request, "counseling/session_form.html", context, status=422)
        if result.duplicate:
            return redirect(request, result.url)
        return redirect(request, result.url, _high_risk_message() if values.risk == "high" else _("Session recorded."))

    return await _guarded(request, page)


def _high_risk_message() -> str:
    return _("Session recorded. You assessed a high risk: follow the crisis procedure (stay with the person, "
             "contact family, 110 or 120) and raise a crisis flag so the crisis contact is alerted.")


@get("/cases/{case_id:int}/sessions/{record_id:int}/edit", opt=CASE)
async def session_edit_form(request: Request, case_id: FromPath[int], record_id: FromPath[int]) -> Response:
    case = await svc.case_for_author(principal(request), case_id)
    row = await svc.session_of(case_id, record_id)

    async def page() -> Response:
        cipher = await _cipher(request)
        values = svc.session_form_of(cipher, case_id, row)
        context = await _session_context(request, case, values, {}, session=row)
        async with write_transaction():
            await svc.read_audited(who(request), case)
        return await render(request, "counseling/session_form.html", context)

    return await _guarded(request, page)


@post("/cases/{case_id:int}/sessions/{record_id:int}/edit", opt=CASE)
async def session_edit(request: Request, case_id: FromPath[int], record_id: FromPath[int]) -> Response:
    case = await svc.case_for_author(principal(request), case_id)
    row = await svc.session_of(case_id, record_id)
    form = await read_form(request)
    values = _session_form(form)
    version = form.int("version")

    async def page() -> Response:
        cipher = await _cipher(request)
        try:
            async with write_transaction():
                errors = await svc.update_session(who(request), cipher, case_id, record_id, values, version)
                if errors:
                    raise _Invalid(errors)
        except _Invalid as invalid:
            context = await _session_context(request, case, values, invalid.errors, session=row)
            return await render(request, "counseling/session_form.html", context, status=422)
        return redirect(request, f"{BASE}/cases/{case_id}",
                        _high_risk_message() if values.risk == "high" else _("Session record saved."))

    return await _guarded(request, page)


# ----------------------------------------------------------------------------- referrals


@get("/cases/{case_id:int}/referrals/new", opt=CASE)
async def referral_form(request: Request, case_id: FromPath[int]) -> Response:
    case = await svc.case_for_author(principal(request), case_id)
    values = {"institution": "", "reason": "", "referred_on": "", "agreed": ""}
    return await render(request, "counseling/case_referral.html", {
        "title": _("Record a referral"), "case": case, "values": values, "errors": {}, "submission_key": new_submission_key(),
    })


@post("/cases/{case_id:int}/referrals/new", opt=CASE)
async def referral_new(request: Request, case_id: FromPath[int]) -> Response:
    case = await svc.case_for_author(principal(request), case_id)
    form = await read_form(request)
    key = form.str("_submission_key")
    values = {"institution": form.str("institution", 101), "reason": form.str("reason", 1001),
              "referred_on": form.str("referred_on", 20), "agreed": form.str("agreed", 3)}

    async def page() -> Response:
        cipher = await _cipher(request)

        async def validate() -> dict:
            return await svc.add_referral(who(request), cipher, case_id, values)

        async def create():
            return f"{BASE}/cases/{case_id}", None

        result = await create_once(key, "counseling.referral", validate, create)
        if result.errors:
            return await render(request, "counseling/case_referral.html", {
                "title": _("Record a referral"), "case": case, "values": values, "errors": result.errors,
                "submission_key": key or new_submission_key(),
            }, status=422)
        return redirect(request, result.url, None if result.duplicate else _("Referral recorded."))

    return await _guarded(request, page)


# ----------------------------------------------------------------------------- supervisor review


@get("/review")
async def review_list(request: Request) -> Response:
    user = principal(request)
    if not await rv.designated_centers(user):
        raise NotFoundException()
    rows = await rv.supervisable_cases(user, _before(request), PAGE_SIZE + 1)
    more = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        more = f"?before={rows[-1]['id']}"
    return await render(request, "counseling/review_list.html", {
        "title": _("Supervision: cases to review"), "rows": rows, "more": more, "grant_hours": rv.GRANT_HOURS,
    })


def _reason_context(case: dict, reason: str, errors: dict, key: str) -> dict:
    return {"title": _("Review counseling case %(id)s", id=case["id"]), "case": case, "reason": reason, "errors": errors,
            "submission_key": key, "min_reason": rv.MIN_REASON, "grant_hours": rv.GRANT_HOURS}


@get("/review/{case_id:int}", opt=REVIEW)
async def review_form(request: Request, case_id: FromPath[int]) -> Response:
    case = await rv.review_case_in_scope(principal(request), case_id)
    return await render(request, "counseling/review_reason.html", _reason_context(case, "", {}, new_submission_key()))


@post("/review/{case_id:int}", opt=REVIEW)
async def review_start(request: Request, case_id: FromPath[int]) -> Response:
    case = await rv.review_case_in_scope(principal(request), case_id)
    form = await read_form(request)
    key = form.str("_submission_key")
    reason = form.str("reason", rv.MAX_REASON + 1)

    async def page() -> Response:
        cipher = await _cipher(request)
        created: dict = {}

        async def validate() -> dict:
            errors, review_id = await rv.start_review(who(request), cipher, case, reason)
            created["id"] = review_id
            return errors

        async def create():
            return f"{BASE}/review/g/{created['id']}", None

        result = await create_once(key, "counseling.review", validate, create)
        if result.errors:
            return await render(request, "counseling/review_reason.html",
                                _reason_context(case, reason, result.errors, key or new_submission_key()), status=422)
        deliver_soon(request.app)
        return redirect(request, result.url)

    return await _guarded(request, page)


@get("/review/g/{review_id:int}", opt=GRANT)
async def review_read(request: Request, review_id: FromPath[int]) -> Response:
    grant = await rv.grant_in_scope(principal(request), review_id)
    case = await svc.load_case(grant["case_id"])
    if not rv.grant_valid(grant):
        return await render(request, "counseling/review_expired.html", {
            "title": _("This review has ended"), "case": case, "grant_hours": rv.GRANT_HOURS,
        })

    async def page() -> Response:
        cipher = await _cipher(request)
        records = await svc.case_records(cipher, case)
        async with write_transaction():
            await svc.read_audited(who(request), case, via="review")
        return await render(request, "counseling/review_case.html", {
            "title": _("Review of counseling case %(id)s", id=case["id"]), "case": case, "grant": grant, **records,
            "reason": cipher.decrypt(grant["reason"], f"review:{case['id']}"),
            "kinds": svc.KINDS, "attendance": svc.ATTENDANCE,
        })

    return await _guarded(request, page)


ROUTES = [
    case_list, case_new_form, case_new, case_page, case_inform, case_consent_form, case_consent,
    session_new_form, session_new, session_edit_form, session_edit,
    referral_form, referral_new,
    review_list, review_form, review_start, review_read,
]


async def nav_items(user) -> list:
    """The counselor's cases; the review list only for a designated supervisor (a query, not a role)."""
    from portal.plugin_api import NavItem

    if user is None or not user.can("counseling.counsel"):
        return []
    items = [NavItem("我的个案", f"{BASE}/cases", order=61, permission="counseling.counsel")]
    if user.can("counseling.supervise") and await rv.designated_centers(user):
        items.append(NavItem("督导查阅", f"{BASE}/review", order=62, permission="counseling.supervise"))
    return items
