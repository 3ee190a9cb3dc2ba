"""The one-stop window's scheduled job: deadline warnings to the staff handling a matter.

``matters.deadline_warnings`` (every 5 minutes) looks for open, running clocks that are due soon
(the work queue's 「即将到期」 filter: ``DUE_SOON`` before a deadline computed by
``portal.matters.clock``, i.e. the end of its last China day) or overdue, and tells the people
who must act: the handling center's window staff and center admins, and the officers of the
department the matter is assigned to. Each gets an in-app message, and an SMS when their account
has a mobile number.

Once per matter, per deadline, per stage: the warning is claimed by inserting
``(matter, clock, due_at, stage)`` into ``matter_deadline_warning`` (unique) in the same
transaction that queues the messages. ``due_at`` is copied from the matter row by the INSERT
itself, so the claim matches the stored deadline exactly; an extension or a new clock is a new
deadline and is warned about again. Two processes running the job at once both try the INSERT;
one gets the row and queues the messages, the other gets nothing and queues nothing.

Only staff deadlines are warned about: the petitioner's own periods (``review_request``,
``rereview_request``) are not the staff's to meet.
"""

from __future__ import annotations

from dataclasses import dataclass

from piccolo.columns import ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.table import Table

from portal import clock as wallclock
from portal.db import raw, write_transaction
from portal.i18n import _
from portal.matters.clock import RULES
from portal.matters.codes import format_code
from portal.matters.notices import cn_date
from portal.matters.queue import DUE_SOON
from portal.matters.tables import Matter
from portal.matters.vocab import OPEN_STATUSES
from portal.notify.outbox import queue_inapp, queue_sms
from portal.plugin_api import Job
from portal.web.forms import normalize_phone

__all__ = ["DEADLINE_WARNINGS", "JOBS", "MatterDeadlineWarning", "WarningReport", "deadline_warnings"]

DEADLINE_WARNINGS = "matters.deadline_warnings"
STAFF_CLOCKS = ("acceptance", "handling", "review", "rereview")
BATCH = 100
MAX_BATCHES = 20  # per run; a larger backlog is worked off over the next runs
CENTER_ROLES = ("window_staff", "center_admin")


class MatterDeadlineWarning(Table, tablename="matter_deadline_warning"):
    """A warning sent about one deadline of one matter (unique: matter, clock, due_at, stage)."""

    matter = ForeignKey(references=Matter, on_delete=OnDelete.cascade)
    clock = Varchar(length=20)
    due_at = Timestamptz()
    stage = Varchar(length=12)  # due_soon | overdue
    sent_at = Timestamptz()


@dataclass(frozen=True)
class WarningReport:
    due_soon: int = 0
    overdue: int = 0
    messages: int = 0


def _candidates_sql(stage: str) -> str:
    statuses = ", ".join("{}" for _ in OPEN_STATUSES)
    clocks = ", ".join("{}" for _ in STAFF_CLOCKS)
    window = "m.due_at < {}" if stage == "overdue" else "m.due_at >= {} AND m.due_at < {}"
    # (status, paused_at, due_at) is the queue's clock index: the scan touches only open clocks
    # inside the window, not every open matter.
    return (
        "SELECT m.id, m.code, m.clock, m.due_at, m.center, m.department, c.name AS center_name "
        "FROM matter m JOIN center c ON c.id = m.center "
        f"WHERE m.status IN ({statuses}) AND m.paused_at IS NULL AND m.clock IN ({clocks}) AND {window} "
        "AND NOT EXISTS (SELECT 1 FROM matter_deadline_warning w WHERE w.matter = m.id AND w.clock = m.clock "
        "AND w.due_at = m.due_at AND w.stage = {}) "
        f"ORDER BY m.due_at, m.id LIMIT {BATCH}"
    )


async def _candidates(stage: str, now) -> list[dict]:
    args: list = [*OPEN_STATUSES, *STAFF_CLOCKS]
    args += [now] if stage == "overdue" else [now, now + DUE_SOON]
    return await raw(_candidates_sql(stage), *args, stage)


async def _recipients(matter: dict) -> list[dict]:
    """Active staff who act on the matter: the handling center's window and its admins; the
    assigned department's officers."""
    roles = ", ".join("{}" for _ in CENTER_ROLES)
    sql = (
        "SELECT DISTINCT u.id, u.phone FROM staff_user u JOIN staff_role r ON r.\"user\" = u.id "
        f"WHERE u.active AND ((u.center = {{}} AND r.role IN ({roles}))"
    )
    args: list = [matter["center"], *CENTER_ROLES]
    if matter["department"]:
        sql += " OR (u.department = {} AND r.role = 'department_officer')"
        args.append(matter["department"])
    return await raw(sql + ") ORDER BY u.id", *args)


def _texts(matter: dict, stage: str) -> tuple[str, str]:
    """(in-app text, SMS text). Only the tracking code identifies the matter: no names, no summary."""
    code = format_code(matter["code"])
    rule = RULES[matter["clock"]].label
    date = cn_date(matter["due_at"])
    if stage == "overdue":
        inapp = _("Matter %(code)s is overdue: the %(rule)s time limit ended on %(date)s. Handle it as a priority.",
                  code=code, rule=rule, date=date)
        sms = _("[%(center)s] Matter %(code)s is overdue (%(rule)s, due %(date)s). Please handle it now.",
                center=matter["center_name"], code=code, rule=rule, date=date)
    else:
        inapp = _("Matter %(code)s: the %(rule)s time limit ends on %(date)s. Please handle it in time.",
                  code=code, rule=rule, date=date)
        sms = _("[%(center)s] Matter %(code)s: %(rule)s due %(date)s. Please handle it in time.",
                center=matter["center_name"], code=code, rule=rule, date=date)
    return inapp, sms


async def _warn(matter: dict, stage: str) -> int | None:
    """Claim the warning and queue its messages in one transaction.

    Returns the number of messages queued, or None when the warning was claimed before (by this
    or another process) or the matter's clock changed since it was read.
    """
    now = wallclock.now()
    async with write_transaction():
        claimed = await raw(
            "INSERT INTO matter_deadline_warning (matter, clock, due_at, stage, sent_at) "
            "SELECT id, clock, due_at, {}, {} FROM matter WHERE id = {} AND clock = {} AND due_at IS NOT NULL "
            "ON CONFLICT (matter, clock, due_at, stage) DO NOTHING RETURNING id",
            stage, now, matter["id"], matter["clock"],
        )
        if not claimed:
            return None
        inapp, sms = _texts(matter, stage)
        kind = f"deadline_{stage}"
        queued = 0
        for person in await _recipients(matter):
            await queue_inapp(body=inapp, kind=kind, staff=person["id"], center=matter["center"], matter=matter["id"])
            queued += 1
            phone = normalize_phone(person["phone"] or "")
            if phone:
                await queue_sms(phone, sms, kind=kind, center=matter["center"], matter=matter["id"])
                queued += 1
        return queued


async def deadline_warnings(ctx=None) -> WarningReport:
    """Warn about every open staff deadline that is overdue or due soon and not warned about yet.

    "Due soon" is the work queue's 「即将到期」 filter (``DUE_SOON`` before the deadline), so a
    warned matter is one the queue lists under that filter. Given ``ctx`` (a ``JobContext``), the
    SMS queued are delivered before the run ends.
    """
    now = wallclock.now()
    counts = {"due_soon": 0, "overdue": 0}
    messages = 0
    for stage in ("overdue", "due_soon"):
        seen: set[tuple] = set()
        for _batch in range(MAX_BATCHES):
            rows = [row for row in await _candidates(stage, now) if (row["id"], row["clock"], str(row["due_at"])) not in seen]
            if not rows:
                break
            for matter in rows:
                seen.add((matter["id"], matter["clock"], str(matter["due_at"])))
                queued = await _warn(matter, stage)
                if queued is not None:
                    counts[stage] += 1
                    messages += queued
    if messages and ctx is not None:
        from portal.notify.outbox import deliver_all

        await deliver_all(ctx)
    return WarningReport(due_soon=counts["due_soon"], overdue=counts["overdue"], messages=messages)


JOBS = [
    Job(
        name=DEADLINE_WARNINGS,
        interval_seconds=300,
        run=deadline_warnings,
        label=_("Deadline warnings of the one-stop window"),
    ),
]
