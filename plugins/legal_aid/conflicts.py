"""Conflict check: before a consultation is logged against a matter, has this lawyer (or a lawyer
of the same firm) already advised the *opposing* party of that matter?

The people of a matter are its petitioner (with the group's representatives) and the other people
involved (``parties``, names only). The person now consulting is on one side: the side whose name
or phone matches, or the petitioner's when nothing matches (an anonymous walk-in about a matter is
usually the one who raised it). Everyone on the other side is "opposing". A possible conflict is
an earlier entry of this lawyer, or of the firm (the firm recorded on the entry when it was
saved), whose consulted person has an opposing person's name or phone.

The lawyer is shown only what a conflict check needs — when, by whom, and the opposing person's
masked name — never the matter's contents nor the colleague's advice.
"""

from __future__ import annotations

import json

from portal.db import raw

from plugins.legal_aid.consultations import ANONYMOUS, as_date, mask_name

__all__ = ["find_conflicts", "lawyer_firm"]

MAX_SHOWN = 20


async def lawyer_firm(staff_id: int) -> str:
    """The firm on the lawyer's profile (kept by the center admin); '' without a profile."""
    rows = await raw("SELECT firm FROM legal_aid_lawyer WHERE staff = {}", staff_id)
    return (rows[0]["firm"] or "").strip() if rows else ""


def _loads(text: str) -> list[dict]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _person(name: str, phone: str) -> dict:
    name = (name or "").strip()
    return {"name": "" if name == ANONYMOUS else name, "phone": (phone or "").strip()}


def _same(a: dict, b: dict) -> bool:
    return bool((a["name"] and a["name"] == b["name"]) or (a["phone"] and a["phone"] == b["phone"]))


def opposing_people(matter: dict, person_name: str, person_phone: str) -> list[dict]:
    petitioner_side = [_person(matter["petitioner_name"], matter["petitioner_phone"])]
    petitioner_side += [_person(r.get("name", ""), r.get("phone", "")) for r in _loads(matter["representatives"])]
    parties = [_person(p.get("name", ""), p.get("phone", "")) for p in _loads(matter["parties"])]
    current = _person(person_name, person_phone)
    if any(_same(current, p) for p in parties) and not any(_same(current, p) for p in petitioner_side):
        # The other side of the matter came to ask: the petitioner's side is now the opposing one.
        opposing = petitioner_side + [p for p in parties if not _same(current, p)]
    else:
        opposing = parties
    return [p for p in opposing if p["name"] or p["phone"]]


async def find_conflicts(*, author: int, firm: str, matter_id: int, person_name: str, person_phone: str,
                         exclude_entry: int | None = None) -> list[dict]:
    """The possible conflicts, newest first: ``{"entry", "day", "by" (self|firm), "lawyer",
    "party" (masked), "via" (name|phone)}``."""
    rows = await raw("SELECT petitioner_name, petitioner_phone, representatives, parties FROM matter WHERE id = {}",
                     matter_id)
    if not rows:
        return []
    opposing = opposing_people(rows[0], person_name, person_phone)
    names = sorted({p["name"] for p in opposing if p["name"]})
    phones = sorted({p["phone"] for p in opposing if p["phone"]})
    if not names and not phones:
        return []
    who = ["e.author = {}"]
    args: list = [author]
    if firm:
        who.append("e.firm = {}")
        args.append(firm)
    match = []
    if names:
        match.append("e.person_name IN (" + ", ".join("{}" for _ in names) + ")")
        args += names
    if phones:
        match.append("e.person_phone IN (" + ", ".join("{}" for _ in phones) + ")")
        args += phones
    sql = (
        "SELECT e.id, e.day, e.author, e.person_name, e.person_phone, s.display_name FROM legal_aid_consultation e "
        f"JOIN staff_user s ON s.id = e.author WHERE ({' OR '.join(who)}) AND ({' OR '.join(match)})"
    )
    if exclude_entry is not None:
        sql += " AND e.id <> {}"
        args.append(exclude_entry)
    sql += f" ORDER BY e.id DESC LIMIT {MAX_SHOWN}"
    found = []
    for row in await raw(sql, *args):
        by_name = bool(row["person_name"]) and row["person_name"] in names
        party = row["person_name"] if by_name else next(
            (p["name"] for p in opposing if p["phone"] and p["phone"] == row["person_phone"]), "")
        found.append({
            "entry": row["id"],
            "day": as_date(row["day"]).isoformat(),
            "by": "self" if row["author"] == author else "firm",
            "lawyer": row["display_name"] if row["author"] != author else "",
            "party": mask_name(party),
            "via": "name" if by_name else "phone",
        })
    return found
