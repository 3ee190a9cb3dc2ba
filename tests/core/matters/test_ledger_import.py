"""`portal matters import`: a center's historical ledger (台账), checked whole, imported all or nothing."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io

from click.testing import CliRunner
from openpyxl import Workbook

from portal import clock
from portal.cli import cli
from portal.db import bind_engine, make_engine, raw
from portal.matters import ledger
from portal.matters.calendar import load_calendar
from portal.matters.clock import RULES, deadline
from portal.matters.forms import parse_date
from portal.matters.tables import Matter, MatterEvent
from portal.notify.tables import Outbox
from portal.tables import AuditLog, Center

HEADER = ["序号", "姓名", "登记日期", "渠道", "类别", "摘要", "诉求", "事实和理由", "手机号", "地址", "人数", "状态", "办结日期", "备注"]
ROWS = [
    # 序号 姓名 登记日期 渠道 类别 摘要 诉求 事实和理由 手机号 地址 人数 状态 办结日期 备注
    ["1", "张三", "2026-01-05", "来访", "劳动争议（欠薪）", "讨要工资", "支付欠薪 8000 元", "工地务工三个月", "13800138000", "新新村3组", "", "已办结", "2026/1/20", "x"],
    ["2", "李四", "2026/1/6", "来信", "neighbour", "邻居占道", "拆除违建", "", "", "", "", "待受理", "", ""],
    ["3", "王五", "2026年1月7日", "来电", "婚姻家庭", "抚养费", "按时支付抚养费", "", "139 0013 9000", "", "2", "已受理", "", ""],
    ["4", "赵六", "2026-01-08", "网上提交", "其他", "咨询", "咨询政策", "", "+86 13700137000", "", "1", "不予受理", "2026-01-10", ""],
    ["5", "孙七", "2026-01-09", "视频", "消费纠纷", "退款", "退还预付款", "", "13600136000", "", "6", "已答复", "2026-01-12", ""],
]


def run(settings, *args: str):
    env = {
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_PLUGINS": "",
        "PORTAL_LOAD_ENTRYPOINTS": "0",
    }
    return CliRunner().invoke(cli, list(args), env=env)


def query(settings, fn):
    bind_engine(make_engine(settings))
    return asyncio.run(fn())


def write_csv(path, rows, header=HEADER, encoding="utf-8-sig"):
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def china_day(moment):
    return clock.local(moment).date()


async def snapshot():
    """Everything an import writes, to show that a refused or failed one wrote nothing."""
    stats = await raw("SELECT COALESCE(SUM(count), 0) AS n FROM matter_stat")
    return {
        "matters": await Matter.count(),
        "events": await MatterEvent.count(),
        "stats": int(stats[0]["n"]),
        "audit": await AuditLog.count(),
        "imports": await AuditLog.count().where(AuditLog.action == "matter.imported"),
    }


async def counters_of(code: str) -> dict:
    center = await Center.select(Center.id).where(Center.code == code).first()
    rows = await raw("SELECT day, metric, count FROM matter_stat WHERE center = {}", center["id"])
    counters = {}
    for row in rows:
        day = row["day"] if isinstance(row["day"], dt.date) else dt.date.fromisoformat(str(row["day"]))
        counters[(day, row["metric"])] = row["count"]
    return counters


async def before_import() -> dict:
    """What the demo data already holds (the demo may come with matters, counters and messages)."""
    return {"counters": await counters_of("GZQ-DMZ"), "sms": await Outbox.count()}


async def imported_state():
    center = await Center.select().where(Center.code == "GZQ-DMZ").first()
    events = await MatterEvent.select().where(MatterEvent.kind == "imported")
    ids = [e["matter"] for e in events]
    matters = {m["petitioner_name"]: m for m in await Matter.select().where(Matter.id.is_in(ids or [0]))}
    audit = await AuditLog.select().where(AuditLog.action == "matter.imported")
    calendar = await load_calendar()
    return center, matters, events, await counters_of("GZQ-DMZ"), audit, calendar, await Outbox.count()


def check_imported(settings, before, result, filename):
    assert result.exit_code == 0, result.output
    center, matters, events, counters, audit, calendar, sms = query(settings, imported_state)
    assert f"已导入 5 件事项到 {center['name']}" in result.output
    assert len(matters) == 5 and len({m["code"] for m in matters.values()}) == 5
    for m in matters.values():
        assert m["center"] == m["origin_center"] == center["id"] and m["center_path"] == center["path"]
        assert len(m["code"]) == 12 and m["registered_by"] is None
    d = dt.date

    closed = matters["张三"]
    assert closed["status"] == "closed" and closed["category"] == "labour" and closed["channel"] == "visit"
    assert china_day(closed["received_at"]) == d(2026, 1, 5) and china_day(closed["closed_at"]) == d(2026, 1, 20)
    assert closed["clock"] == "" and closed["due_at"] is None and closed["petitioner_phone"] == "13800138000"
    assert closed["phone_last4"] == "8000" and closed["facts"] == "工地务工三个月" and closed["people_count"] == 1

    registered = matters["李四"]
    assert registered["status"] == "registered" and registered["channel"] == "letter" and registered["petitioner_phone"] == ""
    assert registered["clock"] == "acceptance" and registered["clock_started_at"] == registered["received_at"]
    assert registered["due_at"] == deadline(registered["received_at"], RULES["acceptance"], calendar)
    assert china_day(registered["due_at"]) == d(2026, 1, 21)
    assert registered["accepted_at"] is None and registered["replied_at"] is None and registered["closed_at"] is None

    accepted = matters["王五"]
    assert accepted["status"] == "accepted" and accepted["clock"] == "handling" and accepted["people_count"] == 2
    assert china_day(accepted["received_at"]) == d(2026, 1, 7) and accepted["petitioner_phone"] == "13900139000"
    assert accepted["accepted_at"] == accepted["received_at"] == accepted["clock_started_at"]
    assert accepted["due_at"] == deadline(accepted["received_at"], RULES["handling"], calendar)
    assert china_day(accepted["due_at"]) == d(2026, 3, 9)  # 60 days → Sunday 8 March, rolled to Monday
    assert accepted["replied_at"] is None and accepted["closed_at"] is None and accepted["assigned_at"] is None

    declined = matters["赵六"]
    assert declined["status"] == "declined" and declined["due_at"] is None and declined["clock"] == ""
    assert declined["accepted_at"] is None and declined["rated_at"] is None and declined["paused_at"] is None
    assert china_day(declined["closed_at"]) == d(2026, 1, 10) and declined["petitioner_phone"] == "13700137000"

    replied = matters["孙七"]
    assert replied["status"] == "replied" and replied["clock"] == "review_request" and replied["people_count"] == 6
    assert china_day(replied["replied_at"]) == d(2026, 1, 12) and replied["closed_at"] is None
    assert replied["due_at"] == deadline(replied["replied_at"], RULES["review_request"], calendar)

    # One non-public timeline event per matter naming the file; no SMS; one audit row for the import.
    assert len(events) == 5 and all(filename in e["note"] and not e["public"] for e in events)
    assert sms == before["sms"]
    assert len(audit) == 1 and audit[0]["object_type"] == "import" and audit[0]["object_id"] == "5"
    assert audit[0]["center_id"] == center["id"] and audit[0]["actor"].startswith("cli:")

    expected = {
        (d(2026, 1, 5), "received"): 1, (d(2026, 1, 6), "received"): 1, (d(2026, 1, 7), "received"): 1,
        (d(2026, 1, 8), "received"): 1, (d(2026, 1, 9), "received"): 1,
        (d(2026, 1, 5), "accepted"): 1, (d(2026, 1, 5), "decided"): 1, (d(2026, 1, 5), "decided_in_time"): 1,
        (d(2026, 1, 7), "accepted"): 1, (d(2026, 1, 7), "decided"): 1, (d(2026, 1, 7), "decided_in_time"): 1,
        (d(2026, 1, 9), "accepted"): 1, (d(2026, 1, 9), "decided"): 1, (d(2026, 1, 9), "decided_in_time"): 1,
        (d(2026, 1, 10), "declined"): 1, (d(2026, 1, 10), "decided"): 1, (d(2026, 1, 10), "decided_in_time"): 1,
        (d(2026, 1, 12), "replied"): 1, (d(2026, 1, 12), "replied_in_time"): 1,
        (d(2026, 1, 20), "replied"): 1, (d(2026, 1, 20), "replied_in_time"): 1, (d(2026, 1, 20), "closed"): 1,
    }
    added = {key: n - before["counters"].get(key, 0) for key, n in counters.items()}
    assert {key: n for key, n in added.items() if n} == expected


def test_csv_ledger_is_imported(settings, tmp_path):
    path = write_csv(tmp_path / "大满镇台账.csv", ROWS)
    before = query(settings, before_import)
    result = run(settings, "matters", "import", str(path), "--center", "GZQ-DMZ")
    check_imported(settings, before, result, "大满镇台账.csv")


def test_xlsx_ledger_is_imported(settings, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in ROWS:
        cells = list(row)
        # Real spreadsheet cells: dates as dates, numbers as numbers.
        cells[2] = parse_date(row[2])
        cells[8] = int(row[8]) if row[8].isdigit() else row[8]
        cells[10] = int(row[10]) if row[10] else None
        cells[12] = dt.datetime(2026, 1, 20) if row[12] == "2026/1/20" else (row[12] or None)
        sheet.append(cells)
    sheet["C2"].number_format = "yyyy-mm-dd"
    path = tmp_path / "ledger.xlsx"
    workbook.save(path)
    before = query(settings, before_import)
    result = run(settings, "matters", "import", str(path), "--center", "gzq-dmz")
    check_imported(settings, before, result, "ledger.xlsx")


def test_gb18030_csv_is_read(settings, tmp_path):
    path = write_csv(tmp_path / "gbk.csv", ROWS, encoding="gb18030")
    before = query(settings, before_import)
    result = run(settings, "matters", "import", str(path), "--center", "GZQ-DMZ")
    check_imported(settings, before, result, "gbk.csv")


def test_errors_in_two_rows_are_all_reported_and_nothing_is_imported(settings, tmp_path):
    rows = [list(row) for row in ROWS]
    rows[1][8] = "1380013800"  # file row 3: a letter may omit the phone, but a wrong one is wrong
    rows[3][2] = "2026-13-40"  # file row 5
    rows[3][3] = "传真"
    path = write_csv(tmp_path / "bad.csv", rows)
    before = query(settings, snapshot)
    result = run(settings, "matters", "import", str(path), "--center", "GZQ-DMZ")
    assert result.exit_code == 1, result.output
    assert "第 3 行「手机号」：手机号应为 11 位数字" in result.output
    assert "第 5 行「登记日期」：日期格式应为" in result.output
    assert "第 5 行「渠道」：渠道应为" in result.output
    assert "3 处错误" in result.output and "已导入" not in result.output
    assert query(settings, snapshot) == before


def test_missing_columns_and_many_errors(settings, tmp_path):
    path = write_csv(tmp_path / "cols.csv", ROWS, header=[h.replace("诉求", "要求") for h in HEADER])
    result = run(settings, "matters", "import", str(path), "--center", "GZQ-DMZ")
    assert result.exit_code == 1 and "第 1 行：表头缺少「诉求」列" in result.output

    rows = [["", "", "2026-01-05", "来访", "其他", "摘要", "诉求", "", "12", "", "", "", "", ""]] * 205
    path = write_csv(tmp_path / "many.csv", rows)
    result = run(settings, "matters", "import", str(path), "--center", "GZQ-DMZ")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("第 ")]
    assert len(lines) == 200 and "还有 210 处错误" in result.output  # 205 rows × (姓名, 手机号)


def test_unknown_center_or_unreadable_file_is_a_usage_error(settings, tmp_path):
    path = write_csv(tmp_path / "ok.csv", ROWS)
    before = query(settings, snapshot)
    result = run(settings, "matters", "import", str(path), "--center", "NOPE")
    assert result.exit_code == 2 and "NOPE" in result.output
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip file")
    result = run(settings, "matters", "import", str(broken), "--center", "GZQ-DMZ")
    assert result.exit_code == 2 and "broken.xlsx" in result.output
    result = run(settings, "matters", "import", str(tmp_path / "missing.csv"), "--center", "GZQ-DMZ")
    assert result.exit_code == 2
    other = tmp_path / "ledger.txt"
    other.write_text("x")
    assert run(settings, "matters", "import", str(other), "--center", "GZQ-DMZ").exit_code == 2
    assert query(settings, snapshot) == before


def test_a_failure_half_way_leaves_nothing_written(settings, tmp_path, monkeypatch):
    original = ledger._import_row
    calls = []

    async def failing(row, *args, **kwargs):
        calls.append(row.row)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return await original(row, *args, **kwargs)

    monkeypatch.setattr(ledger, "_import_row", failing)
    path = write_csv(tmp_path / "ledger.csv", ROWS)
    before = query(settings, snapshot)
    result = run(settings, "matters", "import", str(path), "--center", "GZQ-DMZ")
    assert result.exit_code == 1 and "导入失败" in result.output and "disk full" in result.output
    assert calls == [2, 3, 4]
    assert query(settings, snapshot) == before
