"""The check-in assessment board (部门报到考核): figures per department and per center for one month.

Pure data functions (no request, no rendering): ``department_month`` and ``center_month`` each run
one GROUP BY query and return rows of counts and rates. The definitions below are the ones
published on /m/checkin/board/definitions (``DEFINITIONS``); keep the two in step.

统计口径 (definitions):

* 统计时段: one calendar month in China time (UTC+8), half-open [1st 00:00, next 1st 00:00), on the
  time the whistle went out (发出时间): its approval time when it needed a leader's approval,
  otherwise the time it was blown.
* 统计对象 (the population): every summons (one department × one whistle) of a whistle that went
  out (status open or closed; whistles waiting for approval, rejected or cancelled never count)
  and whose 发出时间 lies in the month, at the centers in scope.
* 收到哨数 = that count, per department.
* 按时报到 = summonses checked in no later than their check-in limit (checked_in_at ≤ ack_due_at);
  响应率 = 按时报到 ÷ 收到哨数.
* 平均报到用时 = mean of (check-in time − notification time) over the checked-in summonses, in
  minutes, one decimal (each duration counted in whole seconds).
* 现场到岗率 = summonses checked in on site (by the short code or the QR code) ÷ summonses of
  whistles that asked for on-site attendance (mode onsite).
* 已解决 = summonses of closed whistles with the department's result reported; 解决率 = 已解决 ÷
  收到哨数.
* 满意率 = summonses whose linked matter the citizen rated 满意 or 基本满意 ÷ summonses whose linked
  matter was rated at all (满意, 基本满意 or 不满意).
* 中心评价 = mean of the center's timeliness and effectiveness ratings (1–5) where given.
* Per center: 吹哨数 = whistles that went out in the month at that center; 受理登记事项数 = matters
  registered at that center in the month (the numbers page's 受理登记: the counter kept with each
  registration, so the figure never scans matters and stays with the registering center after
  an escalation); 吹哨率 = 吹哨数 ÷ 受理登记事项数, flagged above ``HIGH_WHISTLE_RATE``.

A rate whose denominator is 0 has no value (shown as "—", never 0% or 100%).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from portal.clock import TZ_CN, local
from portal.db import current_engine, raw

__all__ = [
    "CenterRow",
    "DEFINITIONS",
    "DepartmentRow",
    "HIGH_WHISTLE_RATE",
    "Mean",
    "Month",
    "Rate",
    "center_month",
    "center_total",
    "department_month",
]

# Above this share of whistles among registered matters, routine handling may be failing: too many
# matters are pushed to departments instead of being settled by the center (domain.md §1.4).
HIGH_WHISTLE_RATE = Fraction(30, 100)

# Whistles that went out; a whistle waiting for approval, rejected or cancelled summoned nobody.
COUNTED_STATUSES = ("open", "closed")
ONSITE_METHODS = ("code", "qr")
RATED = ("satisfied", "basically", "unsatisfied")
SATISFIED = ("satisfied", "basically")

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_ONE_DECIMAL = Decimal("0.1")


def _round1(value: Fraction) -> Decimal:
    """Half-up to one decimal from the exact fraction (floats would round 0.05s either way)."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(_ONE_DECIMAL, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in China time."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str | None) -> "Month | None":
        """``YYYY-MM`` (years 2000–2099), or None."""
        match = _MONTH.match((text or "").strip())
        if not match:
            return None
        year, month = int(match.group(1)), int(match.group(2))
        if not (2000 <= year <= 2099 and 1 <= month <= 12):
            return None
        return cls(year, month)

    @classmethod
    def containing(cls, moment: dt.datetime) -> "Month":
        day = local(moment)
        return cls(day.year, day.month)

    @property
    def start(self) -> dt.datetime:
        """First instant (UTC) of the month in China time."""
        return dt.datetime(self.year, self.month, 1, tzinfo=TZ_CN).astimezone(dt.timezone.utc)

    @property
    def end(self) -> dt.datetime:
        """First instant (UTC) of the next month: the period is [start, end)."""
        return self.next().start

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def last_day(self) -> dt.date:
        nxt = self.next()
        return dt.date(nxt.year, nxt.month, 1) - dt.timedelta(days=1)

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return f"{self.year}年{self.month}月"

    def next(self) -> "Month":
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def previous(self) -> "Month":
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)


@dataclass(frozen=True)
class Rate:
    """numerator ÷ denominator; no value when the denominator is 0."""

    num: int
    den: int

    @property
    def fraction(self) -> Fraction | None:
        return Fraction(self.num, self.den) if self.den else None

    @property
    def ratio(self) -> float | None:
        """As a number for a spreadsheet cell formatted as a percentage."""
        return self.num / self.den if self.den else None

    @property
    def percent(self) -> Decimal | None:
        return _round1(self.fraction * 100) if self.den else None

    @property
    def text(self) -> str:
        return "—" if self.percent is None else f"{self.percent}%"


@dataclass(frozen=True)
class Mean:
    """A mean of ``count`` values that add up to ``total``, expressed in ``unit`` (total ÷ unit)."""

    total: int
    count: int
    unit: int = 1

    @property
    def value(self) -> Decimal | None:
        return _round1(Fraction(self.total, self.count * self.unit)) if self.count else None

    @property
    def text(self) -> str:
        return "—" if self.value is None else str(self.value)


@dataclass(frozen=True)
class DepartmentRow:
    department_id: int
    name: str
    received: int  # 收到哨数
    checked_in: int  # 已报到 (any time)
    on_time: int  # 按时报到
    response: Rate  # 响应率 = on_time ÷ received
    checkin_minutes: Mean  # 平均报到用时（分钟）
    onsite: Rate  # 现场到岗率 = on-site check-ins ÷ on-site summonses
    resolution: Rate  # 解决率 = resolved ÷ received
    satisfaction: Rate  # 满意率 = satisfied ÷ rated (linked matters)
    timeliness: Mean  # 中心评价：及时性
    effectiveness: Mean  # 中心评价：实效性
    rank: int = 0

    @property
    def late(self) -> int:
        """Checked in, but after the limit."""
        return self.checked_in - self.on_time

    @property
    def never(self) -> int:
        """Not (yet) checked in."""
        return self.received - self.checked_in

    @property
    def resolved(self) -> int:
        return self.resolution.num

    def ranking_key(self) -> tuple:
        return (self.response.fraction or 0, self.resolution.fraction or 0, self.received)


@dataclass(frozen=True)
class CenterRow:
    center_id: int
    name: str
    level: str
    path: str
    whistles: int  # 吹哨数
    matters: int  # 受理登记事项数
    rate: Rate = field(init=False)  # 吹哨率

    def __post_init__(self):
        object.__setattr__(self, "rate", Rate(self.whistles, self.matters))

    @property
    def high(self) -> bool:
        """吹哨率 above ``HIGH_WHISTLE_RATE``: routine handling may be failing."""
        return self.rate.fraction is not None and self.rate.fraction > HIGH_WHISTLE_RATE


# Label, definition: the definitions page (统计口径) and the spreadsheet's header rows.
DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("统计时段", "一个自然月，按北京时间（UTC+8）计，自当月1日0时起至次月1日0时止（不含）；以哨的发出时间为准："
               "需领导审批的哨为审批通过时间，其余为吹哨时间。"),
    ("统计对象", "统计范围内各中心在统计时段内发出的哨（状态为“报到处置中”或“已办结”）所召集的每个部门各计一次；"
               "待审批、未获批准和已撤销的哨不计入。"),
    ("收到哨数", "统计对象中召集该部门的次数。"),
    ("按时报到", "在报到时限内（报到时间不晚于报到截止时间）完成报到的次数。"),
    ("响应率", "按时报到数 ÷ 收到哨数。"),
    ("超时报到", "已报到但晚于报到截止时间的次数。"),
    ("未报到", "至今没有报到的次数（收到哨数 − 已报到数）。"),
    ("平均报到用时", "已报到的各次从通知部门到报到的用时（按秒取整）的平均值，以分钟计，保留一位小数；括号内为已报到次数。"),
    ("现场到岗率", "要求现场报到的哨中，部门通过报到码或扫码在现场报到的次数 ÷ 要求现场报到的哨召集该部门的次数。"),
    ("已解决", "哨已办结且该部门已反馈处置结果的次数。"),
    ("解决率", "已解决数 ÷ 收到哨数。"),
    ("满意率", "哨所关联事项的群众评价为“满意”或“基本满意”的次数 ÷ 关联事项已有群众评价（满意、基本满意、不满意）的次数。"
             "未关联事项或事项尚未评价的不计入分母。"),
    ("中心评价", "评哨时中心对部门“报到及时性”和“处置实效性”的评分（1–5分）的平均值，保留一位小数；括号内为评分次数。"),
    ("排名", "按响应率、解决率、收到哨数依次从高到低排列；三项都相同的并列，并按部门名称排列。"),
    ("吹哨数", "统计时段内该中心发出的哨数（口径同上）。"),
    ("受理登记事项数", "统计时段内在该中心登记的信访和矛盾纠纷事项数（各渠道；与“统计数据”页的“受理登记”同一口径，"
                  "事项之后上交或转送的，仍计入登记它的中心）。"),
    ("吹哨率", f"吹哨数 ÷ 受理登记事项数。吹哨率不宜过低，也不宜过高：高于 {int(HIGH_WHISTLE_RATE * 100)}% 时提示"
            "日常办理机制可能失灵、部门负担过重，请检查是否存在“随意吹哨”；该中心当月没有登记事项时显示“—”。"),
    ("比率", "每个比率旁均列出分子和分母；分母为 0 时比率显示为“—”，不计为 0% 或 100%。"),
)


def _in_list(values: list[int]) -> str:
    return ", ".join("{}" for _ in values)


def _seconds_between(later: str, earlier: str) -> str:
    """Whole seconds from ``earlier`` to ``later``: SQL differs by engine, the result does not."""
    if current_engine().engine_type == "postgres":
        return f"ROUND(EXTRACT(EPOCH FROM ({later} - {earlier})))::bigint"
    return f"CAST(ROUND((julianday({later}) - julianday({earlier})) * 86400) AS INTEGER)"


def _opened_filter(month: Month) -> tuple[str, list]:
    """Whistles that went out in the month. ``created_at < end`` keeps the (center, created_at)
    index in play: a whistle always goes out at or after it was blown."""
    opened = "COALESCE(w.approved_at, w.created_at)"
    sql = (
        f"w.status IN ({_in_list(list(COUNTED_STATUSES))}) AND w.created_at < {{}} "
        f"AND {opened} >= {{}} AND {opened} < {{}}"
    )
    return sql, [*COUNTED_STATUSES, month.end, month.start, month.end]


def _int(value) -> int:
    return int(value or 0)


async def department_month(center_ids: list[int], month: Month, department_id: int | None = None) -> list[DepartmentRow]:
    """One row per department summoned by the whistles of ``center_ids`` that went out in ``month``.

    Ranked by 响应率, then 解决率, then 收到哨数 (all descending); ties keep name order and share
    a rank. ``department_id`` limits the board to one department (a department's own view).
    Departments that received no whistle in the month have no row.
    """
    if not center_ids:
        return []
    opened_sql, opened_args = _opened_filter(month)
    seconds = _seconds_between("s.checked_in_at", "s.summoned_at")
    checked = "s.checked_in_at IS NOT NULL"
    sql = (
        "SELECT d.id AS department_id, d.name AS name, COUNT(*) AS received, "
        f"SUM(CASE WHEN {checked} THEN 1 ELSE 0 END) AS checked_in, "
        f"SUM(CASE WHEN {checked} AND s.checked_in_at <= s.ack_due_at THEN 1 ELSE 0 END) AS on_time, "
        f"SUM(CASE WHEN {checked} AND s.summoned_at IS NOT NULL THEN 1 ELSE 0 END) AS timed, "
        f"SUM(CASE WHEN {checked} AND s.summoned_at IS NOT NULL THEN {seconds} ELSE 0 END) AS seconds, "
        "SUM(CASE WHEN w.mode = 'onsite' THEN 1 ELSE 0 END) AS onsite, "
        f"SUM(CASE WHEN w.mode = 'onsite' AND {checked} AND s.checkin_method IN ({_in_list(list(ONSITE_METHODS))}) "
        "THEN 1 ELSE 0 END) AS onsite_in, "
        "SUM(CASE WHEN w.status = 'closed' AND s.result_at IS NOT NULL THEN 1 ELSE 0 END) AS resolved, "
        f"SUM(CASE WHEN m.rating IN ({_in_list(list(RATED))}) THEN 1 ELSE 0 END) AS rated, "
        f"SUM(CASE WHEN m.rating IN ({_in_list(list(SATISFIED))}) THEN 1 ELSE 0 END) AS satisfied, "
        "COUNT(s.rating_timeliness) AS timeliness_n, SUM(s.rating_timeliness) AS timeliness_sum, "
        "COUNT(s.rating_effectiveness) AS effectiveness_n, SUM(s.rating_effectiveness) AS effectiveness_sum "
        "FROM checkin_whistle w "
        "JOIN checkin_summons s ON s.whistle = w.id "
        "JOIN department d ON d.id = s.department "
        "LEFT JOIN matter m ON m.id = w.matter "
        f"WHERE w.center IN ({_in_list(center_ids)}) AND {opened_sql}"
    )
    args: list = [*ONSITE_METHODS, *RATED, *SATISFIED, *center_ids, *opened_args]
    if department_id is not None:
        sql += " AND s.department = {}"
        args.append(department_id)
    sql += " GROUP BY d.id, d.name"
    rows = []
    for r in await raw(sql, *args):
        received = _int(r["received"])
        rows.append(DepartmentRow(
            department_id=r["department_id"],
            name=r["name"],
            received=received,
            checked_in=_int(r["checked_in"]),
            on_time=_int(r["on_time"]),
            response=Rate(_int(r["on_time"]), received),
            checkin_minutes=Mean(_int(r["seconds"]), _int(r["timed"]), unit=60),
            onsite=Rate(_int(r["onsite_in"]), _int(r["onsite"])),
            resolution=Rate(_int(r["resolved"]), received),
            satisfaction=Rate(_int(r["satisfied"]), _int(r["rated"])),
            timeliness=Mean(_int(r["timeliness_sum"]), _int(r["timeliness_n"])),
            effectiveness=Mean(_int(r["effectiveness_sum"]), _int(r["effectiveness_n"])),
        ))
    return _ranked(rows)


def _ranked(rows: list[DepartmentRow]) -> list[DepartmentRow]:
    # Name order first, then a stable sort on the figures: equal figures keep name order.
    rows = sorted(rows, key=lambda row: (row.name, row.department_id))
    rows.sort(key=DepartmentRow.ranking_key, reverse=True)
    ranked: list[DepartmentRow] = []
    for position, row in enumerate(rows, start=1):
        tied = ranked and ranked[-1].ranking_key() == row.ranking_key()
        ranked.append(replace(row, rank=ranked[-1].rank if tied else position))
    return ranked


async def center_month(center_ids: list[int], month: Month) -> list[CenterRow]:
    """One row per center of ``center_ids`` (tree order): whistles, registered matters, 吹哨率."""
    if not center_ids:
        return []
    centers = await raw(
        f"SELECT id, name, level, path FROM center WHERE id IN ({_in_list(center_ids)}) ORDER BY path", *center_ids
    )
    opened_sql, opened_args = _opened_filter(month)
    whistles = await raw(
        f"SELECT w.center AS center, COUNT(*) AS n FROM checkin_whistle w "
        f"WHERE w.center IN ({_in_list(center_ids)}) AND {opened_sql} GROUP BY w.center",
        *center_ids, *opened_args,
    )
    # The numbers page's counter of registrations (one row per center, China-local day and metric).
    matters = await raw(
        f"SELECT center, SUM(count) AS n FROM matter_stat WHERE center IN ({_in_list(center_ids)}) "
        "AND metric = 'received' AND day >= {} AND day <= {} GROUP BY center",
        *center_ids, month.first_day, month.last_day,
    )
    whistle_n = {row["center"]: _int(row["n"]) for row in whistles}
    matter_n = {row["center"]: _int(row["n"]) for row in matters}
    return [
        CenterRow(c["id"], c["name"], c["level"], c["path"], whistle_n.get(c["id"], 0), matter_n.get(c["id"], 0))
        for c in centers
    ]


def center_total(rows: list[CenterRow], name: str = "合计") -> CenterRow:
    """The scope's total: whistles and matters added up, the rate recomputed (never averaged)."""
    return CenterRow(0, name, "", "", sum(r.whistles for r in rows), sum(r.matters for r in rows))
