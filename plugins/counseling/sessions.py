"""Cases, sessions and referrals: the counselor's own records, readable by their author only.

Every function that writes runs inside one ``write_transaction()`` with its audit row; every read of
a case page is audited too (PIPL Art. 51, security.md §3.3). Clinical content is encrypted with
``notes_crypto`` before it reaches the database and decrypted only for the page that shows it.

What the counselor records is deliberately non-diagnostic (精神卫生法 Art. 23: a counselor may not
diagnose or treat mental disorders): topics, the risk assessed, notes and a plan; a suspected
disorder becomes a *referral* to a medical institution, never a diagnosis field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from typing import Any

from litestar.exceptions import NotFoundException

from portal import clock
from portal.web.forms import parse_local_datetime
from portal.audit.chain import AuditTrail
from portal.auth.principal import Principal
from portal.centers.scope import in_scope
from portal.db import current_engine, insert, raw
from portal.i18n import _
from portal.matters.codes import format_code, parse_code
from portal.settings import Settings

from plugins.counseling.notes_crypto import Cipher

__all__ = [
    "ATTENDANCE",
    "KINDS",
    "RISKS",
    "TOPICS",
    "CaseError",
    "Who",
    "add_referral",
    "case_for_author",
    "inform_matter",
    "open_case",
    "record_session",
    "update_session",
]

# Fixed vocabularies (domain labels shown as they are, like portal.matters.vocab).
KINDS: dict[str, str] = {"first": "首次咨询", "follow_up": "后续咨询", "group": "团体辅导"}
# The engine's service keys (booking.SERVICES; stored on booking rows, so as stable as data).
SERVICE_KIND = {"counseling.first": "first", "counseling.follow_up": "follow_up", "counseling.group": "group"}
SERVICE_KEYS = tuple(SERVICE_KIND)
ATTENDANCE: dict[str, str] = {"attended": "按时到访", "no_show": "未到访"}
TOPICS: dict[str, str] = {
    "family": "家庭关系", "work": "工作与就业", "neighbours": "邻里与纠纷", "grief": "丧失与哀伤",
    "stress": "压力与情绪", "other": "其他",
}
RISKS: dict[str, str] = {"none": "未见风险", "low": "低风险", "high": "高风险"}

MAX_NOTES = 10000
MAX_PLAN = 2000
MIN_MINUTES, MAX_MINUTES = 5, 480


class CaseError(Exception):
    """A request the case's state does not allow; the message is shown on the page."""


@dataclasses.dataclass(frozen=True)
class Who:
    """Who acts: the audit writer, the staff member, the settings (for the key) and the registry."""

    trail: AuditTrail
    user: Principal
    settings: Settings
    registry: Any = None


# ----------------------------------------------------------------------------- reading


async def load_case(case_id: int) -> dict | None:
    rows = await raw(
        "SELECT k.*, c.name AS center_name, c.path AS center_path, u.display_name AS counselor_name, "
        "b.code AS booking_code, b.phone AS booking_phone, b.starts_at AS booking_starts_at "
        "FROM counseling_case k JOIN center c ON c.id = k.center JOIN staff_user u ON u.id = k.counselor "
        "LEFT JOIN booking b ON b.id = k.booking WHERE k.id = {}",
        case_id,
    )
    return dict(rows[0]) if rows else None


async def case_for_author(user: Principal, case_id: int) -> dict:
    """Scope loader: the case, only for the counselor who keeps it. Anyone else — another
    counselor, a supervisor (who reads through review.py), the center or district admin — gets 404,
    exactly as for an id that does not exist."""
    case = await load_case(case_id)
    if case is None or case["counselor"] != user.user_id or not user.can("counseling.counsel"):
        raise NotFoundException()
    return case


async def my_cases(user: Principal, before: int | None, limit: int) -> list[dict]:
    where, args = ["k.counselor = {}"], [user.user_id]
    if before:
        where.append("k.id < {}")
        args.append(before)
    return [dict(r) for r in await raw(
        "SELECT k.id, k.client_label, k.opened_at, k.last_session_at, k.sessions, k.erased_at, c.name AS center_name "
        "FROM counseling_case k JOIN center c ON c.id = k.center WHERE " + " AND ".join(where)
        + f" ORDER BY k.id DESC LIMIT {int(limit)}",
        *args,
    )]


async def open_bookings(user: Principal, *, case_id: int | None = None) -> list[dict]:
    """The counselor's own counseling bookings that no session holds yet and no case other than
    ``case_id`` was opened from, newest first."""
    keys = sorted(SERVICE_KEYS)
    marks = ", ".join("{}" for _ in keys)
    return await raw(
        "SELECT b.id, b.code, b.service_key, b.starts_at, b.ends_at, b.name, b.phone, b.citizen, b.center, b.status "
        "FROM booking b JOIN booking_resource r ON r.id = b.resource "
        f"WHERE r.staff = {{}} AND b.service_key IN ({marks}) AND b.status IN ('booked', 'checked_in', 'no_show') "
        "AND NOT EXISTS (SELECT 1 FROM counseling_case k WHERE k.booking = b.id AND k.id <> {}) "
        "AND NOT EXISTS (SELECT 1 FROM counseling_session s WHERE s.booking = b.id) "
        "ORDER BY b.starts_at DESC LIMIT 100",
        user.user_id, *keys, case_id or 0,
    )


def booking_label(row: dict) -> str:
    service = KINDS.get(SERVICE_KIND.get(row["service_key"], ""), "")
    return f"{clock.local(_aware(row['starts_at'])):%Y-%m-%d %H:%M} {service} · {row['name'] or _('no name')} · {row['code']}"


def _aware(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


async def case_records(cipher: Cipher, case: dict) -> dict:
    """Everything the case page shows, decrypted (raises CounselingKeyError on a wrong key)."""
    case_id = case["id"]
    sessions = [dict(r) for r in await raw(
        "SELECT * FROM counseling_session WHERE case_id = {} ORDER BY held_at DESC, id DESC", case_id)]
    for row in sessions:
        content = cipher.decrypt_json(row["notes"], f"session:{case_id}", default={}) or {}
        row["topics"] = [TOPICS.get(t, t) for t in content.get("topics", [])]
        row["topic_keys"] = content.get("topics", [])
        row["risk"] = content.get("risk", "")
        row["risk_label"] = RISKS.get(content.get("risk", ""), "")
        row["text"] = content.get("notes", "")
        row["plan"] = content.get("plan", "")
    referrals = [dict(r) for r in await raw(
        "SELECT * FROM counseling_referral WHERE case_id = {} ORDER BY referred_on DESC, id DESC", case_id)]
    for row in referrals:
        details = cipher.decrypt_json(row["details"], f"referral:{case_id}", default={}) or {}
        row["institution"] = details.get("institution", "")
        row["reason"] = details.get("reason", "")
    reviews = [dict(r) for r in await raw(
        "SELECT v.id, v.reason, v.started_at, v.expires_at, u.display_name AS supervisor_name FROM counseling_review v "
        "JOIN staff_user u ON u.id = v.supervisor WHERE v.case_id = {} ORDER BY v.id DESC", case_id,
    )]
    for row in reviews:
        row["reason_text"] = cipher.decrypt(row["reason"], f"review:{case_id}")
    links = await raw("SELECT matter_code, informed_at FROM counseling_matter_link WHERE case_id = {} ORDER BY id", case_id)
    # The informed consent the client gave for one of the case's appointments, else on the case (consent.py).
    consent = await raw(
        "SELECT n.consented_at, n.version, n.booking FROM counseling_consent n WHERE n.booking = {} OR n.booking IN "
        "(SELECT s.booking FROM counseling_session s WHERE s.case_id = {} AND s.booking IS NOT NULL) "
        "ORDER BY n.consented_at LIMIT 1",
        case["booking"] or 0, case_id,
    )
    if not consent:
        consent = await raw("SELECT consented_at, version, NULL AS booking FROM counseling_case_consent WHERE case_id = {}", case_id)
    return {
        "client": cipher.decrypt(case["client_label"], f"case:{case_id}"),
        "sessions": sessions, "referrals": referrals, "reviews": reviews, "links": links,
        "consent": consent[0] if consent else None,
    }


async def existing_case_for_booking(user: Principal, booking_id: int) -> int | None:
    """The counselor's case of the same client (citizen or phone) as this booking, if any."""
    booking = await _own_booking(user, booking_id)
    if booking is None:
        return None
    return await _same_client_case(user, booking)


async def _same_client_case(user: Principal, booking: dict) -> int | None:
    rows = await raw(
        "SELECT k.id FROM counseling_case k JOIN booking b ON b.id = k.booking WHERE k.counselor = {} "
        "AND k.erased_at IS NULL AND ((b.citizen IS NOT NULL AND b.citizen = {}) OR (b.phone <> '' AND b.phone = {})) "
        "ORDER BY k.id DESC LIMIT 1",
        user.user_id, booking["citizen"], booking["phone"] or "-",
    )
    return rows[0]["id"] if rows else None


async def read_audited(who: Who, case: dict, *, via: str = "author") -> None:
    """Every read of a case's notes leaves an audit row (by the author or, via review, a supervisor)."""
    await who.trail("counseling.case_read", object_type="counseling_case", object_id=case["id"], center_id=case["center"],
                    fields=(via,))


# ----------------------------------------------------------------------------- parsing


def parse_day(value: str) -> dt.date | None:
    value = unicodedata.normalize("NFKC", value or "").strip().replace("/", "-")
    for fmt in ("%Y-%m-%d", "%Y年%m月%d日"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def local_text(value: dt.datetime | None) -> str:
    return clock.local(_aware(value)).strftime("%Y-%m-%d %H:%M") if value else ""


# ----------------------------------------------------------------------------- opening a case


async def _lock_case(case_id: int) -> dict:
    if current_engine().engine_type == "postgres":
        await raw("SELECT id FROM counseling_case WHERE id = {} FOR UPDATE", case_id)
    case = await load_case(case_id)
    if case is None:
        raise NotFoundException()
    return case


async def _own_booking(user: Principal, booking_id: int, case_id: int | None = None) -> dict | None:
    for row in await open_bookings(user, case_id=case_id):
        if row["id"] == booking_id:
            return row
    return None


async def open_case(who: Who, cipher: Cipher, values: dict) -> tuple[dict, int | None]:
    """Validate and create a case (inside the caller's transaction): returns (errors, case id)."""
    user = who.user
    errors: dict[str, str] = {}
    booking = None
    if values["booking"]:
        booking_id = int(values["booking"]) if values["booking"].isdigit() and len(values["booking"]) < 12 else 0
        booking = await _own_booking(user, booking_id)
        if booking is None:
            errors["booking"] = _("Choose one of your own counseling appointments from the list.")
    label = values["client"] or (booking["name"] if booking else "")
    if not values["booking"] and not values["client"]:
        errors["client"] = _("Choose the appointment, or write how the client wants to be called.")
    if len(values["client"]) > 40:
        errors["client"] = _("Keep the name or pseudonym to 40 characters.")
    if errors:
        return errors, None
    if booking is not None:
        earlier = await _same_client_case(user, booking)
        if earlier:
            errors["booking"] = _("This client already has a case with you (case %(id)s): record the session there.",
                                  id=earlier)
            return errors, None
    now = clock.now()
    case_id = await insert("counseling_case", {
        "center": booking["center"] if booking else user.center_id, "counselor": user.user_id,
        "citizen": booking["citizen"] if booking else None, "booking": booking["id"] if booking else None,
        "client_label": "", "opened_at": now, "last_session_at": None, "sessions": 0, "erased_at": None, "version": 1,
    })
    # The label's associated data names the case, so it is written once the id exists.
    await raw("UPDATE counseling_case SET client_label = {} WHERE id = {}", cipher.encrypt(label, f"case:{case_id}"), case_id)
    await who.trail("counseling.case_opened", object_type="counseling_case", object_id=case_id,
                    center_id=booking["center"] if booking else user.center_id, fields=("client_label",))
    return {}, case_id


# ----------------------------------------------------------------------------- sessions


@dataclasses.dataclass
class SessionForm:
    booking: str = ""
    held_at: str = ""
    duration: str = "50"
    kind: str = ""
    attendance: str = "attended"
    topics: list[str] = dataclasses.field(default_factory=list)
    risk: str = ""
    notes: str = ""
    plan: str = ""


async def _check_session(user: Principal, case: dict, form: SessionForm, *, current_booking: int | None) -> tuple[dict, dict]:
    """Errors by field, and the clean values."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {"booking": current_booking}
    booking = None
    if form.booking and (current_booking is None or form.booking != str(current_booking)):
        booking_id = int(form.booking) if form.booking.isdigit() and len(form.booking) < 12 else 0
        booking = await _own_booking(user, booking_id, case["id"])
        if booking is None:
            errors["booking"] = _("Choose one of your own counseling appointments from the list.")
        else:
            clean["booking"] = booking["id"]
    elif not form.booking:
        clean["booking"] = None
    held_at = parse_local_datetime(form.held_at)
    if held_at is None:
        errors["held_at"] = _("Enter the date and time like 2026-11-27 14:30.")
    elif held_at > clock.now() + dt.timedelta(minutes=5):
        errors["held_at"] = _("A session is recorded after it took place: the time cannot be in the future.")
    elif held_at < _aware(case["opened_at"]) - dt.timedelta(days=366):
        errors["held_at"] = _("The time is more than a year before the case was opened: check the year.")
    clean["held_at"] = held_at
    duration = form.duration.strip()
    if not duration.isdigit() or not MIN_MINUTES <= int(duration) <= MAX_MINUTES:
        errors["duration"] = _("Enter the length in minutes, from %(low)s to %(high)s.", low=MIN_MINUTES, high=MAX_MINUTES)
    else:
        clean["duration"] = int(duration)
    if form.kind not in KINDS:
        errors["kind"] = _("Choose the kind of session.")
    elif form.kind == "first" and form.attendance == "attended" and "booking" not in errors:
        # Informed consent comes before the first session (consent.py): no record of one without it.
        # A walk-in's case has no booking: then only the consent given on the case counts.
        from plugins.counseling.consent import case_consent_for, consent_for_any

        linked = [clean["booking"], case["booking"]]
        if await consent_for_any(linked) is None and await case_consent_for(case["id"]) is None:
            errors["kind"] = _("The client has not given informed consent yet: let them read and tick it (online, or on "
                               "your screen from the booking's page or the case's page) before the first session is recorded.")
    if form.attendance not in ATTENDANCE:
        errors["attendance"] = _("Choose whether the client came.")
    if any(topic not in TOPICS for topic in form.topics):
        errors["topics"] = _("Choose topics from the list.")
    if form.attendance == "attended" and form.risk not in RISKS:
        errors["risk"] = _("Choose the risk you assessed (none, low or high).")
    elif form.risk and form.risk not in RISKS:
        errors["risk"] = _("Choose the risk you assessed (none, low or high).")
    if len(form.notes) > MAX_NOTES:
        errors["notes"] = _("Keep the notes to %(n)s characters.", n=MAX_NOTES)
    if len(form.plan) > MAX_PLAN:
        errors["plan"] = _("Keep the plan to %(n)s characters.", n=MAX_PLAN)
    if case["erased_at"] is not None:
        errors["notes"] = _("This case's records were erased at the end of the retention period: open a new case.")
    return errors, clean


def _content(form: SessionForm) -> dict:
    return {"topics": [t for t in TOPICS if t in form.topics], "risk": form.risk, "notes": form.notes, "plan": form.plan}


async def _touch_case(case_id: int) -> None:
    """The case's counters and retention clock follow its sessions."""
    await raw(
        "UPDATE counseling_case SET sessions = (SELECT count(*) FROM counseling_session WHERE case_id = {}), "
        "last_session_at = (SELECT max(held_at) FROM counseling_session WHERE case_id = {}), version = version + 1 "
        "WHERE id = {}",
        case_id, case_id, case_id,
    )


async def record_session(who: Who, cipher: Cipher, case_id: int, form: SessionForm) -> tuple[dict, int | None]:
    case = await _lock_case(case_id)
    errors, clean = await _check_session(who.user, case, form, current_booking=None)
    if errors:
        return errors, None
    now = clock.now()
    session_id = await insert("counseling_session", {
        "case_id": case_id, "center": case["center"], "counselor": case["counselor"], "booking": clean["booking"],
        "kind": form.kind, "held_at": clean["held_at"], "duration_minutes": clean["duration"],
        "attendance": form.attendance, "notes": cipher.encrypt_json(_content(form), f"session:{case_id}"),
        "created_at": now, "updated_at": None, "erased_at": None, "version": 1,
    })
    await _touch_case(case_id)
    await who.trail("counseling.session_recorded", object_type="counseling_case", object_id=case_id, center_id=case["center"],
                    fields=("notes",))
    return {}, session_id


async def session_of(case_id: int, session_id: int) -> dict:
    rows = await raw("SELECT * FROM counseling_session WHERE id = {} AND case_id = {}", session_id, case_id)
    if not rows:
        raise NotFoundException()
    return rows[0]


def session_form_of(cipher: Cipher, case_id: int, row: dict) -> SessionForm:
    content = cipher.decrypt_json(row["notes"], f"session:{case_id}", default={}) or {}
    return SessionForm(
        booking=str(row["booking"] or ""), held_at=local_text(row["held_at"]), duration=str(row["duration_minutes"]),
        kind=row["kind"], attendance=row["attendance"], topics=list(content.get("topics", [])),
        risk=content.get("risk", ""), notes=content.get("notes", ""), plan=content.get("plan", ""),
    )


async def update_session(who: Who, cipher: Cipher, case_id: int, session_id: int, form: SessionForm,
                         version: int | None) -> dict:
    case = await _lock_case(case_id)
    row = await session_of(case_id, session_id)
    errors, clean = await _check_session(who.user, case, form, current_booking=row["booking"])
    if errors:
        return errors
    if row["erased_at"] is not None:
        return {"notes": _("This session's notes were erased at the end of the retention period.")}
    updated = await raw(
        "UPDATE counseling_session SET booking = {}, kind = {}, held_at = {}, duration_minutes = {}, attendance = {}, "
        "notes = {}, updated_at = {}, version = version + 1 WHERE id = {} AND version = {} AND erased_at IS NULL RETURNING id",
        clean["booking"], form.kind, clean["held_at"], clean["duration"], form.attendance,
        cipher.encrypt_json(_content(form), f"session:{case_id}"), clock.now(), session_id,
        version if version is not None else row["version"],
    )
    if not updated:
        return {"notes": _("The session was changed in another window a moment ago. Reload it and make your change again.")}
    await _touch_case(case_id)
    await who.trail("counseling.session_updated", object_type="counseling_case", object_id=case_id, center_id=case["center"],
                    fields=("notes",))
    return {}


# ----------------------------------------------------------------------------- referrals


async def add_referral(who: Who, cipher: Cipher, case_id: int, values: dict) -> dict:
    case = await _lock_case(case_id)
    errors: dict[str, str] = {}
    if not values["institution"]:
        errors["institution"] = _("Write the medical institution the client is referred to.")
    elif len(values["institution"]) > 100:
        errors["institution"] = _("Keep the institution's name to 100 characters.")
    if not values["reason"]:
        errors["reason"] = _("Write why you refer the client (what you observed, not a diagnosis).")
    elif len(values["reason"]) > 1000:
        errors["reason"] = _("Keep the reason to 1000 characters.")
    day = parse_day(values["referred_on"])
    today = clock.local(clock.now()).date()
    if day is None:
        errors["referred_on"] = _("Enter the date like 2026-11-27.")
    elif day > today:
        errors["referred_on"] = _("The referral date cannot be in the future.")
    elif day < today - dt.timedelta(days=366):
        errors["referred_on"] = _("The date is more than a year ago: check the year.")
    if values["agreed"] not in ("yes", "no"):
        errors["agreed"] = _("Say whether the client agreed to the referral.")
    if case["erased_at"] is not None:
        errors["reason"] = _("This case's records were erased at the end of the retention period: open a new case.")
    if errors:
        return errors
    await insert("counseling_referral", {
        "case_id": case_id, "center": case["center"], "counselor": case["counselor"], "referred_on": day,
        "client_agreed": values["agreed"] == "yes",
        "details": cipher.encrypt_json({"institution": values["institution"], "reason": values["reason"]}, f"referral:{case_id}"),
        "created_at": clock.now(), "erased_at": None,
    })
    await who.trail("counseling.referral_recorded", object_type="counseling_case", object_id=case_id, center_id=case["center"],
                    fields=("details",))
    return {}


# ----------------------------------------------------------------------------- the one link to a matter


async def inform_matter(who: Who, case_id: int, values: dict) -> tuple[dict, str]:
    """Tell a matter only that the citizen was referred to counseling (the citizen agreed).

    Goes through core's public transition (``portal.matters.service.act``, action ``note``): an
    internal timeline note, with a neutral actor label, carrying no name, time, counselor or
    content of the counseling. Returns (errors, the formatted tracking code).
    """
    from portal.matters.service import Ctx, MatterError, act

    case = await _lock_case(case_id)
    errors: dict[str, str] = {}
    code = parse_code(values["code"])
    matter = None
    if code is None:
        errors["code"] = _("Enter the matter's tracking code (12 characters, as on the citizen's receipt).")
    else:
        rows = await raw("SELECT id, code, center_path FROM matter WHERE code = {}", code)
        # Unknown and out-of-scope codes get the same answer: the counselor learns nothing about matters.
        if not rows or not in_scope(who.user, rows[0]["center_path"]):
            errors["code"] = _("No matter with this tracking code is handled at your center or below it.")
        else:
            matter = rows[0]
    if not values["agreed"]:
        errors["agreed"] = _("Tick this only if the client agreed that the matter may show the referral.")
    if errors:
        return errors, ""
    already = await raw("SELECT 1 FROM counseling_matter_link WHERE case_id = {} AND matter = {}", case_id, matter["id"])
    if already:
        return {"code": _("This matter has already been told.")}, ""
    ctx = Ctx(trail=who.trail, registry=who.registry, user_id=who.user.user_id, user_label="心理咨询室")
    try:
        await act(ctx, matter["id"], "note", {"note": "已转介心理咨询", "public": ""})
    except MatterError as problem:
        return {"code": str(problem)}, ""
    await insert("counseling_matter_link", {
        "case_id": case_id, "matter": matter["id"], "matter_code": format_code(matter["code"]),
        "informed_at": clock.now(), "informed_by": who.user.user_id,
    })
    await who.trail("counseling.matter_informed", object_type="counseling_case", object_id=case_id, center_id=case["center"])
    return {}, format_code(matter["code"])
