"""The duty lawyer's consultation log: vocabularies, masking, reading and writing entries.

Who reads what: a lawyer reads and edits their own entries only (anything else is 404, like an
id that does not exist); the center admin and leader read counts without any personal detail
(``summary``); the audit viewer reads the entries of the centers in scope, each read audited.

The numbers page (LA1's ``numbers.py``) reads :func:`consultation_counts`.
Hand-over to the window (:func:`application_prefill`): the window's legal-aid application form
may be opened with ``?consultation=<id>`` and call ``application_prefill(user, id)`` for the
applicant's name, phone and a description carried over from the consultation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import unicodedata

from litestar.exceptions import NotFoundException

from portal import clock
from portal.centers.scope import in_scope, prefix_range
from portal.db import raw

__all__ = [
    "CHANNELS",
    "ROUTES",
    "TOPICS",
    "Entry",
    "application_prefill",
    "consultation_counts",
    "entry_for_author",
    "entry_for_auditor",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "month_bounds",
    "scrub",
    "today",
]

# The topics a duty lawyer sorts a consultation under (the dispute types a 综治中心 sees most;
# Art. 31 legal-aid matters among them). Labels are domain terms, data rather than UI wording.
TOPICS: dict[str, str] = {
    "labour": "劳动与工资",
    "family": "婚姻家庭",
    "neighbour": "邻里与土地",
    "contract": "合同与债务",
    "traffic": "交通事故",
    "injury": "工伤",
    "medical": "医疗纠纷",
    "property": "房产与征收拆迁",
    "admin": "行政争议",
    "criminal": "刑事",
    "consumer": "消费纠纷",
    "other": "其他",
}

CHANNELS: dict[str, str] = {
    "walk_in": "来访",
    "booked": "预约",
    "phone": "来电",
    "letter": "来信",
    "online": "网上",
}

# Where the lawyer steers the person (诉访分离: litigation goes to the courts, not the petition office).
ROUTES: dict[str, str] = {
    "mediation": "调解",
    "litigation": "诉讼",
    "arbitration": "仲裁",
    "reconsideration": "行政复议",
    "legal_aid": "申请法律援助",
    "petition": "信访",
    "other": "其他",
}

# The window's matter categories (portal.matters.vocab.CATEGORIES) closest to each topic, for the
# hand-over; the window staff can still change it.
MATTER_CATEGORY: dict[str, str] = {
    "labour": "labour", "family": "family", "neighbour": "neighbour", "contract": "other", "traffic": "traffic",
    "injury": "labour", "medical": "medical", "property": "property", "admin": "appeal", "criminal": "accusation",
    "consumer": "consumer", "other": "other",
}

ANONYMOUS = "匿名"

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{3})(\d{13}[\dXx])(?![0-9A-Za-z])")
_ID_TAIL = 4


def today() -> dt.date:
    """The date in China now: the same-day edit rule and 'today' on every page use it."""
    return clock.local(clock.now()).date()


def mask_phone(phone: str) -> str:
    """13912345678 → 139****5678; a landline keeps its last 4 digits only."""
    phone = phone or ""
    if not phone:
        return ""
    if len(phone) == 11 and phone.isdigit():
        return f"{phone[:3]}****{phone[-4:]}"
    return "*" * max(len(phone) - 4, 0) + phone[-4:]


def mask_id_number(value: str) -> str:
    """110105199001011234 → 1101**********1234 (area of the province and last 4 only)."""
    text = value or ""
    return text[:4] + "*" * max(len(text) - 8, 0) + text[-_ID_TAIL:] if len(text) > 8 else "*" * len(text)


def mask_name(name: str) -> str:
    """张三丰 → 张*: the surname and a star; an anonymous person stays 匿名."""
    name = (name or "").strip()
    if not name or name == ANONYMOUS:
        return ANONYMOUS
    return name[0] + "*"


def scrub(text: str) -> str:
    """Mask every mobile number and ID number written inside free text (the question, the advice),
    wherever the text leaves the lawyer's own screen: exports and the audit viewer's list."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _ID.sub(lambda m: mask_id_number(m.group(0).upper()), text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def as_date(value) -> dt.date:
    """A DATE column as a date on both engines (SQLite hands back the ISO text)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def month_bounds(month: str | dt.date) -> tuple[dt.date, dt.date] | None:
    """'2026-11' (or any date of that month) → (first day, first day of the next month)."""
    if isinstance(month, dt.date):
        start = month.replace(day=1)
    else:
        try:
            start = dt.datetime.strptime((month or "").strip(), "%Y-%m").date()
        except ValueError:
            return None
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start, end


@dataclasses.dataclass
class Entry:
    """One consultation as the form and the check page hold it (strings as typed, normalised)."""

    channel: str = "walk_in"
    booking: int | None = None
    center: int | None = None
    person_name: str = ""
    person_phone: str = ""
    topic: str = ""
    question: str = ""
    advice: str = ""
    route: str = ""
    eligible: str = ""  # "yes" | "no" | "" (not answered)
    minutes: str = ""
    matter_code: str = ""
    follow_up: bool = False


def decode_conflicts(row: dict) -> list[dict]:
    try:
        value = json.loads(row.get("conflicts") or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


_ENTRY_SQL = (
    "SELECT e.*, c.name AS center_name, c.path AS center_path, s.display_name AS author_name, "
    "m.code AS matter_code FROM legal_aid_consultation e JOIN center c ON c.id = e.center "
    "JOIN staff_user s ON s.id = e.author LEFT JOIN matter m ON m.id = e.matter WHERE e.id = {}"
)


async def entry_for_author(user, entry_id: int) -> dict:
    """The entry if ``user`` wrote it; otherwise 404 (another lawyer's entry looks like no entry)."""
    rows = await raw(_ENTRY_SQL, entry_id)
    if not rows or rows[0]["author"] != user.user_id:
        raise NotFoundException()
    return rows[0]


async def entry_for_auditor(user, entry_id: int) -> dict:
    """The entry if it was logged at a center in the audit viewer's subtree; otherwise 404."""
    rows = await raw(_ENTRY_SQL, entry_id)
    if not rows or not in_scope(user, rows[0]["center_path"]):
        raise NotFoundException()
    return rows[0]


async def consultation_counts(center_ids, month) -> dict:
    """Consultations logged at ``center_ids`` in ``month`` ('2026-11' or a date in it):

    ``{"total", "litigation" (steered to the courts), "eligible" (legal-aid eligible),
    "follow_up", "minutes" (time spent), "by_topic" {key: n}, "by_route" {key: n},
    "by_center" {center_id: n}}``. No personal detail; for the numbers page and the summaries.
    """
    counts = {"total": 0, "litigation": 0, "eligible": 0, "follow_up": 0, "minutes": 0,
              "by_topic": {}, "by_route": {}, "by_center": {}}
    ids = [int(i) for i in center_ids]
    bounds = month_bounds(month)
    if not ids or bounds is None:
        return counts
    marks = ", ".join("{}" for _ in ids)
    rows = await raw(
        "SELECT center, topic, route, count(*) AS n, "
        "sum(CASE WHEN eligible THEN 1 ELSE 0 END) AS eligible, "
        "sum(CASE WHEN follow_up THEN 1 ELSE 0 END) AS follow_up, sum(minutes) AS minutes "
        f"FROM legal_aid_consultation WHERE center IN ({marks}) AND day >= {{}} AND day < {{}} "
        "GROUP BY center, topic, route",
        *ids, *bounds,
    )
    for row in rows:
        n = int(row["n"])
        counts["total"] += n
        counts["eligible"] += int(row["eligible"] or 0)
        counts["follow_up"] += int(row["follow_up"] or 0)
        counts["minutes"] += int(row["minutes"] or 0)
        if row["route"] == "litigation":
            counts["litigation"] += n
        for key, value in (("by_topic", row["topic"]), ("by_route", row["route"]), ("by_center", row["center"])):
            counts[key][value] = counts[key].get(value, 0) + n
    return counts


async def summary_rows(center_path: str, start: dt.date, end: dt.date) -> dict:
    """Counts for a center admin or leader over [start, end) in their subtree: per month × topic,
    per month × route, per lawyer (by account, never by consulted person)."""
    low, high = prefix_range(center_path)
    scope = "FROM legal_aid_consultation e JOIN center c ON c.id = e.center WHERE c.path >= {} AND c.path < {} " \
            "AND e.day >= {} AND e.day < {}"
    args = (low, high, start, end)
    # Grouped by day in SQL (month functions differ between the engines), by month here.
    groups = await raw(
        "SELECT e.day, e.topic, e.route, count(*) AS n, sum(e.minutes) AS minutes, "
        f"sum(CASE WHEN e.eligible THEN 1 ELSE 0 END) AS eligible {scope} GROUP BY e.day, e.topic, e.route",
        *args,
    )
    lawyers = await raw(
        "SELECT e.author, s.display_name, count(*) AS n, sum(e.minutes) AS minutes "
        f"{scope.replace('WHERE', 'JOIN staff_user s ON s.id = e.author WHERE', 1)} "
        "GROUP BY e.author, s.display_name ORDER BY count(*) DESC, s.display_name",
        *args,
    )
    months: dict[str, dict] = {}
    for row in groups:
        n = int(row["n"])
        month = months.setdefault(as_date(row["day"]).strftime("%Y-%m"), {
            "total": 0, "litigation": 0, "eligible": 0, "minutes": 0, "topics": {}, "routes": {}})
        month["total"] += n
        month["minutes"] += int(row["minutes"] or 0)
        month["eligible"] += int(row["eligible"] or 0)
        month["litigation"] += n if row["route"] == "litigation" else 0
        month["topics"][row["topic"]] = month["topics"].get(row["topic"], 0) + n
        month["routes"][row["route"]] = month["routes"].get(row["route"], 0) + n
    return {"months": dict(sorted(months.items(), reverse=True)), "lawyers": lawyers}


async def application_prefill(user, consultation_id: int) -> dict:
    """What the window's legal-aid application form takes over from a consultation handed to the
    window (404 unless a hand-over for an application exists at a center in ``user``'s scope):
    ``{"applicant_name", "phone", "description", "topic", "consultation"}``."""
    rows = await raw(
        "SELECT e.id, e.person_name, e.person_phone, e.question, e.topic, c.path AS center_path "
        "FROM legal_aid_handover h JOIN legal_aid_consultation e ON e.id = h.consultation "
        "JOIN center c ON c.id = h.center WHERE h.consultation = {} AND h.kind = 'application'",
        consultation_id,
    )
    if not rows or not in_scope(user, rows[0]["center_path"]):
        raise NotFoundException()
    row = rows[0]
    name = row["person_name"] if row["person_name"] != ANONYMOUS else ""
    return {"applicant_name": name, "phone": row["person_phone"], "description": row["question"],
            "topic": row["topic"], "consultation": row["id"]}
