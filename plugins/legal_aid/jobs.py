"""Jobs of the legal-aid module (each idempotent; only centers where the module is enabled).

* ``legal_aid.roster_gaps``: a working day (shared calendar) from today to 7 days ahead with no
  lawyer on duty is a gap; each center admin of that center gets one in-app message per gap day,
  claimed with ``claim_once`` in the transaction that queues it (a re-run, or another process,
  sends nothing twice). Holidays are no gaps; an empty make-up working day is one.
* ``legal_aid.deemed_withdrawn``: applications whose materials period ran out are deemed
  withdrawn (法律援助法 Art. 43 ¶2); see ``applications.withdraw_overdue``.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal import clock
from portal.audit.chain import SYSTEM, AuditTrail
from portal.crypto import audit_key
from portal.db import raw, write_transaction
from portal.i18n import _
from portal.jobs.runner import claim_once
from portal.matters.calendar import load_calendar
from portal.notify.outbox import queue_inapp
from portal.plugin_api import Job

from plugins.legal_aid import applications as apps
from plugins.legal_aid import roster

__all__ = ["DEEMED_WITHDRAWN", "JOBS", "ROSTER_GAPS", "deemed_withdrawn", "roster_gaps"]

ROSTER_GAPS = "legal_aid.roster_gaps"
DEEMED_WITHDRAWN = "legal_aid.deemed_withdrawn"


@dataclass(frozen=True)
class GapReport:
    gaps: int = 0
    messages: int = 0


async def center_admins(center_id: int) -> list[dict]:
    return await raw(
        "SELECT DISTINCT u.id FROM staff_user u JOIN staff_role r ON r.\"user\" = u.id "
        "WHERE u.center = {} AND u.active AND r.role = 'center_admin' ORDER BY u.id", center_id,
    )


async def roster_gaps(ctx) -> GapReport:
    now = getattr(ctx, "now", None) or clock.now()
    today = clock.local(now).date()
    calendar = await load_calendar()
    gaps = messages = 0
    for center in await ctx.enabled_centers():
        days = await roster.center_gaps(center.id, calendar, start=today)
        gaps += len(days)
        if not days:
            continue
        admins = await center_admins(center.id)
        for day in days:
            async with write_transaction():
                if not await claim_once(ROSTER_GAPS, f"{center.id}:{day.isoformat()}"):
                    continue
                date = "%d月%d日" % (day.month, day.day)
                text = _("No lawyer is on duty at %(center)s on %(date)s (a working day). Add one to the duty roster.",
                         center=center.name, date=date)
                for admin in admins:
                    await queue_inapp(body=text, kind="legal_aid_gap", staff=admin["id"], center=center.id,
                                      link=f"/m/legal_aid/roster?center_id={center.id}&week={roster_week(day)}")
                    messages += 1
    return GapReport(gaps=gaps, messages=messages)


def roster_week(day) -> str:
    import datetime as dt

    return (day - dt.timedelta(days=day.weekday())).isoformat()


async def deemed_withdrawn(ctx) -> int:
    now = getattr(ctx, "now", None) or clock.now()
    who = apps.Who(trail=AuditTrail(audit_key(ctx.settings), SYSTEM), user_id=None)
    count = await apps.withdraw_overdue(who, [c.id for c in await ctx.enabled_centers()], now)
    if count:
        from portal.notify.outbox import deliver_all

        await deliver_all(ctx)
    return count


JOBS = [
    Job(name=ROSTER_GAPS, interval_seconds=6 * 3600, run=roster_gaps, label="法律援助：未来 7 天无值班律师的工作日提醒"),
    Job(name=DEEMED_WITHDRAWN, interval_seconds=3600, run=deemed_withdrawn, label="法律援助：逾期未补充材料视为撤回"),
]
