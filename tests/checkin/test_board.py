"""The check-in assessment board: a generated month checked against an independent calculation.

The figures expected here are computed in plain Python from the generated records (not with
plugins.checkin.board), then compared with board.py's rows, the HTML page and the XLSX export.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from html.parser import HTMLParser

from openpyxl import load_workbook

from plugins.checkin import board as board_module
from plugins.checkin.tables import CheckinSummons, CheckinWhistle
from portal import clock
from portal.db import raw, write_transaction
from portal.matters.stats import bump
from portal.matters.tables import Matter
from portal.tables import AuditLog, Center, Department, StaffUser

CN = dt.timezone(dt.timedelta(hours=8))
LIMITS = {"emergency": 30, "urgent": 120, "ordinary": 1440}
RATED = ("satisfied", "basically", "unsatisfied")
CENTERS = ("GZQ", "GZQ-DMZ", "GZQ-DZZ", "GZQ-DMZ-XXC", "GZQ-DJ")
DEPARTMENTS = ("RSJ", "WJJ", "SCJGJ", "ZJJ", "GAFJ", "MZJ", "SFJ", "DMZ-SFS")
# Registered matters per center in October: XXC has none (its whistle rate is "—"), DZZ few (high).
MATTERS_IN_OCTOBER = {"GZQ": 40, "GZQ-DMZ": 20, "GZQ-DZZ": 4, "GZQ-DMZ-XXC": 0, "GZQ-DJ": 3}
OCTOBER = (dt.datetime(2026, 10, 1, tzinfo=CN), dt.datetime(2026, 11, 1, tzinfo=CN))


def cn(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CN)


@dataclass
class S:  # one summons as generated
    dept: str
    summoned: dt.datetime
    due: dt.datetime
    checked: dt.datetime | None = None
    method: str = ""
    result_at: dt.datetime | None = None
    timeliness: int | None = None
    effectiveness: int | None = None


@dataclass
class W:  # one whistle as generated
    center: str
    created: dt.datetime
    status: str
    mode: str
    grade: str = "ordinary"
    approved: dt.datetime | None = None
    matter: int | None = None  # index into the generated matters
    summons: list[S] = field(default_factory=list)

    @property
    def opened(self) -> dt.datetime:
        return self.approved or self.created


@dataclass
class M:  # one matter as generated
    center: str
    received: dt.datetime
    rating: str = ""


# ------------------------------------------------------------------------------------ generation


def _random_moment(rng: random.Random, year: int, month: int) -> dt.datetime:
    start = cn(year, month, 1)
    end = cn(year + (month == 12), month % 12 + 1, 1)
    return start + dt.timedelta(seconds=rng.randrange(int((end - start).total_seconds())))


def _summons(rng: random.Random, w: W, dept: str) -> S:
    limit = dt.timedelta(minutes=LIMITS[w.grade])
    s = S(dept=dept, summoned=w.opened, due=w.opened + limit)
    fate = rng.random()
    if fate < 0.55:
        s.checked = w.opened + dt.timedelta(seconds=rng.randrange(1, int(limit.total_seconds()) + 1))
    elif fate < 0.8:
        s.checked = s.due + dt.timedelta(seconds=rng.randrange(1, 6 * 3600))
    if s.checked:
        if w.mode == "online":
            s.method = "online"
        else:
            # Now and then an on-site whistle is attended online: that is no on-site attendance.
            s.method = rng.choice(("code", "qr", "code", "online"))
    if w.status == "closed" or (s.checked and rng.random() < 0.3):
        s.result_at = (s.checked or s.due) + dt.timedelta(hours=rng.randrange(1, 48))
    if w.status == "closed" and rng.random() < 0.6:
        s.timeliness, s.effectiveness = rng.randint(1, 5), rng.randint(1, 5)
    return s


def generate(seed: int = 20261127) -> tuple[list[W], list[M]]:
    rng = random.Random(seed)
    matters: list[M] = []
    for center, n in MATTERS_IN_OCTOBER.items():
        for _ in range(n):
            matters.append(M(center, _random_moment(rng, 2026, 10), rng.choice((*RATED, "", ""))))
        for month in (9, 11):  # the neighbouring months must not count
            for _ in range(2):
                matters.append(M(center, _random_moment(rng, 2026, month), rng.choice(RATED)))
    whistles: list[W] = []
    for _ in range(70):
        center = rng.choice(CENTERS[:4])
        month = rng.choices((9, 10, 11), weights=(1, 8, 1))[0]
        w = W(center=center, created=_random_moment(rng, 2026, month),
              status=rng.choice(("open", "closed", "closed")), mode=rng.choice(("onsite", "online")),
              grade=rng.choice(tuple(LIMITS)))
        if rng.random() < 0.25:
            w.approved = w.created + dt.timedelta(seconds=rng.randrange(60, 3 * 86400))
        if rng.random() < 0.6:
            own = [i for i, m in enumerate(matters) if m.center == center]
            w.matter = rng.choice(own)
        w.summons = [_summons(rng, w, dept) for dept in rng.sample(DEPARTMENTS, rng.randint(1, 3))]
        whistles.append(w)
    # Fixed cases. Approved across the month boundary: blown in September, out in October …
    w = W("GZQ-DMZ", cn(2026, 9, 30, 20, 0, 0), "open", "onsite", approved=cn(2026, 10, 1, 9, 0, 0))
    w.summons = [_summons(rng, w, "RSJ")]
    whistles.append(w)
    # … and blown in October, out in November.
    w = W("GZQ-DMZ", cn(2026, 10, 31, 22, 0, 0), "open", "onsite", approved=cn(2026, 11, 1, 8, 0, 0))
    w.summons = [_summons(rng, w, "RSJ")]
    whistles.append(w)
    # Checked in exactly at the limit: on time.
    w = W("GZQ", cn(2026, 10, 15, 10, 0, 0), "open", "onsite", grade="urgent")
    w.summons = [S("WJJ", w.opened, w.opened + dt.timedelta(minutes=120), w.opened + dt.timedelta(minutes=120), "qr")]
    whistles.append(w)
    # 区信访局 is only ever summoned online and without a linked matter: on-site rate, satisfaction
    # and the center's ratings have a zero denominator.
    for day in (3, 17):
        w = W("GZQ", cn(2026, 10, day, 9, 30, 0), "open", "online")
        w.summons = [S("XFJ", w.opened, w.opened + dt.timedelta(days=1), w.opened + dt.timedelta(minutes=45), "online")]
        whistles.append(w)
    # Whistles that never went out, in the middle of October, with on-time check-ins that must not count.
    for status in ("pending_approval", "rejected", "cancelled"):
        w = W("GZQ", cn(2026, 10, 10, 10, 0, 0), status, "onsite",
              approved=cn(2026, 10, 10, 11, 0, 0) if status == "rejected" else None)
        w.summons = [S("RSJ", w.created, w.created + dt.timedelta(minutes=30), w.created + dt.timedelta(minutes=5), "code")]
        whistles.append(w)
    return whistles, matters


async def enable_checkin_everywhere() -> None:
    for center in await Center.select(Center.id):
        existing = await raw("SELECT id FROM center_module WHERE center = {} AND module = 'checkin'", center["id"])
        if existing:
            await raw("UPDATE center_module SET allowed = {}, enabled = {} WHERE id = {}", True, True, existing[0]["id"])
        else:
            await raw("INSERT INTO center_module (center, module, allowed, enabled, updated_at) VALUES ({}, 'checkin', {}, {}, {})",
                      center["id"], True, True, clock.now())


async def store(whistles: list[W], matters: list[M]) -> dict:
    """Insert the generated rows directly (fast); the matter counters as registration bumps them."""
    centers = {r["code"]: r for r in await Center.select(Center.id, Center.code, Center.path, Center.name, Center.level)}
    depts = {r["code"]: r for r in await Department.select(Department.id, Department.code, Department.name)}
    staff = (await StaffUser.select(StaffUser.id).where(StaffUser.username == "gzq_admin").first())["id"]
    await enable_checkin_everywhere()
    async with write_transaction():
        if matters:
            await Matter.insert(*[
                Matter(code=f"BRD{i:06d}", category="other", channel="visit", summary="生成的事项",
                       center=centers[m.center]["id"], center_path=centers[m.center]["path"],
                       origin_center=centers[m.center]["id"], received_at=m.received,
                       status="closed" if m.rating else "accepted", rating=m.rating)
                for i, m in enumerate(matters)
            ])
        for m in matters:
            await bump(centers[m.center]["id"], "received", m.received)
        matter_ids = {r["code"]: r["id"] for r in await Matter.select(Matter.id, Matter.code).where(Matter.code.like("BRD%"))}
        await CheckinWhistle.insert(*[
            CheckinWhistle(center=centers[w.center]["id"], code=f"B{i:05d}", status=w.status, mode=w.mode, grade=w.grade,
                           source="matter" if w.matter is not None else "other",
                           matter=matter_ids[f"BRD{w.matter:06d}"] if w.matter is not None else None,
                           created_by=staff, created_at=w.created, approved_at=w.approved,
                           approved_by=staff if w.approved else None)
            for i, w in enumerate(whistles)
        ])
        whistle_ids = {r["code"]: r["id"] for r in await CheckinWhistle.select(CheckinWhistle.id, CheckinWhistle.code)}
        await CheckinSummons.insert(*[
            CheckinSummons(whistle=whistle_ids[f"B{i:05d}"], department=depts[s.dept]["id"], summoned_at=s.summoned,
                           ack_due_at=s.due, checked_in_at=s.checked, checkin_method=s.method,
                           late=bool(s.checked is None or s.checked > s.due), result_at=s.result_at,
                           result="已处置" if s.result_at else "", rating_timeliness=s.timeliness,
                           rating_effectiveness=s.effectiveness)
            for i, w in enumerate(whistles) for s in w.summons
        ])
    return {"centers": centers, "departments": depts}


# ------------------------------------------------------------------------ independent expectations


def pct(num: int, den: int) -> str:
    if den == 0:
        return "—"
    return str((Decimal(num * 100) / Decimal(den)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)) + "%"


def mean(total: int, count: int, unit: int = 1) -> str:
    if count == 0:
        return "—"
    return str((Decimal(total) / Decimal(count * unit)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def expected_departments(whistles, matters, centers: set[str], names: dict[str, str], only: str | None = None,
                         period=OCTOBER) -> list[dict]:
    acc: dict[str, dict] = {}
    for w in whistles:
        if w.status not in ("open", "closed") or w.center not in centers or not (period[0] <= w.opened < period[1]):
            continue
        rating = matters[w.matter].rating if w.matter is not None else ""
        for s in w.summons:
            if only and s.dept != only:
                continue
            d = acc.setdefault(s.dept, dict.fromkeys(
                ("received", "checked", "on_time", "seconds", "onsite", "onsite_in", "resolved", "rated", "satisfied",
                 "t_n", "t_sum", "e_n", "e_sum"), 0))
            d["received"] += 1
            if s.checked:
                d["checked"] += 1
                d["on_time"] += s.checked <= s.due
                d["seconds"] += int((s.checked - s.summoned).total_seconds())
            if w.mode == "onsite":
                d["onsite"] += 1
                d["onsite_in"] += bool(s.checked and s.method in ("code", "qr"))
            d["resolved"] += w.status == "closed" and s.result_at is not None
            d["rated"] += rating in RATED
            d["satisfied"] += rating in ("satisfied", "basically")
            if s.timeliness is not None:
                d["t_n"] += 1
                d["t_sum"] += s.timeliness
            if s.effectiveness is not None:
                d["e_n"] += 1
                d["e_sum"] += s.effectiveness
    rows = []
    for code, d in acc.items():
        rows.append({
            "code": code, "name": names[code], **d,
            "minutes": mean(d["seconds"], d["checked"], unit=60),
            "key": (Fraction(d["on_time"], d["received"]), Fraction(d["resolved"], d["received"]), d["received"]),
        })
    rows.sort(key=lambda r: r["name"])
    rows.sort(key=lambda r: r["key"], reverse=True)
    for i, r in enumerate(rows):
        r["rank"] = rows[i - 1]["rank"] if i and rows[i - 1]["key"] == r["key"] else i + 1
    return rows


def html_cells(r: dict, with_rank: bool = True) -> list[str]:
    """The row as a reader sees it on the page."""
    cells = [str(r["rank"])] if with_rank else []
    return cells + [
        r["name"], str(r["received"]),
        f"{pct(r['on_time'], r['received'])} ({r['on_time']}/{r['received']})",
        str(r["checked"] - r["on_time"]), str(r["received"] - r["checked"]),
        f"{r['minutes']} ({r['checked']})",
        f"{pct(r['onsite_in'], r['onsite'])} ({r['onsite_in']}/{r['onsite']})",
        f"{pct(r['resolved'], r['received'])} ({r['resolved']}/{r['received']})",
        f"{pct(r['satisfied'], r['rated'])} ({r['satisfied']}/{r['rated']})",
        f"{mean(r['t_sum'], r['t_n'])} ({r['t_n']})",
        f"{mean(r['e_sum'], r['e_n'])} ({r['e_n']})",
    ]


def expected_centers(whistles, matters, codes: list[str]) -> dict[str, tuple[int, int]]:
    out = {}
    for code in codes:
        n_w = sum(1 for w in whistles if w.center == code and w.status in ("open", "closed") and OCTOBER[0] <= w.opened < OCTOBER[1])
        n_m = sum(1 for m in matters if m.center == code and OCTOBER[0] <= m.received < OCTOBER[1])
        out[code] = (n_w, n_m)
    return out


# ------------------------------------------------------------------------------------ reading


class _Tables(HTMLParser):
    """Every <table id=…>: its caption and rows of cell texts (th and td alike)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict] = {}
        self._table = None
        self._row = None
        self._cell = None
        self._in_caption = False
        self.header_scopes: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id", ""), {"caption": "", "rows": [], "head": []})
        elif tag == "caption" and self._table is not None:
            self._in_caption = True
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            if tag == "th":
                self.header_scopes.append(a.get("scope"))
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_caption and self._table is not None:
            self._table["caption"] += data


def tables(page: str) -> _Tables:
    parser = _Tables()
    parser.feed(page)
    return parser


def sheet_rows(book, title: str) -> tuple[list[str], list[dict], list[list]]:
    """Header row (the one starting with 排名/部门/中心), data rows as dicts, and the rows above it."""
    sheet = book[title]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    at = next(i for i, r in enumerate(rows) if r and r[0] in ("排名", "部门", "中心"))
    headers = rows[at]
    data = [dict(zip(headers, r)) for r in rows[at + 1:] if any(v is not None for v in r)]
    return headers, data, rows[:at]


async def ids(codes, model=Center) -> list[int]:
    return [r["id"] for r in await model.select(model.id).where(model.code.is_in(list(codes)))]


# ------------------------------------------------------------------------------------ tests


async def test_generated_month_matches_page_and_export(app, client_factory):
    whistles, matters = generate()
    stored = await store(whistles, matters)
    names = {code: row["name"] for code, row in stored["departments"].items()}
    expected = expected_departments(whistles, matters, set(CENTERS), names)
    assert len(expected) >= 8 and any(r["rank"] for r in expected)

    # 1. board.py itself.
    rows = await board_module.department_month(await ids(CENTERS), board_module.Month(2026, 10))
    assert [r.name for r in rows] == [e["name"] for e in expected]
    for row, e in zip(rows, expected):
        assert row.rank == e["rank"]
        assert (row.received, row.checked_in, row.on_time) == (e["received"], e["checked"], e["on_time"]), e["name"]
        assert (row.onsite.num, row.onsite.den) == (e["onsite_in"], e["onsite"])
        assert (row.resolution.num, row.satisfaction.num, row.satisfaction.den) == (e["resolved"], e["satisfied"], e["rated"])
        assert row.checkin_minutes.text == e["minutes"]
        assert row.timeliness.text == mean(e["t_sum"], e["t_n"]) and row.effectiveness.text == mean(e["e_sum"], e["e_n"])

    # 2. The page, as the district's leader reads it.
    leader = await client_factory()
    await leader.login("leader")
    page = await leader.get("/m/checkin/board?month=2026-10")
    assert page.status_code == 200
    parsed = tables(page.text)
    board_table = parsed.tables["department-board"]
    assert "2026年10月" in board_table["caption"]
    head, *body = board_table["rows"]
    assert head[:3] == ["排名", "部门", "收到哨数"]
    assert body == [html_cells(e) for e in expected]
    # Zero denominators read "—", never 0% or 100%.
    xfj = next(r for r in body if r[1] == "区信访局")
    assert xfj[7] == "— (0/0)" and xfj[9] == "— (0/0)" and xfj[10] == "— (0)"
    assert "row" in parsed.header_scopes and "col" in parsed.header_scopes

    # The per-center whistle rate.
    counts = expected_centers(whistles, matters, list(CENTERS))
    center_rows = {r[0]: r for r in parsed.tables["center-board"]["rows"][1:]}
    for code, (n_w, n_m) in counts.items():
        row = center_rows[stored["centers"][code]["name"]]
        assert row[1:4] == [str(n_w), str(n_m), f"{pct(n_w, n_m)} ({n_w}/{n_m})"], code
        assert bool(row[4]) == (n_m > 0 and Fraction(n_w, n_m) > Fraction(3, 10)), code
    assert center_rows[stored["centers"]["GZQ-DMZ-XXC"]["name"]][3] == f"— ({counts['GZQ-DMZ-XXC'][0]}/0)"
    assert center_rows[stored["centers"]["GZQ-DZZ"]["name"]][4]  # 4 matters, many whistles: flagged
    total_w, total_m = sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())
    assert center_rows["合计"][1:4] == [str(total_w), str(total_m), f"{pct(total_w, total_m)} ({total_w}/{total_m})"]

    # 3. The spreadsheet: same figures, numbers as numbers, rates as percentages; the export is audited.
    download = await leader.get("/m/checkin/board.xlsx?month=2026-10")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert download.headers["content-disposition"] == 'attachment; filename="checkin-board-2026-10.xlsx"'
    book = load_workbook(io.BytesIO(download.content))
    assert book.sheetnames == ["部门报到考核", "中心吹哨率", "统计口径"]
    headers, data, above = sheet_rows(book, "部门报到考核")
    assert "2026年10月" in above[0][0] and "甘州区综治中心" in above[1][0]
    assert len(data) == len(expected)
    for got, e in zip(data, expected):
        assert (got["排名"], got["部门"], got["收到哨数"], got["按时报到"], got["超时报到"], got["未报到"], got["已报到"]) == (
            e["rank"], e["name"], e["received"], e["on_time"], e["checked"] - e["on_time"], e["received"] - e["checked"], e["checked"])
        assert (got["要求现场报到"], got["现场报到"], got["已解决"], got["已评价"], got["满意"]) == (
            e["onsite"], e["onsite_in"], e["resolved"], e["rated"], e["satisfied"])
        for label, num, den in (("响应率", "on_time", "received"), ("现场到岗率", "onsite_in", "onsite"),
                                ("解决率", "resolved", "received"), ("满意率", "satisfied", "rated")):
            if e[den]:
                assert abs(got[label] - e[num] / e[den]) < 1e-12, (label, e["name"])
            else:
                assert got[label] == "—"
        assert got["平均报到用时（分钟）"] == (float(e["minutes"]) if e["checked"] else "—")
        assert got["及时性评分次数"] == e["t_n"] and got["实效性评分次数"] == e["e_n"]
        assert (got["中心评价：及时性"] if e["t_n"] else None) == (float(mean(e["t_sum"], e["t_n"])) if e["t_n"] else None)
    rate_column = headers.index("响应率") + 1
    assert book["部门报到考核"].cell(row=len(above) + 2, column=rate_column).number_format == "0.0%"
    _, centers_data, _ = sheet_rows(book, "中心吹哨率")
    by_name = {r["中心"]: r for r in centers_data}
    for code, (n_w, n_m) in counts.items():
        got = by_name[stored["centers"][code]["name"]]
        assert (got["吹哨数"], got["受理登记事项数"]) == (n_w, n_m)
        assert got["吹哨率"] == (n_w / n_m if n_m else "—")
    assert (by_name["合计"]["吹哨数"], by_name["合计"]["受理登记事项数"]) == (total_w, total_m)
    audit = await AuditLog.select().where(AuditLog.action == "checkin.board_exported")
    assert [(r["object_id"], r["actor"]) for r in audit] == [("2026-10", "leader")]


async def test_scope_township_admin_and_center_filter(app, client_factory):
    whistles, matters = generate()
    stored = await store(whistles, matters)
    names = {code: row["name"] for code, row in stored["departments"].items()}
    admin = await client_factory()
    await admin.login("dmz_admin")
    page = await admin.get("/m/checkin/board?month=2026-10")
    assert page.status_code == 200
    body = tables(page.text).tables["department-board"]["rows"][1:]
    assert body == [html_cells(e) for e in expected_departments(whistles, matters, {"GZQ-DMZ", "GZQ-DMZ-XXC"}, names)]
    center_names = [r[0] for r in tables(page.text).tables["center-board"]["rows"][1:]]
    assert center_names == ["大满镇综治中心", "新新村综治中心", "大满村综治中心", "合计"]
    # Narrowed to one village of its own subtree.
    xxc = stored["centers"]["GZQ-DMZ-XXC"]["id"]
    narrowed = await admin.get(f"/m/checkin/board?month=2026-10&center={xxc}")
    assert narrowed.status_code == 200
    body = tables(narrowed.text).tables["department-board"]["rows"][1:]
    assert body == [html_cells(e) for e in expected_departments(whistles, matters, {"GZQ-DMZ-XXC"}, names)]
    # Another township's center, a forged id: 404, for the page and the export alike.
    dzz = stored["centers"]["GZQ-DZZ"]["id"]
    district = stored["centers"]["GZQ"]["id"]
    for url in (f"/m/checkin/board?month=2026-10&center={dzz}", f"/m/checkin/board.xlsx?month=2026-10&center={dzz}",
                f"/m/checkin/board?center={district}", "/m/checkin/board?center=abc", "/m/checkin/board?center=999999"):
        assert (await admin.get(url)).status_code == 404, url
    export = await admin.get(f"/m/checkin/board.xlsx?month=2026-10&center={xxc}")
    _, data, above = sheet_rows(load_workbook(io.BytesIO(export.content)), "部门报到考核")
    assert "新新村综治中心" in above[1][0]
    assert [r["部门"] for r in data] == [r[1] for r in body]


async def test_department_member_sees_only_its_own_row(app, client_factory):
    whistles, matters = generate()
    stored = await store(whistles, matters)
    names = {code: row["name"] for code, row in stored["departments"].items()}
    officer = await client_factory()
    await officer.login("rsj_officer")
    page = await officer.get("/m/checkin/board?month=2026-10")
    assert page.status_code == 200
    parsed = tables(page.text)
    head, *body = parsed.tables["department-board"]["rows"]
    assert "排名" not in head and "center-board" not in parsed.tables
    (expected,) = expected_departments(whistles, matters, set(CENTERS), names, only="RSJ")
    assert body == [html_cells(expected, with_rank=False)]
    book = load_workbook(io.BytesIO((await officer.get("/m/checkin/board.xlsx?month=2026-10")).content))
    assert book.sheetnames == ["部门报到考核", "统计口径"]
    _, data, _ = sheet_rows(book, "部门报到考核")
    assert [(r["部门"], r["收到哨数"]) for r in data] == [("区人社局", expected["received"])]


async def test_who_may_open_the_board(app, client_factory):
    await enable_checkin_everywhere()
    window = await client_factory()
    await window.login("gzq_window")
    assert (await window.get("/m/checkin/board")).status_code == 403
    assert "/m/checkin/board\"" not in (await window.get("/dashboard")).text
    leader = await client_factory()
    await leader.login("leader")
    assert 'href="/m/checkin/board"' in (await leader.get("/dashboard")).text
    definitions = await leader.get("/m/checkin/board/definitions")
    assert definitions.status_code == 200 and "响应率" in definitions.text and "按时报到数 ÷ 收到哨数" in definitions.text
    # Where the module is off at the member's own center, the board is not there at all.
    await raw("UPDATE center_module SET enabled = {} WHERE module = 'checkin' AND center = "
              "(SELECT id FROM center WHERE code = 'GZQ-DMZ')", False)
    admin = await client_factory()
    await admin.login("dmz_admin")
    assert (await admin.get("/m/checkin/board")).status_code == 404


async def test_bad_month_shows_a_message_and_this_month(app, client):
    await enable_checkin_everywhere()
    await client.login("gzq_admin")
    this_month = board_module.Month.containing(clock.now())
    for value in ("2026-13", "abc", "1999-01", "2026-1"):
        page = await client.get(f"/m/checkin/board?month={value}")
        assert page.status_code == 422, value
        assert 'class="error-summary"' in page.text and f'value="{value}"' in page.text
        assert this_month.label in page.text
        export = await client.get(f"/m/checkin/board.xlsx?month={value}")
        assert export.status_code == 422 and "text/html" in export.headers["content-type"]
    default = await client.get("/m/checkin/board")
    assert default.status_code == 200 and this_month.label in default.text and "error-summary" not in default.text
    # A month with nothing in it: no table of zeros, a sentence instead.
    empty = await client.get("/m/checkin/board?month=2031-02")
    assert empty.status_code == 200 and "department-board" not in empty.text


async def test_month_boundary_is_china_time(app):
    """A whistle at 2026-10-31 23:30 (+08:00) is October's, though it is 15:30 UTC that day;
    one at 2026-11-01 00:00 (+08:00) is November's although it is still October in UTC."""
    whistles = []
    for moment in (cn(2026, 9, 30, 23, 59, 59), cn(2026, 10, 1, 0, 0, 0), cn(2026, 10, 31, 23, 30, 0), cn(2026, 11, 1, 0, 0, 0)):
        w = W("GZQ-DMZ", moment, "open", "onsite")
        w.summons = [S("RSJ", moment, moment + dt.timedelta(minutes=30))]
        whistles.append(w)
    await store(whistles, [])
    dmz = await ids(["GZQ-DMZ"])
    counts = {}
    for month in (board_module.Month(2026, 9), board_module.Month(2026, 10), board_module.Month(2026, 11)):
        rows = await board_module.department_month(dmz, month)
        centers = await board_module.center_month(dmz, month)
        counts[month.key] = (rows[0].received if rows else 0, centers[0].whistles)
    assert counts == {"2026-09": (1, 1), "2026-10": (2, 2), "2026-11": (1, 1)}
    assert board_module.Month(2026, 10).start == dt.datetime(2026, 9, 30, 16, 0, tzinfo=dt.timezone.utc)


def test_rates_and_ranking_rules():
    Rate, Mean = board_module.Rate, board_module.Mean
    assert Rate(0, 0).text == "—" and Rate(0, 3).text == "0.0%" and Rate(3, 3).text == "100.0%"
    assert Rate(1, 8).text == "12.5%" and Rate(1, 16).text == "6.3%"  # half-up, from the exact fraction
    assert Mean(0, 0).text == "—" and Mean(90, 1, unit=60).text == "1.5"
    row = lambda name, on_time, resolved, received: board_module.DepartmentRow(  # noqa: E731
        0, name, received, received, on_time, Rate(on_time, received), Mean(0, 0), Rate(0, 0),
        Rate(resolved, received), Rate(0, 0), Mean(0, 0), Mean(0, 0))
    ranked = board_module._ranked([row("乙", 1, 1, 2), row("甲", 1, 1, 2), row("丙", 2, 0, 4), row("丁", 2, 2, 2)])
    assert [(r.name, r.rank) for r in ranked] == [("丁", 1), ("乙", 2), ("甲", 2), ("丙", 4)]
