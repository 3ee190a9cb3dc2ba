"""Supervisor review: a designated supervisor reads a case only after giving a reason.

Designation, not role: every counselor holds the ``counseling.supervise`` permission, but only
those the center admin lists in ``counseling_supervisor`` (K1's settings) for the case's center may
use it; for anyone else every review page is 404, like a case that does not exist.

The reason (at least ``MIN_REASON`` characters) opens a *grant* for that supervisor and that case,
valid ``GRANT_HOURS`` hours: the reading, and reloading it during a supervision meeting, without
re-typing. After that, or for another case, a new reason is required — each grant is a
``counseling_review`` row (reason encrypted) that the counselor sees on the case page, and an audit
row ``counseling.notes_reviewed``; every page read during the grant is audited as well
(``counseling.case_read``).
"""

from __future__ import annotations

import datetime as dt

from litestar.exceptions import NotFoundException

from portal import clock
from portal.auth.principal import Principal
from portal.db import insert, raw
from portal.i18n import _
from portal.notify.outbox import queue_inapp

from plugins.counseling.notes_crypto import Cipher
from plugins.counseling.sessions import Who, load_case

__all__ = ["GRANT_HOURS", "MIN_REASON", "grant_in_scope", "is_designated", "review_case_in_scope", "start_review"]

MIN_REASON = 10
MAX_REASON = 500
GRANT_HOURS = 2


async def designated_centers(user: Principal) -> list[int]:
    if not user.can("counseling.supervise"):
        return []
    rows = await raw("SELECT center FROM counseling_supervisor WHERE staff = {}", user.user_id)
    return [row["center"] for row in rows]


async def is_designated(user: Principal, center_id: int) -> bool:
    return center_id in await designated_centers(user)


async def review_case_in_scope(user: Principal, case_id: int) -> dict:
    """Scope loader of the review pages: a case of a center where the user is a designated
    supervisor, not their own (they read their own as its author). Otherwise 404."""
    case = await load_case(case_id)
    if case is None or case["counselor"] == user.user_id or not await is_designated(user, case["center"]):
        raise NotFoundException()
    return case


async def grant_in_scope(user: Principal, review_id: int) -> dict:
    """Scope loader of the reading page: the user's own grant, at a center where they are still
    designated (a withdrawn designation ends every grant at once)."""
    rows = await raw("SELECT * FROM counseling_review WHERE id = {}", review_id)
    if not rows or rows[0]["supervisor"] != user.user_id or not await is_designated(user, rows[0]["center"]):
        raise NotFoundException()
    return rows[0]


def grant_valid(grant: dict) -> bool:
    expires = grant["expires_at"]
    if isinstance(expires, str):
        expires = dt.datetime.fromisoformat(expires)
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.timezone.utc)
    return clock.now() < expires


async def supervisable_cases(user: Principal, before: int | None, limit: int) -> list[dict]:
    """Cases the supervisor may open for review; no client names (they are not needed to choose)."""
    centers = await designated_centers(user)
    if not centers:
        return []
    marks = ", ".join("{}" for _ in centers)
    where, args = [f"k.center IN ({marks})", "k.counselor <> {}"], [*centers, user.user_id]
    if before:
        where.append("k.id < {}")
        args.append(before)
    return await raw(
        "SELECT k.id, k.opened_at, k.last_session_at, k.sessions, k.erased_at, u.display_name AS counselor_name, "
        "c.name AS center_name FROM counseling_case k JOIN staff_user u ON u.id = k.counselor "
        "JOIN center c ON c.id = k.center WHERE " + " AND ".join(where) + f" ORDER BY k.id DESC LIMIT {int(limit)}",
        *args,
    )


async def start_review(who: Who, cipher: Cipher, case: dict, reason: str) -> tuple[dict, int | None]:
    """Record the reason and open a grant (inside the caller's transaction): (errors, review id)."""
    reason = reason.strip()
    if len(reason) < MIN_REASON:
        return {"reason": _("Write the reason for reading this case, at least %(n)s characters.", n=MIN_REASON)}, None
    if len(reason) > MAX_REASON:
        return {"reason": _("Keep the reason to %(n)s characters.", n=MAX_REASON)}, None
    now = clock.now()
    seq = await who.trail("counseling.notes_reviewed", object_type="counseling_case", object_id=case["id"],
                          center_id=case["center"], fields=("reason",))
    review_id = await insert("counseling_review", {
        "case_id": case["id"], "center": case["center"], "supervisor": who.user.user_id,
        "reason": cipher.encrypt(reason, f"review:{case['id']}"), "started_at": now,
        "expires_at": now + dt.timedelta(hours=GRANT_HOURS), "audit_seq": seq,
    })
    # The counselor hears of it at once (the case page shows who, when and why); no content here.
    await queue_inapp(body=_("A supervisor opened your counseling case %(id)s for review.", id=case["id"]),
                      kind="counseling_review", staff=case["counselor"], center=case["center"],
                      link=f"/m/counseling/cases/{case['id']}")
    return {}, review_id
