"""Importing a center's historical ledger (台账): one spreadsheet row per matter.

``read_ledger`` reads an .xlsx (first sheet, read-only) or a .csv (UTF-8 with or without BOM,
else GB18030) into rows; ``check_ledger`` checks every row and collects every problem by row
number and column name (``parse_ledger`` does both); ``import_ledger`` writes a checked ledger in one transaction, so a ledger
is imported completely or not at all. Nothing here needs click: ``portal matters import`` only
adds the progress bars and the exit codes.

Columns (Chinese headers in any order, extra columns ignored; the first non-empty row is the
header): 登记日期, 渠道, 类别, 摘要, 诉求, 姓名 are required; 事实和理由, 手机号 (may be empty
for 来信), 地址, 人数 (default 1), 状态 (default 已办结) and 办结日期 are optional.

What an imported matter looks like, by 状态 (dates are China dates, stored as their first instant):

* 待受理 ``registered``: the acceptance clock runs from 登记日期.
* 已受理 ``accepted``: taken as accepted on 登记日期; the handling clock runs from then.
* 已答复 ``replied``: accepted on 登记日期, answered on 办结日期 (登记日期 when empty); the
  petitioner's 30 days for a review request run from the answer, as after a reply at the window.
* 已办结 ``closed`` and 不予受理 ``declined``: closed on 办结日期 (登记日期 when empty), no clock.

Counters (``matter_stat``) are bumped on the day each step happened: ``received`` on 登记日期;
``decided``/``decided_in_time``/``accepted`` on 登记日期 for accepted, answered and closed
matters; ``decided``/``declined`` (and ``decided_in_time`` when within the acceptance limit) on the
decline day; ``replied`` (and ``replied_in_time`` when within the handling limit) on the answer day
of answered and closed matters; ``closed`` on 办结日期. Imported matters send no SMS, are not
linked as repeats, and get one non-public timeline event ``imported`` naming the ledger file.

The messages are Chinese literals: they name the Chinese column headers of the ledger file and
are printed by the command line, which has no locale of its own.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal import clock as wallclock
from portal.audit.chain import AuditTrail
from portal.db import insert, write_transaction
from portal.matters import stats
from portal.matters.calendar import WorkingCalendar, load_calendar
from portal.matters.clock import Rule, deadline, limits_for
from portal.matters.codes import new_code
from portal.matters.forms import parse_date
from portal.matters.service import NewMatter, matter_row
from portal.matters.tables import Matter, MatterEvent
from portal.matters.vocab import CATEGORIES, CHANNELS, STATUS_LABELS
from portal.tables import Center
from portal.web.forms import normalize_phone

__all__ = [
    "COLUMNS",
    "IMPORT_STATUSES",
    "Ledger",
    "LedgerError",
    "LedgerFileError",
    "LedgerRow",
    "LedgerTable",
    "check_ledger",
    "find_center",
    "import_ledger",
    "parse_ledger",
    "read_ledger",
]

Progress = Callable[[int], None]

# Header -> field. Order is the order of the checks (and of the messages for one row).
COLUMNS: dict[str, str] = {
    "登记日期": "received_on",
    "渠道": "channel",
    "类别": "category",
    "摘要": "summary",
    "诉求": "request",
    "事实和理由": "facts",
    "姓名": "petitioner_name",
    "手机号": "petitioner_phone",
    "地址": "petitioner_address",
    "人数": "people_count",
    "状态": "status",
    "办结日期": "closed_on",
}
REQUIRED_COLUMNS = ("登记日期", "渠道", "类别", "摘要", "诉求", "姓名")
# Other spellings seen in ledgers.
_ALIASES = {"手机号码": "手机号", "事实与理由": "事实和理由", "事实及理由": "事实和理由"}

IMPORT_STATUSES = ("registered", "accepted", "replied", "closed", "declined")
_CLOSING_STATUSES = ("replied", "closed", "declined")
_MAX_LENGTH = {"摘要": 200, "诉求": 4000, "事实和理由": 8000, "姓名": 64, "地址": 200}
MAX_PEOPLE = 100000


class LedgerFileError(Exception):
    """The file cannot be read as a ledger at all (missing, wrong format, undecodable)."""


@dataclass(frozen=True)
class LedgerError:
    """One problem: file row number (as a spreadsheet shows it) and column header, when known."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        if self.row is None:
            return self.message
        if self.column is None:
            return f"第 {self.row} 行：{self.message}"
        return f"第 {self.row} 行「{self.column}」：{self.message}"


@dataclass
class LedgerRow:
    """A checked row, ready to import."""

    row: int
    matter: NewMatter
    status: str
    received_on: dt.date
    closed_on: dt.date | None


@dataclass
class Ledger:
    filename: str
    rows: list[LedgerRow] = field(default_factory=list)
    errors: list[LedgerError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# ----------------------------------------------------------------------------- reading


@dataclass
class LedgerTable:
    """The non-empty rows of a ledger file as read: the header and the data rows (file row numbers)."""

    filename: str
    header: tuple[int, list[Any]] | None
    rows: list[tuple[int, list[Any]]]


def read_ledger(path: str | Path) -> LedgerTable:
    """Read an .xlsx or .csv file; raises ``LedgerFileError`` when it cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows = _read_xlsx(path)
    elif suffix == ".csv":
        rows = _read_csv(path)
    else:
        raise LedgerFileError(f"无法读取 {path.name}：只支持 .xlsx 和 .csv 文件（.xls 请先另存为 .xlsx）")
    rows = [(number, values) for number, values in rows if any(_text(v) for v in values)]
    return LedgerTable(path.name, rows[0] if rows else None, rows[1:])


def _read_xlsx(path: Path) -> list[tuple[int, list[Any]]]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as exc:
        raise LedgerFileError(f"无法读取 {path.name}：不是有效的 .xlsx 文件（{exc}）") from exc
    try:
        sheet = workbook.worksheets[0]
        # Some programs write a wrong <dimension>; without it every row present is read.
        sheet.reset_dimensions()
        return [(number, list(values)) for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)]
    except Exception as exc:  # a damaged sheet inside a valid zip
        raise LedgerFileError(f"无法读取 {path.name}：{exc}") from exc
    finally:
        workbook.close()


def _read_csv(path: Path) -> list[tuple[int, list[Any]]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LedgerFileError(f"无法读取 {path.name}：{exc.strerror or exc}") from exc
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise LedgerFileError(f"无法读取 {path.name}：文件编码既不是 UTF-8 也不是 GB18030")
    # Rows are numbered by record, as a spreadsheet shows them (a quoted cell may span lines).
    rows: list[tuple[int, list[Any]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for number, values in enumerate(reader, start=1):
            rows.append((number, values))
    except csv.Error as exc:
        raise LedgerFileError(f"无法读取 {path.name}：第 {len(rows) + 1} 行 CSV 格式有误（{exc}）") from exc
    return rows


# ----------------------------------------------------------------------------- checking


def _text(value: Any) -> str:
    """A cell as trimmed text; whole numbers without ".0" (phone numbers typed as numbers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value).strip()


def _header_name(value: Any) -> str:
    # Spaces inside a header ("登 记 日 期") and a required-column star ("姓名*") are ignored.
    name = _norm(_text(value)).rstrip("*")
    return _ALIASES.get(name, name)


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _lookup(vocabulary: dict[str, str]) -> dict[str, str]:
    """Label, label without its bracketed note, and code -> code (compared after NFKC)."""
    table: dict[str, str] = {}
    for code, label in vocabulary.items():
        table[_norm(code).lower()] = code
        table[_norm(label)] = code
        short = re.sub(r"\(.*?\)$", "", _norm(label))
        table.setdefault(short, code)
    return table


_CHANNELS = _lookup(CHANNELS)
_CATEGORIES = _lookup(CATEGORIES)
_STATUSES = _lookup({code: STATUS_LABELS[code] for code in IMPORT_STATUSES})


def _choices(vocabulary: dict[str, str], codes: Iterable[str] | None = None) -> str:
    return "、".join(vocabulary[code] for code in (codes or vocabulary))


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 20000 < value < 80000:
        # An Excel serial date in a cell without a date format (1954–2119).
        from openpyxl.utils.datetime import from_excel

        return from_excel(value).date()
    # A date exported with a time of day ("2026-01-05 00:00:00") keeps only its date.
    return parse_date(re.sub(r"[\sT]+\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$", "", _text(value)))


_DATE_HINT = "日期格式应为 2026-01-05、2026/1/5 或 2026年1月5日"


def _check_row(number: int, cells: dict[str, Any], today: dt.date) -> tuple[LedgerRow | None, list[LedgerError]]:
    errors: list[LedgerError] = []

    def error(column: str, message: str) -> None:
        errors.append(LedgerError(number, column, message))

    received_raw = cells.get("登记日期")
    received_on = _date(received_raw)
    if received_on is None:
        error("登记日期", "请填写登记日期" if not _text(received_raw) else _DATE_HINT)
    elif received_on > today:
        error("登记日期", "登记日期不能晚于今天")

    channel_text = _text(cells.get("渠道"))
    channel = _CHANNELS.get(_norm(channel_text)) or _CHANNELS.get(_norm(channel_text).lower())
    if not channel_text:
        error("渠道", "请填写渠道")
    elif channel is None:
        error("渠道", f"渠道应为 {_choices(CHANNELS)} 之一")

    category_text = _text(cells.get("类别"))
    category = _CATEGORIES.get(_norm(category_text)) or _CATEGORIES.get(_norm(category_text).lower())
    if not category_text:
        error("类别", "请填写类别")
    elif category is None:
        error("类别", f"类别应为 {_choices(CATEGORIES)} 之一")

    texts: dict[str, str] = {}
    for column in ("摘要", "诉求", "事实和理由", "姓名", "地址"):
        texts[column] = _text(cells.get(column))
        if not texts[column] and column in REQUIRED_COLUMNS:
            error(column, f"请填写{column}")
        elif len(texts[column]) > _MAX_LENGTH[column]:
            error(column, f"{column}不能超过 {_MAX_LENGTH[column]} 字，现为 {len(texts[column])} 字")

    phone_text = _text(cells.get("手机号"))
    phone = ""
    if phone_text:
        normalized = normalize_phone(phone_text)
        if normalized:
            phone = normalized
        else:
            digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone_text))
            if digits.startswith("86") and len(digits) == 13:
                digits = digits[2:]
            if len(digits) != 11:
                error("手机号", f"手机号应为 11 位数字，现为 {len(digits)} 位")
            else:
                error("手机号", "手机号应以 13 至 19 开头，例如 13800138000")
    elif channel != "letter":
        error("手机号", "请填写手机号（来信的事项可以不填）")

    count_text = _text(cells.get("人数"))
    people_count = 1
    if count_text:
        folded = unicodedata.normalize("NFKC", count_text).removesuffix("人")
        if not folded.isdigit() or not 1 <= int(folded) <= MAX_PEOPLE:
            error("人数", "人数应为正整数（一人提出的填 1）")
        else:
            people_count = int(folded)

    status_text = _text(cells.get("状态"))
    status = "closed"
    if status_text:
        found = _STATUSES.get(_norm(status_text)) or _STATUSES.get(_norm(status_text).lower())
        if found is None:
            error("状态", f"状态应为 {_choices(STATUS_LABELS, IMPORT_STATUSES)} 之一")
        else:
            status = found

    closed_raw = cells.get("办结日期")
    closed_on = None
    if _text(closed_raw):
        closed_on = _date(closed_raw)
        if closed_on is None:
            error("办结日期", _DATE_HINT)
        elif status not in _CLOSING_STATUSES:
            error("办结日期", f"状态为「{STATUS_LABELS[status]}」的事项不应填写办结日期")
        elif closed_on > today:
            error("办结日期", "办结日期不能晚于今天")
        elif received_on is not None and closed_on < received_on:
            error("办结日期", "办结日期不能早于登记日期")

    if errors:
        return None, errors
    matter = NewMatter(
        kind="petition",
        category=category,
        channel=channel,
        summary=texts["摘要"],
        request=texts["诉求"],
        facts=texts["事实和理由"],
        place="",
        place_center=None,
        petitioner_name=texts["姓名"],
        petitioner_phone=phone,
        petitioner_address=texts["地址"],
        people_count=people_count,
    )
    return LedgerRow(number, matter, status, received_on, closed_on), []


def check_ledger(table: LedgerTable, *, today: dt.date | None = None, progress: Progress | None = None) -> Ledger:
    """Check the header and every row; ``ledger.errors`` lists every problem, ``ledger.rows`` is
    empty unless there are none. ``progress`` is called with 1 after each row (a progress bar)."""
    today = today or wallclock.local(wallclock.now()).date()
    ledger = Ledger(filename=table.filename)
    if table.header is None:
        ledger.errors.append(LedgerError(None, None, "文件是空的：第一行应为表头（登记日期、渠道、类别……）"))
        return ledger
    header_number, header_values = table.header
    columns: dict[str, int] = {}
    for index, value in enumerate(header_values):
        name = _header_name(value)
        if name not in COLUMNS:
            continue  # extra columns (序号, 备注…) are ignored
        if name in columns:
            ledger.errors.append(LedgerError(header_number, name, "表头中这一列出现了不止一次"))
        columns[name] = index
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            ledger.errors.append(LedgerError(header_number, None, f"表头缺少「{name}」列"))
    if ledger.errors:
        return ledger
    if not table.rows:
        ledger.errors.append(LedgerError(None, None, "表头下面没有要导入的事项"))
        return ledger
    for number, values in table.rows:
        cells = {name: (values[index] if index < len(values) else None) for name, index in columns.items()}
        row, errors = _check_row(number, cells, today)
        if row is not None:
            ledger.rows.append(row)
        ledger.errors.extend(errors)
        if progress:
            progress(1)
    if ledger.errors:
        ledger.rows = []
    return ledger


def parse_ledger(path: str | Path, *, today: dt.date | None = None, progress: Progress | None = None) -> Ledger:
    """``read_ledger`` then ``check_ledger``; raises ``LedgerFileError`` for an unreadable file."""
    return check_ledger(read_ledger(path), today=today, progress=progress)


# ----------------------------------------------------------------------------- importing


async def find_center(code: str) -> dict | None:
    """The center with ``code`` (any case, full-width folded), or None."""
    code = unicodedata.normalize("NFKC", code or "").strip()
    row = await Center.select().where(Center.code == code).first()
    if row is None and code != code.upper():
        row = await Center.select().where(Center.code == code.upper()).first()
    return row


def _start_of_day(day: dt.date) -> dt.datetime:
    """The first instant of a China date, as aware UTC."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=wallclock.TZ_CN).astimezone(dt.timezone.utc)


def _plan(row: LedgerRow, limits: dict[str, Rule], calendar: WorkingCalendar) -> tuple[dict, list[tuple[str, dt.datetime]]]:
    """(the status and clock columns, the counters to bump with their moments) for one row."""
    received = _start_of_day(row.received_on)
    closed = _start_of_day(row.closed_on or row.received_on)
    metrics: list[tuple[str, dt.datetime]] = [("received", received)]
    no_clock = {"clock": "", "clock_started_at": None, "due_at": None}
    if row.status == "registered":
        due = deadline(received, limits["acceptance"], calendar)
        return {"clock": "acceptance", "clock_started_at": received, "due_at": due}, metrics
    if row.status == "declined":
        in_time = closed <= deadline(received, limits["acceptance"], calendar)
        metrics += [("decided", closed), ("declined", closed)] + ([("decided_in_time", closed)] if in_time else [])
        return {**no_clock, "closed_at": closed}, metrics
    # Accepted on the day of receipt: the decision was in time.
    metrics += [("decided", received), ("decided_in_time", received), ("accepted", received)]
    fields: dict = {"accepted_at": received}
    if row.status == "accepted":
        due = deadline(received, limits["handling"], calendar)
        return {**fields, "clock": "handling", "clock_started_at": received, "due_at": due}, metrics
    replied_in_time = closed <= deadline(received, limits["handling"], calendar)
    metrics += [("replied", closed)] + ([("replied_in_time", closed)] if replied_in_time else [])
    fields["replied_at"] = closed
    if row.status == "replied":
        due = deadline(closed, limits["review_request"], calendar)
        return {**fields, "clock": "review_request", "clock_started_at": closed, "due_at": due}, metrics
    metrics.append(("closed", closed))
    return {**fields, **no_clock, "closed_at": closed}, metrics


_MOMENTS = (
    "assigned_at", "department_due_at", "clock_started_at", "paused_at", "due_at",
    "accepted_at", "replied_at", "closed_at", "rated_at",
)


async def _fresh_code(taken: set[str]) -> str:
    for _attempt in range(20):
        code = new_code()
        if code not in taken and not await Matter.exists().where(Matter.code == code):
            taken.add(code)
            return code
    raise RuntimeError("no free tracking code found")  # 32^11 codes: practically unreachable


async def _import_row(
    row: LedgerRow, center: dict, ledger: Ledger, trail: AuditTrail, at: dt.datetime,
    fields: dict, code: str,
) -> int:
    """Insert one matter and its timeline event; returns the matter id."""
    data = row.matter
    # Piccolo gives a nullable Timestamptz column "now" as its default: unset moments must be None.
    moments = {name: None for name in _MOMENTS} | fields
    matter_id = await insert("matter", matter_row(
        data, center, code,
        citizen=None,
        registered_by=None,
        status=row.status,
        received_at=_start_of_day(row.received_on),
        created_at=at,
        updated_at=at,
        **moments,
    ))
    await MatterEvent.insert(
        MatterEvent(
            matter=matter_id, at=at, kind="imported", actor=None, actor_label=trail.actor.name[:100],
            center=center["id"], note=f"从台账 {ledger.filename} 第 {row.row} 行导入", public=False,
            data=json.dumps({"file": ledger.filename, "row": row.row, "status": row.status}, ensure_ascii=False),
        )
    )
    return matter_id


async def import_ledger(trail: AuditTrail, center: dict, ledger: Ledger, *, progress: Progress | None = None) -> int:
    """Write every row of a checked ledger at ``center`` in one transaction; returns the count.

    Any failure rolls the whole import back. ``progress`` is called with 1 after each matter.
    """
    if not ledger.ok:
        raise ValueError("the ledger has errors; import nothing")
    at = wallclock.now()
    counters: Counter[tuple[dt.date, str]] = Counter()
    async with write_transaction():
        limits = await limits_for(center["id"])
        calendar = await load_calendar()
        taken: set[str] = set()
        for row in ledger.rows:
            fields, metrics = _plan(row, limits, calendar)
            await _import_row(row, center, ledger, trail, at, fields, await _fresh_code(taken))
            for metric, moment in metrics:
                counters[(wallclock.local(moment).date(), metric)] += 1
            if progress:
                progress(1)
        for (day, metric), n in sorted(counters.items()):
            await stats.bump(center["id"], metric, _start_of_day(day), n)
        # The audit row's object id is the number of matters imported.
        await trail("matter.imported", object_type="import", object_id=len(ledger.rows), center_id=center["id"])
    return len(ledger.rows)
