"""Fast generator of one-stop-window matters for the benchmark (bench/matters.py).

    PORTAL_DATA_DIR=/tmp/x .venv/bin/python bench/generate_matters.py --count 1000000
    PORTAL_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/whistle_bench_matters \\
        .venv/bin/python bench/generate_matters.py --count 1000000

The database is the one the portal would use with the same environment (``PORTAL_DATA_DIR`` /
``PORTAL_DATABASE_URL``). It must be migrated, hold the demo centers (``portal demo load``) and no
generated matters yet (the few the demo load registers are fine). Bulk load, not the service: the
matter table's secondary indexes are dropped, the rows go in by ``executemany`` in 50,000-row
transactions (SQLite) or ``COPY`` (PostgreSQL), then the indexes are created again with their own
DDL; the counters are added to ``matter_stat`` with the service's upsert. PostgreSQL gets ``VACUUM ANALYZE`` (what autovacuum does after
a bulk insert); SQLite gets no ``ANALYZE`` unless ``--analyze``, because the portal never runs it,
so a database grown by the app has no planner statistics either.

What a row looks like is what the service would have written (portal/matters/service.py),
simulated event by event from ``received_at`` up to now:

* ``received_at``: 3 years up to now, 85 % in China office hours, ids ascending with time;
* registering center (``origin_center``): district 20 %, each township 11 %, each village ~7 %;
  8 % of the lower centers' matters escalated, 12 % of the district's handed down, before the
  acceptance decision; a review request moves the matter to the parent center. ``center_path`` is
  ``Center.path`` of the handling center, as ``register``/``act`` set it;
* decision within the 15-day acceptance limit (96 %): accept 57 %, accept + assign to a department
  27 %, decline 8 %, forward out 6 %, merge 2 %; reply 5–75 days later (60-day limit, 5 % with an
  approved extension); 75 % rated (satisfied 60 %, basically 25 %, unsatisfied 15 %); 3 % (25 % of
  the unsatisfied) request a review at the parent center; closed once rated or the 30-day review
  period ran out. ``due_at`` comes from ``portal.matters.clock.deadline`` with the official calendar.
  What has not happened by now leaves the matter open (registered/accepted/assigned/replied/review),
  some of them paused;
* ``matter_stat``: every counter the service bumps (received at the registering center; decided,
  decided_in_time, accepted, declined, forwarded, replied, replied_in_time, on_spot, joint, rated,
  satisfied, closed at the handling center), per China day — so the numbers page adds up to the
  matters (checked at the end: ``received`` = number of matters, ``closed`` = closed matters).

No timeline events, notices, outbox messages or audit rows are written (the queue and the numbers
page do not read them). The seed makes the data reproducible; "now" is the time of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as dt
import json
import random
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from portal.matters.calendar import WorkingCalendar  # noqa: E402
from portal.matters.clock import RULES, deadline, end_of_day  # noqa: E402
from portal.matters.codes import ALPHABET, _check_char  # noqa: E402
from portal.settings import Settings  # noqa: E402

UTC = dt.timezone.utc
CN_OFFSET = 8 * 3600
DAY = 86400.0
CHUNK = 50_000
# The demo load registers a few matters through the service; more than this means a generated database.
MAX_EXISTING = 1000
# portal.matters.stats.bump's statement (the demo load's matters may have counted today already).
STAT_UPSERT = (
    "INSERT INTO matter_stat (center, day, metric, count) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (center, day, metric) DO UPDATE SET count = matter_stat.count + excluded.count"
)
# Matters and their counters (the check compares what the run added: received = matters, closed = closed).
COUNTS_SQL = (
    "SELECT 'matters', count(*) FROM matter UNION ALL SELECT 'closed', count(*) FROM matter WHERE status = 'closed' "
    "UNION ALL SELECT 'received', sum(count) FROM matter_stat WHERE metric = 'received' "
    "UNION ALL SELECT 'closed_stat', sum(count) FROM matter_stat WHERE metric = 'closed'"
)

COLUMNS = (
    "code", "kind", "category", "channel", "summary", "request", "facts", "place", "place_center", "center",
    "center_path", "origin_center", "department", "assigned_at", "department_due_at", "petitioner_name",
    "petitioner_phone", "phone_last4", "petitioner_address", "people_count", "representatives", "parties",
    "citizen", "registered_by", "status", "clock", "clock_started_at", "paused_at", "paused_days",
    "extension_days", "due_at", "received_at", "accepted_at", "replied_at", "closed_at", "resolution", "outcome",
    "review_level", "final", "rating", "rating_reason", "rated_at", "repeat_of", "version", "created_at",
    "updated_at",
)

CATEGORY_WEIGHTS = {
    "labour": 15, "land": 12, "neighbour": 14, "family": 10, "property": 10, "consumer": 8, "appeal": 8,
    "suggestion": 6, "traffic": 5, "medical": 4, "accusation": 4, "other": 4,
}
CHANNEL_WEIGHTS = {"visit": 35, "phone": 20, "online": 20, "grid": 12, "letter": 10, "video": 3}
# Which department a center assigns a category to (codes from portal/demo.py).
DEPARTMENT_FOR = {
    "labour": "RSJ", "land": "ZRZYJ", "medical": "WJJ", "consumer": "SCJGJ", "property": "ZJJ", "traffic": "GAFJ",
    "family": "MZJ", "neighbour": "SFJ", "accusation": "XFJ", "appeal": "FY", "suggestion": "XFJ", "other": "SFJ",
}
ISSUES = {
    "labour": ["工地务工工资被拖欠{n}个月", "用人单位未签劳动合同且拒付加班费", "工伤后单位拒绝申报工伤认定"],
    "land": ["土地承包经营权边界与邻户存在争议", "征地补偿款未按标准足额发放", "宅基地确权登记面积与实际不符"],
    "neighbour": ["与邻居因宅基地边界发生纠纷", "邻户加盖房屋影响采光通风", "邻里之间因排水沟渠堵塞发生争执"],
    "family": ["婚姻家庭矛盾，要求调解赡养老人问题", "离婚后子女抚养费长期未支付", "兄弟之间因老宅继承发生纠纷"],
    "property": ["小区物业服务不到位，电梯长期停运", "购买的商品房逾期{n}个月未交付", "老旧小区屋顶漏水无人维修"],
    "consumer": ["在本地商铺购买的家电质量有问题拒不退换", "预付卡商家关门无法退款", "购买的农资种子出苗率低"],
    "appeal": ["对行政处罚决定不服，请求重新处理", "请求落实退役军人优抚待遇", "反映低保资格被取消，请求复核"],
    "suggestion": ["建议在村口路段增设路灯和减速带", "建议增加城乡公交班次", "建议整治集市周边占道经营"],
    "traffic": ["交通事故赔偿款对方迟迟不履行", "农用车与电动车相撞责任认定有异议", "停车场车辆被刮擦无人负责"],
    "medical": ["在卫生院就诊后病情加重，对诊疗有异议", "医疗费用报销比例与政策不符", "药店出售过期药品"],
    "accusation": ["反映村干部在惠民资金发放中优亲厚友", "反映某企业夜间违规排放污水", "反映工程项目存在转包问题"],
    "other": ["反映自来水水压不足、经常停水", "请求协助办理户籍迁移手续", "反映养殖场异味扰民"],
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红梅鑫波斌宇浩凯健俊帆帅旭宁龙林欣佳雪婷倩丹建国志文海燕春生福贵德荣"
PLACES = ["一社", "二社", "三社", "四社", "五社", "六社", "七社", "街东头", "村委会附近", "集市", "小区"]


class Centers:
    """The demo centers: id, path, level, parent; the window user and the departments."""

    def __init__(self, centers: list[dict], departments: dict[str, int], window_users: dict[int, int]):
        self.rows = sorted(centers, key=lambda c: c["path"])
        self.by_id = {c["id"]: c for c in self.rows}
        self.departments = departments
        self.window_users = window_users
        district = [c for c in self.rows if c["level"] == "district"]
        if len(district) != 1 or len(self.rows) < 3:
            raise SystemExit("generate_matters: load the demo centers first (portal demo load)")
        share = {"district": 20.0, "township": 44.0, "village": 36.0}
        per_level = {level: sum(1 for c in self.rows if c["level"] == level) for level in share}
        weights = [share[c["level"]] / per_level[c["level"]] for c in self.rows]
        self.origin_ids = [c["id"] for c in self.rows]
        self.origin_cum = _cumulative(weights)
        self.children = {c["id"]: [d["id"] for d in self.rows if d["parent"] == c["id"]] for c in self.rows}
        self.villages_of = {
            c["id"]: [d["id"] for d in self.rows if d["path"].startswith(c["path"]) and d["level"] == "village"] or [c["id"]]
            for c in self.rows
        }


def _cumulative(weights) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return [x / total for x in out]


def _pick(rnd: random.Random, items: list, cum: list[float]):
    return items[bisect.bisect_left(cum, rnd.random())]


class Simulator:
    """Produces matter rows (tuples in COLUMNS order) and the counters they imply."""

    def __init__(self, centers: Centers, *, now: dt.datetime, seed: int, years: float, ts_out, day_out):
        self.c = centers
        self.rnd = random.Random(seed)
        self.now = now.timestamp()
        self.start = self.now - years * 365.25 * DAY
        self.ts_out = ts_out  # epoch seconds -> the engine's timestamptz value
        self.day_out = day_out  # datetime.date -> the engine's date value
        self.calendar = WorkingCalendar()
        self._deadlines: dict[tuple, float] = {}
        self.stats: dict[tuple[int, int, str], int] = {}
        self.codes: set[str] = set()
        self.statuses: dict[str, int] = {}
        self.cat_items = list(CATEGORY_WEIGHTS)
        self.cat_cum = _cumulative(CATEGORY_WEIGHTS.values())
        self.chan_items = list(CHANNEL_WEIGHTS)
        self.chan_cum = _cumulative(CHANNEL_WEIGHTS.values())

    # -- time helpers ------------------------------------------------------------------------

    @staticmethod
    def cn_day(ts: float) -> int:
        """China calendar day number (days since 1970-01-01 CST)."""
        return int((ts + CN_OFFSET) // DAY)

    def due(self, ts: float, rule: str, extension_days: int = 0) -> float:
        key = (self.cn_day(ts), rule, extension_days)
        value = self._deadlines.get(key)
        if value is None:
            started = dt.datetime.fromtimestamp(ts, UTC)
            value = deadline(started, RULES[rule], self.calendar, extension_days=extension_days).timestamp()
            self._deadlines[key] = value
        return value

    def bump(self, center: int, metric: str, ts: float) -> None:
        key = (center, self.cn_day(ts), metric)
        self.stats[key] = self.stats.get(key, 0) + 1

    def received_times(self, count: int) -> list[float]:
        """Sorted receipt times: 85 % in China office hours (8:30–18:00), the rest at any hour."""
        rnd, out = self.rnd, []
        first_day = self.cn_day(self.start)
        days = self.cn_day(self.now) - first_day
        for _ in range(count):
            if rnd.random() < 0.85:
                day = first_day + int(rnd.random() * (days + 1))
                ts = day * DAY - CN_OFFSET + 8.5 * 3600 + rnd.random() * 9.5 * 3600
            else:
                ts = self.start + rnd.random() * (self.now - self.start)
            if self.start <= ts < self.now:
                out.append(ts)
            else:
                out.append(self.start + rnd.random() * (self.now - self.start))
        out.sort()
        return out

    # -- one matter ------------------------------------------------------------------------------

    def code(self) -> str:
        rnd = self.rnd
        while True:
            body = "".join(rnd.choices(ALPHABET, k=11))
            code = body + _check_char(body)
            if code not in self.codes:
                self.codes.add(code)
                return code

    def matter(self, t0: float) -> tuple:
        rnd, c, now, out = self.rnd, self.c, self.now, self.ts_out
        origin = _pick(rnd, c.origin_ids, c.origin_cum)
        category = _pick(rnd, self.cat_items, self.cat_cum)
        channel = _pick(rnd, self.chan_items, self.chan_cum)
        center = origin
        version = 1
        updated = t0
        self.bump(origin, "received", t0)
        origin_row = c.by_id[origin]
        # Routing before the decision: escalated to the parent, or handed down by the district.
        if origin_row["parent"] and rnd.random() < 0.08:
            center = origin_row["parent"]
            version += 1
        elif origin_row["level"] == "district" and rnd.random() < 0.12 and c.children[origin]:
            center = rnd.choice(c.children[origin])
            version += 1
        status, clock, clock_started, due = "registered", "acceptance", t0, self.due(t0, "acceptance")
        paused_at = None
        accepted_at = replied_at = closed_at = rated_at = assigned_at = department_due_at = None
        department = None
        extension = 0
        resolution = outcome = rating = rating_reason = ""
        review_level, final = 0, False
        # The acceptance decision.
        delay = rnd.expovariate(1 / 3.0) if rnd.random() < 0.96 else 15 + rnd.random() * 10
        td = t0 + delay * DAY
        if td > now:
            if rnd.random() < 0.03:
                paused_at = t0 + rnd.random() * (now - t0)
        else:
            version += 1
            updated = td
            in_time = td <= due
            r = rnd.random()
            kind = "accept" if r < 0.57 else "assign" if r < 0.84 else "decline" if r < 0.92 else "forward" if r < 0.98 else "merge"
            if kind != "merge":
                self.bump(center, "decided", td)
                if in_time:
                    self.bump(center, "decided_in_time", td)
            if kind in ("decline", "forward", "merge"):
                status = {"decline": "declined", "forward": "forwarded", "merge": "merged"}[kind]
                if kind != "merge":
                    self.bump(center, status, td)
                clock, due, closed_at = "", None, td
            else:
                self.bump(center, "accepted", td)
                accepted_at = td
                extension = (15 if rnd.random() < 0.6 else 30) if rnd.random() < 0.05 else 0
                clock, clock_started, due = "handling", td, self.due(td, "handling", extension)
                status = "accepted"
                if kind == "assign":
                    status = "assigned"
                    department = c.departments.get(DEPARTMENT_FOR[category])
                    assigned_at = td
                    department_due_at = min(end_of_day(
                        dt.datetime.fromtimestamp(td + CN_OFFSET, UTC).date() + dt.timedelta(days=20)
                    ).timestamp(), due)
                tr = td + (5 + rnd.triangular(0, 70, 30)) * DAY
                if tr > now:
                    if rnd.random() < 0.04:
                        paused_at = td + rnd.random() * (now - td)
                else:
                    version += 1
                    updated = tr
                    replied_at = tr
                    self.bump(center, "replied", tr)
                    if tr <= due:
                        self.bump(center, "replied_in_time", tr)
                    r = rnd.random()
                    outcome = "support" if r < 0.35 else "explain" if r < 0.85 else "reject"
                    r = rnd.random()
                    resolution = "on_spot" if r < 0.15 else "joint" if r < 0.25 else ""
                    if resolution:
                        self.bump(center, resolution, tr)
                    status, clock, clock_started, due = "replied", "review_request", tr, self.due(tr, "review_request")
                    if rnd.random() < 0.75:
                        ta = tr + (0.5 + rnd.random() * 20) * DAY
                        if ta <= now:
                            version += 1
                            updated = ta
                            r = rnd.random()
                            rating = "satisfied" if r < 0.6 else "basically" if r < 0.85 else "unsatisfied"
                            rated_at = ta
                            rating_reason = "办理结果与诉求差距较大，希望重新处理。" if rating == "unsatisfied" else ""
                            self.bump(center, "rated", ta)
                            if rating != "unsatisfied":
                                self.bump(center, "satisfied", ta)
                    parent = c.by_id[center]["parent"]
                    review_p = 0.25 if rating == "unsatisfied" else 0.03
                    tq = tr + (1 + rnd.random() * 27) * DAY
                    if parent and rnd.random() < review_p and tq <= now and tq <= due:
                        version += 1
                        updated = tq
                        center, department, review_level = parent, None, 1
                        status, clock, clock_started, due = "review", "review", tq, self.due(tq, "review")
                        t2 = tq + (5 + rnd.random() * 24) * DAY
                        if t2 <= now:
                            version += 1
                            updated = t2
                            replied_at = t2
                            outcome = "explain" if rnd.random() < 0.7 else "support"
                            status, clock, clock_started, due = "replied", "rereview_request", t2, self.due(t2, "rereview_request")
                            tc = due + rnd.random() * 5 * DAY
                            if tc <= now:
                                version += 1
                                updated = tc
                                status, clock, due, closed_at = "closed", "", None, tc
                                self.bump(center, "closed", tc)
                    else:
                        tc = (rated_at + rnd.random() * 5 * DAY) if rated_at else due + rnd.random() * 10 * DAY
                        if tc <= now:
                            version += 1
                            updated = tc
                            status, clock, due, closed_at = "closed", "", None, tc
                            self.bump(center, "closed", tc)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        surname = SURNAMES[int(rnd.random() * len(SURNAMES))]
        name = surname + GIVEN[int(rnd.random() * len(GIVEN))] + (GIVEN[int(rnd.random() * len(GIVEN))] if rnd.random() < 0.7 else "")
        phone = f"1{rnd.choice('3456789')}{int(rnd.random() * 1e9):09d}" if (channel != "letter" or rnd.random() < 0.5) else ""
        place_center = rnd.choice(c.villages_of[origin])
        place = c.by_id[place_center]["name"].removesuffix("综治中心") + PLACES[int(rnd.random() * len(PLACES))]
        issue = rnd.choice(ISSUES[category]).format(n=1 + int(rnd.random() * 11))
        summary = f"{surname}某反映{issue}"
        request = f"请求有关部门依法处理{issue.split('，')[0]}的问题，维护本人合法权益。"
        facts = (
            f"{name}称，{place}{issue}。本人曾多次与对方协商未果，现持相关材料到中心反映，"
            f"希望尽快调查核实并给予答复。"
        )
        people = 1 if rnd.random() < 0.97 else 5 + int(rnd.random() * 30)
        reps = "[]"
        if people >= 5:
            reps = json.dumps([{"name": name, "phone": phone}], ensure_ascii=False)
        registered_by = None if channel == "online" else c.window_users.get(origin)
        return (
            self.code(), "dispute" if category in ("neighbour", "family", "land", "traffic") else "petition",
            category, channel, summary[:200], request, facts, place, place_center, center,
            c.by_id[center]["path"], origin, department, _o(out, assigned_at), _o(out, department_due_at), name,
            phone, phone[-4:], f"甘州区{place}{1 + int(rnd.random() * 99)}号", people, reps, "[]",
            None, registered_by, status, clock, _o(out, clock_started if clock else None), _o(out, paused_at), 0,
            extension, _o(out, due), out(t0), _o(out, accepted_at), _o(out, replied_at), _o(out, closed_at),
            resolution, outcome, review_level, final, rating, rating_reason, _o(out, rated_at), None, version,
            out(t0), out(updated),
        )

    def stat_rows(self) -> list[tuple]:
        epoch = dt.date(1970, 1, 1)
        return [
            (center, self.day_out(epoch + dt.timedelta(days=day)), metric, n)
            for (center, day, metric), n in sorted(self.stats.items())
        ]


def _o(out, ts):
    return None if ts is None else out(ts)


def _sqlite_ts(ts: float) -> str:
    # What Piccolo's SQLite adapter stores for an aware datetime: str() of it in UTC.
    return str(dt.datetime.fromtimestamp(ts, UTC))


def _pg_ts(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, UTC)


# ----------------------------------------------------------------------------- SQLite


def _reference_sqlite(conn: sqlite3.Connection) -> Centers:
    conn.row_factory = sqlite3.Row
    centers = [dict(r) for r in conn.execute("SELECT id, code, name, level, parent, path FROM center WHERE active")]
    departments = {r["code"]: r["id"] for r in conn.execute("SELECT id, code FROM department")}
    window = {}
    for r in conn.execute(
        "SELECT u.id, u.center FROM staff_user u JOIN staff_role r ON r.user = u.id "
        "WHERE r.role = 'window_staff' ORDER BY u.id"
    ):
        window.setdefault(r["center"], r["id"])
    conn.row_factory = None
    return Centers(centers, departments, window)


def load_sqlite(path: Path, args, log) -> dict:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA synchronous=OFF")  # this connection only: a scratch load, rerun if it fails
    conn.execute("PRAGMA cache_size=-262144")
    before = _counts_sqlite(conn)
    if before["matters"] > MAX_EXISTING:
        raise SystemExit("generate_matters: the database already holds generated matters (use a fresh one)")
    centers = _reference_sqlite(conn)
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'matter' AND sql IS NOT NULL"
    ).fetchall()
    for name, _sql in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    sim = Simulator(centers, now=args.now, seed=args.seed, years=args.years, ts_out=_sqlite_ts, day_out=dt.date.isoformat)
    times = sim.received_times(args.count)
    insert = f"INSERT INTO matter ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    started = time.monotonic()
    for first in range(0, args.count, CHUNK):
        rows = [sim.matter(t) for t in times[first:first + CHUNK]]
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")
        if (first // CHUNK) % 4 == 3:
            log(f"  {first + len(rows):,} matters ({time.monotonic() - started:.0f} s)")
    conn.execute("BEGIN")
    conn.executemany(STAT_UPSERT.replace("$1", "?").replace("$2", "?").replace("$3", "?").replace("$4", "?"), sim.stat_rows())
    conn.execute("COMMIT")
    log(f"  rows in {time.monotonic() - started:.0f} s; creating {len(indexes)} indexes")
    for _name, sql in indexes:
        conn.execute(sql)
    if args.analyze:
        conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = _counts_sqlite(conn)
    conn.close()
    return {"sim": sim, "check": {k: after[k] - before[k] for k in after}}


def _counts_sqlite(conn: sqlite3.Connection) -> dict[str, int]:
    return {k: v or 0 for k, v in conn.execute(COUNTS_SQL).fetchall()}


# ----------------------------------------------------------------------------- PostgreSQL


async def _load_pg(url: str, args, log) -> dict:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        before = {r[0]: r[1] or 0 for r in await conn.fetch(COUNTS_SQL)}
        if before["matters"] > MAX_EXISTING:
            raise SystemExit("generate_matters: the database already holds generated matters (use a fresh one)")
        centers = Centers(
            [dict(r) for r in await conn.fetch("SELECT id, code, name, level, parent, path FROM center WHERE active")],
            {r["code"]: r["id"] for r in await conn.fetch("SELECT id, code FROM department")},
            {},
        )
        for r in await conn.fetch(
            'SELECT u.id, u.center FROM staff_user u JOIN staff_role r ON r."user" = u.id '
            "WHERE r.role = 'window_staff' ORDER BY u.id"
        ):
            centers.window_users.setdefault(r["center"], r["id"])
        # Secondary indexes that are not constraints (the primary key and UNIQUE(code) stay).
        indexes = await conn.fetch(
            "SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS sql FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'matter'::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
        )
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["name"]}"')
        sim = Simulator(centers, now=args.now, seed=args.seed, years=args.years, ts_out=_pg_ts, day_out=lambda d: d)
        times = sim.received_times(args.count)
        started = time.monotonic()
        for first in range(0, args.count, CHUNK):
            rows = [sim.matter(t) for t in times[first:first + CHUNK]]
            await conn.copy_records_to_table("matter", records=rows, columns=list(COLUMNS), timeout=600)
            if (first // CHUNK) % 4 == 3:
                log(f"  {first + len(rows):,} matters ({time.monotonic() - started:.0f} s)")
        async with conn.transaction():
            await conn.executemany(STAT_UPSERT, sim.stat_rows(), timeout=600)
        log(f"  rows in {time.monotonic() - started:.0f} s; creating {len(indexes)} indexes")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for row in indexes:
            await conn.execute(row["sql"], timeout=600)
        await conn.execute("VACUUM ANALYZE matter", timeout=600)
        await conn.execute("VACUUM ANALYZE matter_stat", timeout=600)
        after = {r[0]: r[1] or 0 for r in await conn.fetch(COUNTS_SQL)}
        return {"sim": sim, "check": {k: after[k] - before[k] for k in after}}
    finally:
        await conn.close()


# ----------------------------------------------------------------------------- main


def generate(args, log=print) -> dict:
    settings = Settings.from_env()
    started = time.monotonic()
    if settings.is_postgres:
        result = asyncio.run(_load_pg(settings.database_url, args, log))
        engine = "PostgreSQL"
    else:
        result = load_sqlite(settings.sqlite_path, args, log)
        engine = "SQLite"
    check, sim = result["check"], result["sim"]
    if not (check["matters"] == args.count == check["received"] and check["closed"] == check["closed_stat"]):
        raise SystemExit(f"generate_matters: counters do not add up: {check}")
    seconds = time.monotonic() - started
    log(f"{engine}: {args.count:,} matters and {len(sim.stats):,} counter rows in {seconds:.0f} s; "
        f"statuses: {', '.join(f'{k} {v:,}' for k, v in sorted(sim.statuses.items(), key=lambda kv: -kv[1]))}")
    return {"engine": engine, "seconds": seconds, "statuses": sim.statuses, "stat_rows": len(sim.stats), "check": check}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--years", type=float, default=3.0, help="received_at spread (default 3 years up to now)")
    parser.add_argument("--analyze", action="store_true", help="SQLite: run ANALYZE afterwards (the portal never does)")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 10_000_000:
        parser.error("--count must be 1 … 10,000,000")
    args.now = dt.datetime.now(UTC)
    generate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
