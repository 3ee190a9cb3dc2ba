"""Reading and checking the matter forms (window registration, online intake, actions)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from portal.i18n import _
from portal.matters.service import NewMatter
from portal.matters.vocab import CATEGORIES, CHANNELS
from portal.web.forms import Form, normalize_phone

__all__ = ["MAX_REPRESENTATIVES", "GROUP_SIZE", "matter_from_form", "parse_date", "action_values"]

GROUP_SIZE = 5  # 条例 Art. 20: five or more people together choose representatives…
MAX_REPRESENTATIVES = 5  # … no more than five.


def parse_date(value: str) -> dt.date | None:
    """Accept 2026-12-31, 2026/12/31, 2026.12.31 and 2026年12月31日 (full-width digits too)."""
    text = unicodedata.normalize("NFKC", value or "").strip()
    match = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", text)
    if not match:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def phone_error(raw: str, required: bool) -> tuple[str, str | None]:
    """(normalised phone, error message or None)."""
    if not raw:
        return "", (_("Enter a mobile number so that we can send the tracking code.") if required else None)
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", raw))
    phone = normalize_phone(raw)
    if phone:
        return phone, None
    if len(digits) != 11 and not digits.startswith("86"):
        return raw, _("A mobile number has 11 digits; you entered %(n)s.", n=len(digits))
    return raw, _("A mobile number starts with 13 to 19, for example 13800138000.")


def representatives_from_form(form: Form) -> list[dict]:
    people = []
    for i in range(1, MAX_REPRESENTATIVES + 1):
        name = form.str(f"rep{i}_name", 64)
        phone = form.str(f"rep{i}_phone", 20)
        if name or phone:
            people.append({"name": name, "phone": phone})
    return people


def matter_from_form(form: Form, *, channel: str, center_ids: set[int], phone_required: bool) -> tuple[NewMatter, dict, dict]:
    """(the matter, errors by field, the values to show again)."""
    values = {
        "channel": channel,
        "kind": form.str("kind") or "petition",
        "category": form.str("category"),
        "summary": form.str("summary", 200),
        "request": form.str("request", 4000),
        "facts": form.str("facts", 8000),
        "place": form.str("place", 200),
        "place_center": form.str("place_center"),
        "petitioner_name": form.str("petitioner_name", 64),
        "petitioner_phone": form.str("petitioner_phone", 20),
        "petitioner_address": form.str("petitioner_address", 200),
        "people_count": form.str("people_count", 6, ascii_fold=True) or "1",
        "parties": form.str("parties", 1000),
    }
    representatives = representatives_from_form(form)
    for i, person in enumerate(representatives, start=1):
        values[f"rep{i}_name"], values[f"rep{i}_phone"] = person["name"], person["phone"]
    errors: dict[str, str] = {}
    if values["kind"] not in ("petition", "dispute"):
        values["kind"] = "petition"
    if values["category"] not in CATEGORIES:
        errors["category"] = _("Choose the kind of matter.")
    if not values["summary"]:
        errors["summary"] = _("Say in one sentence what the matter is about.")
    if not values["request"]:
        errors["request"] = _("Enter what the citizen asks for.")
    if not values["petitioner_name"]:
        errors["petitioner_name"] = _("Enter the name of the person raising the matter.")
    phone, problem = phone_error(values["petitioner_phone"], phone_required)
    if problem:
        errors["petitioner_phone"] = problem
    else:
        values["petitioner_phone"] = phone
    place_center = None
    if values["place_center"]:
        if not values["place_center"].isdigit() or int(values["place_center"]) not in center_ids:
            errors["place_center"] = _("Choose a center from the list.")
        else:
            place_center = int(values["place_center"])
    count_text = values["people_count"]
    people_count = int(count_text) if count_text.isdigit() else 0
    if people_count < 1 or people_count > 100000:
        errors["people_count"] = _("Enter how many people raise the matter together, as a number (1 if alone).")
    elif people_count >= GROUP_SIZE:
        if not representatives:
            errors["rep1_name"] = _("Five or more people: enter their representatives (at most 5).")
        for i, person in enumerate(representatives, start=1):
            if not person["name"]:
                errors[f"rep{i}_name"] = _("Enter representative %(n)s's name.", n=i)
            if person["phone"]:
                rep_phone, rep_problem = phone_error(person["phone"], False)
                if rep_problem:
                    errors[f"rep{i}_phone"] = rep_problem
                else:
                    person["phone"] = rep_phone
    else:
        representatives = []
    if channel not in CHANNELS:
        errors["channel"] = _("Choose how the matter reached the center.")
    parties = [{"name": line.strip()} for line in values["parties"].splitlines() if line.strip()][:20]
    data = NewMatter(
        kind=values["kind"],
        category=values["category"],
        channel=channel,
        summary=values["summary"],
        request=values["request"],
        facts=values["facts"],
        place=values["place"],
        place_center=place_center,
        petitioner_name=values["petitioner_name"],
        petitioner_phone=values["petitioner_phone"] if not errors.get("petitioner_phone") else "",
        petitioner_address=values["petitioner_address"],
        people_count=max(people_count, 1),
        representatives=representatives,
        parties=parties,
    )
    return data, errors, values


# Fields of the action forms that are not plain text.
_DATE_FIELDS = ("due_date",)
_INT_FIELDS = ("days",)
_TEXT_FIELDS = (
    "reason", "route", "target_center", "organ", "department", "instruction", "note", "public", "decision",
    "outcome", "opinion", "basis", "resolution", "rating", "answer", "record",
)


def action_values(form: Form) -> tuple[dict, dict]:
    """(values for the service, the raw values to show again if the action fails)."""
    raw = {name: form.str(name, 5000) for name in _TEXT_FIELDS + _DATE_FIELDS + _INT_FIELDS}
    values: dict = {name: raw[name] for name in _TEXT_FIELDS}
    for name in _DATE_FIELDS:
        values[name] = parse_date(raw[name]) if raw[name] else None
    for name in _INT_FIELDS:
        text = unicodedata.normalize("NFKC", raw[name])
        values[name] = int(text) if text.isdigit() and len(text) < 6 else None
    return values, raw
