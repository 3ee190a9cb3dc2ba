"""Legal-aid applications (法律援助法 2021, Arts. 31–49): every step, each in one transaction.

The steps and their clocks:

* **Received** (online by a signed-in citizen, or registered at the window). ``received_at`` is the
  first receipt and is kept. A provisional decision due date runs from it: if the application is
  complete as received, that is the statutory clock.
* **Request missing materials — once** (Art. 43 ¶2: 一次性告知申请人需要补充的材料): one request
  listing every missing item; a second request is refused. While the applicant supplies, no
  decision clock runs (``decision_due_at`` empty); the applicant has ``materials_days`` (default
  15 calendar days, the last day moved past a holiday) and is then **deemed to have withdrawn**
  (the job ``legal_aid.deemed_withdrawn``).
* **Complete**. Our reading of Art. 43 "自收到法律援助申请之日起七日内": the 7 days run from the
  receipt of a *complete* application — the receipt itself when nothing was missing, the day the
  materials arrived otherwise (``complete_at``). Requesting materials therefore restarts the clock
  from the supply, never from the staff member's click.
* **Decide** within ``decision_days`` (7) days; **grant** → assign a legal-aid worker (a lawyer
  profile of the center or above, or a named external worker) within ``assign_days`` (3) days of the
  decision; **refuse** → a numbered written notice with the reasons and the objection route of
  Art. 49, and the applicant is told by SMS (and in-app when signed in).

Whether "日" means calendar or working days is not settled by the statute (domain.md §2): each
center chooses (``legal_aid_policy.day_kind``), working days by default as the local rules do.
Both count on the shared working calendar (``portal.matters.calendar``, ``portal.matters.clock``):
the start day is not counted and a period ends at the end of its last day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from string import Template

from portal import clock
from portal.audit.chain import AuditTrail
from portal.clock import TZ_CN
from portal.db import current_engine, raw, write_transaction
from portal.i18n import _
from portal.idnumbers import id_number_problem, normalize_id_number
from portal.matters.calendar import WorkingCalendar, load_calendar
from portal.matters.clock import Rule, deadline
from portal.matters.codes import format_code, new_code
from portal.notify.outbox import queue_inapp, queue_sms
from portal.web.forms import normalize_phone


__all__ = [
    "DAY_KINDS",
    "EVENT_LABELS",
    "HARDSHIP_MODES",
    "MATERIALS",
    "MATTER_TYPES",
    "NATIONAL_CATEGORIES",
    "ON_BEHALF",
    "OPEN_STATUSES",
    "STATUS_LABELS",
    "ApplicationError",
    "Who",
    "application_values",
    "as_dt",
    "assign",
    "citizen_url",
    "clean",
    "clock_text",
    "create_application",
    "decide",
    "load_policy",
    "local_date_text",
    "mark_complete",
    "request_materials",
    "supply_materials",
    "validate",
    "withdraw_overdue",
]

# Art. 31: the civil and administrative matters legal aid covers (Chinese domain terms, as data).
MATTER_TYPES: dict[str, str] = {
    "state_compensation": "依法请求国家赔偿",
    "social_insurance": "请求给予社会保险待遇或者社会救助",
    "pension": "请求发给抚恤金",
    "support": "请求给付赡养费、抚养费、扶养费",
    "labour": "请求确认劳动关系或者支付劳动报酬",
    "incapacity": "请求认定公民无民事行为能力或者限制民事行为能力",
    "injury": "请求工伤事故、交通事故、食品药品安全事故、医疗事故人身损害赔偿",
    "environment": "请求环境污染、生态破坏损害赔偿",
    "other": "法律、法规、规章规定的其他情形",
}

# Art. 42 (no check of economic hardship, with proof of belonging) and Art. 32 (no hardship
# condition at all). A province may add or reword: ``legal_aid_policy.exemption_categories``.
NATIONAL_CATEGORIES: tuple[str, ...] = (
    "无固定生活来源的未成年人、老年人、残疾人等特定群体（第四十二条）",
    "社会救助、司法救助或者优抚对象（第四十二条）",
    "申请支付劳动报酬或者请求工伤事故人身损害赔偿的进城务工人员（第四十二条）",
    "英雄烈士近亲属为维护英雄烈士的人格权益（第三十二条）",
    "因见义勇为行为主张相关民事权益（第三十二条）",
    "再审改判无罪请求国家赔偿（第三十二条）",
    "遭受虐待、遗弃或者家庭暴力的受害人主张相关权益（第三十二条）",
)

# What a request for missing materials may list (plus free text).
MATERIALS: dict[str, str] = {
    "identity": "申请人身份证明（居民身份证或户口簿）",
    "agent": "代理人身份证明及代理关系证明（如监护关系证明）",
    "hardship": "经济困难状况说明或个人诚信承诺书（签名）",
    "exemption": "免予核查经济困难状况的证明（如低保证、特困供养证、残疾证）",
    "matter": "与申请事项有关的材料（合同、欠条、劳动关系证明、判决书等）",
    "form": "签名的法律援助申请表",
}

STATUS_LABELS: dict[str, str] = {
    "received": "已收到，待审查",
    "materials_requested": "待补充材料",
    "complete": "材料齐全，待决定",
    "granted": "给予法律援助，待指派",
    "assigned": "已指派法律援助人员",
    "refused": "不予法律援助",
    "withdrawn": "视为撤回申请",
}
OPEN_STATUSES = ("received", "materials_requested", "complete", "granted")
ON_BEHALF = {"self": "本人申请", "representative": "法定代理人代为申请（第四十条）"}
HARDSHIP_MODES = {"statement": "经济困难状况说明和个人诚信承诺（第四十一条）",
                  "exempt": "属于免予核查或不受经济困难条件限制的人员（第三十二条、第四十二条）"}
DAY_KINDS = {"working": "工作日", "calendar": "自然日"}
EVENT_LABELS: dict[str, str] = {
    "received": "收到申请",
    "complete": "确认材料齐全",
    "materials_requested": "一次性告知补充材料",
    "materials_supplied": "收到补充材料",
    "granted": "决定给予法律援助",
    "refused": "决定不予法律援助",
    "assigned": "指派法律援助人员",
    "withdrawn": "逾期未补充材料，视为撤回",
}

DEFAULT_POLICY = {"day_kind": "working", "decision_days": 7, "assign_days": 3, "materials_days": 15, "exemption_categories": ""}
MAX_DECISION_DAYS, MAX_ASSIGN_DAYS = 7, 3  # a center may shorten the statutory limits, never lengthen them

NOTICE_TITLE = "不予法律援助决定书"
NOTICE_TEMPLATE = (
    "$applicant：\n"
    "你于$received向本中心提出的法律援助申请（事项：$matter_type；申请编号：$code）已经审查。"
    "经审查，你的申请不符合法律援助条件，理由如下：\n$reasons\n"
    "根据《中华人民共和国法律援助法》第四十三条的规定，决定不予法律援助。\n"
    "如对本决定有异议，可以向设立法律援助机构的司法行政部门提出。司法行政部门应当自收到异议之日起五日内进行审查，"
    "作出维持法律援助机构决定或者责令法律援助机构改正的决定。对司法行政部门维持决定不服的，可以依法申请行政复议"
    "或者提起行政诉讼（《中华人民共和国法律援助法》第四十九条）。\n"
    "特此通知。"
)


class ApplicationError(Exception):
    """A step the rules refuse; ``message`` is shown on the page, at ``field``."""

    def __init__(self, message: str, field: str = "action"):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Who:
    """Who acts: the audit writer, the staff id (None for the applicant or the system)."""

    trail: AuditTrail
    user_id: int | None = None


def _pg() -> bool:
    return current_engine().engine_type == "postgres"


def as_dt(value) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def local_date_text(value) -> str:
    moment = as_dt(value)
    if moment is None:
        return ""
    day = moment.astimezone(TZ_CN).date()
    return f"{day.year}年{day.month}月{day.day}日"


# ----------------------------------------------------------------------------- policy


def _ancestor_ids(center: dict) -> list[int]:
    return [int(part) for part in center["path"].strip("/").split("/") if part]


async def load_policy(center: dict) -> dict:
    """The center's rules: its own row (or the defaults); the exemption categories from the
    nearest center up the tree that sets them (a district sets them for its townships), else the
    national lists."""
    ids = _ancestor_ids(center)
    marks = ", ".join("{}" for _ in ids)
    rows = {row["center"]: row for row in await raw(f"SELECT * FROM legal_aid_policy WHERE center IN ({marks})", *ids)}
    own = rows.get(center["id"])
    policy = {key: (own[key] if own else default) for key, default in DEFAULT_POLICY.items()}
    policy["categories"], policy["categories_from"] = list(NATIONAL_CATEGORIES), ""
    for cid in reversed(ids):
        text = (rows.get(cid) or {}).get("exemption_categories") or ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            policy["categories"], policy["categories_from"] = lines, cid
            break
    return policy


def decision_rule(policy: dict) -> Rule:
    return Rule(int(policy["decision_days"]), policy["day_kind"], "法律援助审查决定", "《法律援助法》第四十三条")


def assign_rule(policy: dict) -> Rule:
    return Rule(int(policy["assign_days"]), policy["day_kind"], "指派法律援助人员", "《法律援助法》第四十三条")


def materials_rule(policy: dict) -> Rule:
    # The applicant's period: calendar days (the last day moved past a holiday), like the
    # petitioner's periods in portal.matters.clock.
    return Rule(int(policy["materials_days"]), "calendar", "补充材料", "《法律援助法》第四十三条第二款")


def clock_text(due_at, day_kind: str, now: dt.datetime, calendar: WorkingCalendar) -> tuple[str, str]:
    """(state, text): ``overdue`` 「已超期 N 天」, ``due_soon`` 「今日到期」 or ``on_track``
    「剩余 N 个工作日」/「剩余 N 天」; ``none`` when no clock runs."""
    due = as_dt(due_at)
    if due is None:
        return "none", ""
    today = now.astimezone(TZ_CN).date()
    due_day = due.astimezone(TZ_CN).date()
    if now > due:
        return "overdue", _("Overdue by %(n)s day(s)", n=max(1, (today - due_day).days))
    if due_day == today:
        return "due_soon", _("Due today")
    if day_kind == "working":
        left = calendar.working_days_between(today, due_day)
        return ("due_soon" if left <= 1 else "on_track"), _("%(n)s working day(s) left", n=left)
    left = (due_day - today).days
    return ("due_soon" if left <= 1 else "on_track"), _("%(n)s day(s) left", n=left)


# ----------------------------------------------------------------------------- validation


def application_values(form) -> dict:
    """The application fields of a submitted form (trimmed, lengths capped, nothing dropped)."""
    values = {
        "applicant_name": form.str("applicant_name", 64),
        "id_number": form.str("id_number", 30),
        "phone": form.str("phone", 30),
        "address": form.str("address", 200),
        "on_behalf": form.str("on_behalf", 16) or "self",
        "represented_name": form.str("represented_name", 64),
        "represented_id_number": form.str("represented_id_number", 30),
        "relationship": form.str("relationship", 32),
        "matter_type": form.str("matter_type", 32),
        "description": form.str("description", 2000),
        "hardship_mode": form.str("hardship_mode", 12),
        "hardship_statement": form.str("hardship_statement", 2000),
        "pledge": "1" if form.flag("pledge") else "",
        "exemption_category": form.str("exemption_category", 100),
    }
    return values


def _id_error(value: str) -> str | None:
    problem = id_number_problem(value)
    if problem is None:
        return None
    if problem == "length":
        text = "".join(ch for ch in value if not ch.isspace())
        return _("An ID number has 18 characters; this one has %(n)s. Check it against the ID card.", n=len(text))
    if problem == "characters":
        return _("An ID number is 17 digits followed by a digit or X. Check it against the ID card.")
    if problem == "birth_date":
        return _("The birth date inside the ID number (characters 7 to 14) is not a real date. Check it against the ID card.")
    return _("The ID number does not add up (its last character does not match). Check each digit against the ID card.")


def validate(values: dict, policy: dict, *, phone_required: bool = True) -> dict:
    """Errors by field (specific Chinese messages); an empty dict when the application may be saved."""
    errors: dict[str, str] = {}
    if not values["applicant_name"]:
        errors["applicant_name"] = _("Enter the applicant's full name as on the ID card.")
    if not values["id_number"]:
        errors["id_number"] = _("Enter the applicant's 18-character ID number.")
    elif (problem := _id_error(values["id_number"])):
        errors["id_number"] = problem
    if not values["phone"] and phone_required:
        errors["phone"] = _("Enter an 11-digit mobile number, for example 138 0000 0000.")
    elif values["phone"] and normalize_phone(values["phone"]) is None:
        errors["phone"] = _("Enter an 11-digit mobile number, for example 138 0000 0000.")
    if not values["address"]:
        errors["address"] = _("Enter the applicant's address (where letters reach them).")
    if values["on_behalf"] not in ON_BEHALF:
        errors["on_behalf"] = _("Choose who is applying.")
    elif values["on_behalf"] == "representative":
        if not values["represented_name"]:
            errors["represented_name"] = _("Enter the name of the person the application is for.")
        if values["represented_id_number"] and (problem := _id_error(values["represented_id_number"])):
            errors["represented_id_number"] = problem
        if not values["relationship"]:
            errors["relationship"] = _("Enter how the applicant is related to that person, for example 父亲 or 监护人.")
    if values["matter_type"] not in MATTER_TYPES:
        errors["matter_type"] = _("Choose the kind of matter legal aid is asked for.")
    if not values["description"]:
        errors["description"] = _("Describe the matter in a few sentences: what happened and what you ask for.")
    if values["hardship_mode"] not in HARDSHIP_MODES:
        errors["hardship_mode"] = _("Choose how the economic hardship is shown.")
    elif values["hardship_mode"] == "statement":
        if not values["hardship_statement"]:
            errors["hardship_statement"] = _("Describe the household's income and assets, and why you cannot pay a lawyer.")
        if not values["pledge"]:
            errors["pledge"] = _("Tick the personal integrity pledge: legal aid relies on the statement being true.")
    elif values["exemption_category"] not in policy["categories"]:
        errors["exemption_category"] = _("Choose the category the applicant belongs to.")
    return errors


def clean(values: dict) -> dict:
    """The stored form of valid values (normalised numbers; fields of the other choices emptied)."""
    row = dict(values)
    row["id_number"] = normalize_id_number(values["id_number"])
    row["phone"] = normalize_phone(values["phone"]) or ""
    if values["on_behalf"] == "representative":
        row["represented_id_number"] = normalize_id_number(values["represented_id_number"]) or ""
    else:
        row["represented_name"] = row["represented_id_number"] = row["relationship"] = ""
    if values["hardship_mode"] == "statement":
        row["exemption_category"] = ""
    else:
        row["hardship_statement"], row["pledge"] = "", ""
    row["pledge"] = bool(row["pledge"])
    return row


# ----------------------------------------------------------------------------- shared steps


async def _event(application_id: int, kind: str, who: Who, note: str = "") -> None:
    await raw("INSERT INTO legal_aid_event (application, kind, note, actor, at) VALUES ({}, {}, {}, {}, {})",
              application_id, kind, note, who.user_id, clock.now())


def citizen_url(center_code: str, code: str) -> str:
    return f"/m/legal_aid/c/{center_code}/applications/{code}"


async def _center(center_id: int) -> dict:
    return (await raw("SELECT id, code, name, path, phone FROM center WHERE id = {}", center_id))[0]


async def _tell(app: dict, center: dict, text: str, kind: str) -> None:
    """SMS to the applicant's mobile and an in-app message to their citizen account (if any)."""
    phone = normalize_phone(app["phone"] or "")
    if phone:
        await queue_sms(phone, f"【{center['name']}】{text}", kind=kind, citizen=app["citizen"], center=center["id"])
    if app["citizen"]:
        await queue_inapp(body=text, kind=kind, citizen=app["citizen"], center=center["id"],
                          link=citizen_url(center["code"], app["code"]))


async def _load(application_id: int) -> dict:
    suffix = " FOR UPDATE" if _pg() else ""
    rows = await raw(f"SELECT * FROM legal_aid_application WHERE id = {{}}{suffix}", application_id)
    if not rows:
        raise LookupError("no such application")
    return rows[0]


async def _move(app: dict, changes: dict) -> None:
    """Conditional update on the status read: a concurrent step that moved it first wins, this one
    is refused (the same row is never moved twice from one state)."""
    sets = ", ".join(f"{column} = {{}}" for column in changes)
    rows = await raw(
        f"UPDATE legal_aid_application SET {sets}, version = version + 1 WHERE id = {{}} AND status = {{}} RETURNING id",
        *changes.values(), app["id"], app["status"],
    )
    if not rows:
        raise ApplicationError(_("Someone else has just changed this application. Reload the page and check its state."))


# ----------------------------------------------------------------------------- creating


async def create_application(who: Who, center: dict, values: dict, documents: list[dict], *, channel: str,
                             citizen_id: int | None) -> dict:
    """Insert a valid application with its documents (inside the caller's ``create_once``
    transaction); the applicant is told the reference code by SMS."""
    policy = await load_policy(center)
    calendar = await load_calendar()
    now = clock.now()
    row = clean(values)
    if citizen_id is None and row["phone"]:
        # Registered at the window for someone who has a citizen account: they follow it online too.
        found = await raw("SELECT id FROM citizen WHERE phone = {}", row["phone"])
        citizen_id = found[0]["id"] if found else None
    while True:
        code = new_code()
        if not await raw("SELECT 1 FROM legal_aid_application WHERE code = {}", code):
            break
    inserted = await raw(
        "INSERT INTO legal_aid_application (center, code, channel, citizen, applicant_name, id_number, phone, address, "
        "on_behalf, represented_name, represented_id_number, relationship, matter_type, description, hardship_mode, "
        "hardship_statement, pledge, exemption_category, status, day_kind, received_at, decision_due_at, created_by) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'received', {}, {}, {}, {}) "
        "RETURNING *",
        center["id"], code, channel, citizen_id, row["applicant_name"], row["id_number"], row["phone"], row["address"],
        row["on_behalf"], row["represented_name"], row["represented_id_number"], row["relationship"], row["matter_type"],
        row["description"], row["hardship_mode"], row["hardship_statement"], row["pledge"], row["exemption_category"],
        policy["day_kind"], now, deadline(now, decision_rule(policy), calendar), who.user_id,
    )
    app = inserted[0]
    await _store_documents(app["id"], documents, "initial")
    await _event(app["id"], "received", who, _("Online application") if channel == "online" else _("Registered at the window"))
    await who.trail("legal_aid.application_received", object_type="legal_aid_application", object_id=app["id"],
                    center_id=center["id"])
    center_row = await _center(center["id"])
    await _tell(app, center_row, _("Your legal-aid application has been received. Reference %(code)s. We will tell you "
                                   "the decision.", code=format_code(code)), "legal_aid_received")
    return app


async def _store_documents(application_id: int, documents: list[dict], stage: str) -> None:
    for doc in documents:
        await raw(
            "INSERT INTO legal_aid_document (application, sha256, filename, content_type, size, stage, uploaded_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {})",
            application_id, doc["sha256"], doc["filename"][-200:], doc["content_type"], int(doc["size"]), stage, clock.now(),
        )


# ----------------------------------------------------------------------------- the steps


async def mark_complete(who: Who, application_id: int) -> dict:
    """Nothing is missing: the application counts as complete from its first receipt."""
    async with write_transaction():
        app = await _load(application_id)
        if app["status"] != "received":
            raise ApplicationError(_("Only an application waiting for review can be confirmed as complete."))
        await _move(app, {"status": "complete", "complete_at": as_dt(app["received_at"])})
        await _event(app["id"], "complete", who)
        await who.trail("legal_aid.application_complete", object_type="legal_aid_application", object_id=app["id"],
                        center_id=app["center"])
    return app


async def request_materials(who: Who, application_id: int, items: list[str], other: str) -> dict:
    """The one request for missing materials (Art. 43 ¶2), listing all of them."""
    async with write_transaction():
        app = await _load(application_id)
        if app["materials_requested_at"] is not None:
            raise ApplicationError(_("Missing materials may be requested only once, listing all of them; this application's "
                                     "request was sent on %(date)s.", date=local_date_text(app["materials_requested_at"])))
        if app["status"] != "received":
            raise ApplicationError(_("Materials can be requested only before the application is confirmed complete or decided."))
        chosen = [MATERIALS[key] for key in items if key in MATERIALS]
        if other:
            chosen.append(other)
        if not chosen:
            raise ApplicationError(_("Tick every missing item, or describe it under 'Other'."), "items")
        center = await _center(app["center"])
        policy = await load_policy(center)
        now = clock.now()
        due = deadline(now, materials_rule(policy), await load_calendar())
        listing = "\n".join(chosen)
        await _move(app, {"status": "materials_requested", "materials_requested_at": now, "materials_items": listing,
                          "materials_due_at": due, "decision_due_at": None})
        await _event(app["id"], "materials_requested", who, listing)
        await who.trail("legal_aid.materials_requested", object_type="legal_aid_application", object_id=app["id"],
                        center_id=app["center"], fields=("materials_items",))
        await _tell(app, center, _("Your legal-aid application %(code)s needs more materials (%(n)s item(s)). Supply them by "
                                   "%(date)s online or at the center, or it is deemed withdrawn.",
                                   code=format_code(app["code"]), n=len(chosen), date=local_date_text(due)),
                    "legal_aid_materials")
    return app


async def supply_materials(who: Who, application_id: int, documents: list[dict], note: str = "") -> dict:
    """The requested materials arrived (uploaded by the applicant, or handed in at the window):
    the application is complete now and the decision clock starts."""
    async with write_transaction():
        app = await _load(application_id)
        if app["status"] != "materials_requested":
            raise ApplicationError(_("This application is not waiting for materials."))
        center = await _center(app["center"])
        policy = await load_policy(center)
        now = clock.now()
        due = deadline(now, decision_rule(policy), await load_calendar())
        await _move(app, {"status": "complete", "materials_supplied_at": now, "complete_at": now, "decision_due_at": due})
        await _store_documents(app["id"], documents, "supplement")
        text = note or (_("%(n)s file(s) uploaded", n=len(documents)) if documents else "")
        await _event(app["id"], "materials_supplied", who, text)
        await who.trail("legal_aid.materials_supplied", object_type="legal_aid_application", object_id=app["id"],
                        center_id=app["center"])
    return app


async def decide(who: Who, application_id: int, outcome: str, reasons: str, *, center: dict) -> dict:
    """Grant (the assignment clock starts) or refuse (numbered written notice, applicant told)."""
    async with write_transaction():
        app = await _load(application_id)
        if app["status"] not in ("received", "complete"):
            raise ApplicationError(_("This application cannot be decided in its present state."))
        if outcome not in ("grant", "refuse"):
            raise ApplicationError(_("Choose to grant or to refuse legal aid."), "outcome")
        if outcome == "refuse" and len(reasons) < 10:
            raise ApplicationError(_("Write the reasons for the refusal (at least 10 characters): the applicant may object "
                                     "to them."), "reasons")
        policy = await load_policy(center)
        calendar = await load_calendar()
        now = clock.now()
        due = as_dt(app["decision_due_at"])
        late = due is not None and now > due
        changes = {"decided_at": now, "decided_by": who.user_id, "decided_late": late}
        if app["status"] == "received":
            changes["complete_at"] = as_dt(app["received_at"])  # decided as received: it was complete then
        if outcome == "grant":
            changes.update(status="granted", assign_due_at=deadline(now, assign_rule(policy), calendar))
            await _move(app, changes)
            await _event(app["id"], "granted", who, reasons)
            text = _("Legal aid has been granted for your application %(code)s. We will tell you who will help you.",
                     code=format_code(app["code"]))
        else:
            changes.update(status="refused", refusal_reasons=reasons)
            await _move(app, changes)
            number = await _issue_notice(who, app, center, reasons)
            await _event(app["id"], "refused", who, number)
            text = _("Your legal-aid application %(code)s was not granted. Collect the written notice at the center or read it "
                     "online; it says how to object.", code=format_code(app["code"]))
        await who.trail(f"legal_aid.application_{'granted' if outcome == 'grant' else 'refused'}",
                        object_type="legal_aid_application", object_id=app["id"], center_id=app["center"])
        await _tell(app, await _center(app["center"]), text, f"legal_aid_{outcome}")
    return app


async def assign(who: Who, application_id: int, *, lawyer: dict | None, external: str) -> dict:
    """Assign the legal-aid worker: a lawyer profile or a named external worker."""
    async with write_transaction():
        app = await _load(application_id)
        if app["status"] != "granted":
            raise ApplicationError(_("A legal-aid worker is assigned once legal aid has been granted."))
        if (lawyer is None) == (not external):
            raise ApplicationError(_("Choose one lawyer from the list, or enter the name of an external legal-aid worker."),
                                   "lawyer")
        now = clock.now()
        due = as_dt(app["assign_due_at"])
        await _move(app, {"status": "assigned", "assigned_at": now, "assigned_lawyer": lawyer["id"] if lawyer else None,
                          "assigned_external": external, "assigned_late": due is not None and now > due})
        name = f"{lawyer['display_name']}（{lawyer['firm']}）" if lawyer else external
        await _event(app["id"], "assigned", who, name)
        await who.trail("legal_aid.application_assigned", object_type="legal_aid_application", object_id=app["id"],
                        center_id=app["center"], fields=("assigned_lawyer", "assigned_external"))
        text = _("Your legal-aid application %(code)s: %(name)s will help you and will contact you.",
                 code=format_code(app["code"]), name=lawyer["display_name"] if lawyer else external)
        await _tell(app, await _center(app["center"]), text, "legal_aid_assigned")
    return app


async def withdraw_overdue(who: Who, center_ids: list[int], now: dt.datetime) -> int:
    """Applications whose materials period ran out: deemed withdrawn (Art. 43 ¶2), each in its own
    transaction, claimed by the conditional status update (two runs never withdraw one twice)."""
    if not center_ids:
        return 0
    marks = ", ".join("{}" for _ in center_ids)
    rows = await raw(
        "SELECT id FROM legal_aid_application WHERE status = 'materials_requested' AND materials_due_at < {} "
        f"AND center IN ({marks}) ORDER BY id LIMIT 500", now, *center_ids,
    )
    count = 0
    for row in rows:
        async with write_transaction():
            claimed = await raw(
                "UPDATE legal_aid_application SET status = 'withdrawn', withdrawn_at = {}, version = version + 1 "
                "WHERE id = {} AND status = 'materials_requested' AND materials_due_at < {} RETURNING *",
                now, row["id"], now,
            )
            if not claimed:
                continue
            app = claimed[0]
            await _event(app["id"], "withdrawn", who)
            await who.trail("legal_aid.application_withdrawn", object_type="legal_aid_application", object_id=app["id"],
                            center_id=app["center"])
            await _tell(app, await _center(app["center"]),
                        _("Your legal-aid application %(code)s is deemed withdrawn: the materials did not arrive in time. "
                          "You may apply again.", code=format_code(app["code"])), "legal_aid_withdrawn")
            count += 1
    return count


# ----------------------------------------------------------------------------- notices


async def _issue_notice(who: Who, app: dict, center: dict, reasons: str) -> str:
    """Number the notice per center and year without gaps (the conditional UPDATE … RETURNING of
    the counter queues concurrent issuers; a rollback gives the number back)."""
    now = clock.now()
    year = now.astimezone(TZ_CN).year
    await raw("INSERT INTO legal_aid_notice_counter (center, year, last) VALUES ({}, {}, 0) "
              "ON CONFLICT (center, year) DO NOTHING", center["id"], year)
    seq = (await raw("UPDATE legal_aid_notice_counter SET last = last + 1 WHERE center = {} AND year = {} RETURNING last",
                     center["id"], year))[0]["last"]
    number = f"{center['name']}法援不字〔{year}〕第{seq}号"
    body = Template(NOTICE_TEMPLATE).safe_substitute(
        applicant=app["applicant_name"], received=local_date_text(app["received_at"]),
        matter_type=MATTER_TYPES.get(app["matter_type"], ""), code=format_code(app["code"]), reasons=reasons,
    )
    await raw(
        "INSERT INTO legal_aid_notice (application, center, kind, year, seq, number, title, body, issued_at, issued_by) "
        "VALUES ({}, {}, 'refusal', {}, {}, {}, {}, {}, {}, {})",
        app["id"], center["id"], year, seq, number, NOTICE_TITLE, body, now, who.user_id,
    )
    return number



