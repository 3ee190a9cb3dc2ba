"""The assessment board's pages: the board, its definitions (统计口径) and the XLSX export.

Scope: a center admin or leader sees the whistles of the own center and the centers below it,
optionally narrowed to one center of that subtree (``?center=``; outside it → 404). A department
member (an officer or the department's own leader) sees that department's own row only — the
department is the one being assessed, and other departments' figures and the centers' whistle
rates are not its business — so for them there is no ranking and no center table.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException

from portal import clock
from portal.centers.scope import LEVEL_LABELS, center_in_scope, prefix_range
from portal.db import raw, write_transaction
from portal.i18n import _
from portal.web.render import render
from portal.web.request import principal, trail

from plugins.checkin.board import (
    DEFINITIONS,
    HIGH_WHISTLE_RATE,
    CenterRow,
    DepartmentRow,
    Month,
    center_month,
    center_total,
    department_month,
)

__all__ = ["ROUTES"]

PERMISSION = "checkin.board"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    """One column of the department table. kind: rank | name | count | rate | mean.

    ``get`` reads the figure from a ``DepartmentRow``; ``parts`` name a rate's numerator and
    denominator (or a mean's sample), shown beside it on the page and as their own columns in
    the spreadsheet.
    """

    key: str
    label: str
    kind: str
    get: Callable[[DepartmentRow], Any]
    parts: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column("rank", "排名", "rank", lambda r: r.rank),
    Column("name", "部门", "name", lambda r: r.name),
    Column("received", "收到哨数", "count", lambda r: r.received),
    Column("response", "响应率", "rate", lambda r: r.response, ("按时报到", "收到哨数")),
    Column("late", "超时报到", "count", lambda r: r.late),
    Column("never", "未报到", "count", lambda r: r.never),
    Column("minutes", "平均报到用时（分钟）", "mean", lambda r: r.checkin_minutes, ("已报到",)),
    Column("onsite", "现场到岗率", "rate", lambda r: r.onsite, ("现场报到", "要求现场报到")),
    Column("resolution", "解决率", "rate", lambda r: r.resolution, ("已解决", "收到哨数")),
    Column("satisfaction", "满意率", "rate", lambda r: r.satisfaction, ("满意", "已评价")),
    Column("timeliness", "中心评价：及时性", "mean", lambda r: r.timeliness, ("及时性评分次数",)),
    Column("effectiveness", "中心评价：实效性", "mean", lambda r: r.effectiveness, ("实效性评分次数",)),
)


@dataclass
class Board:
    """Everything one board request shows, for the page and the spreadsheet alike."""

    month: Month
    errors: dict[str, str]
    month_input: str  # what was typed, kept in the field when it was wrong
    root: dict  # the center whose subtree is counted
    filtered: bool  # narrowed with ?center=
    options: list[dict]  # centers of the member's own subtree, for the filter
    department: dict | None  # a department member's own department
    rows: list[DepartmentRow]
    centers: list[CenterRow]
    total: CenterRow | None

    @property
    def columns(self) -> tuple[Column, ...]:
        return tuple(c for c in COLUMNS if c.kind != "rank") if self.department else COLUMNS

    @property
    def scope_label(self) -> str:
        text = f"{self.root['name']}及下级中心" if self.root["level"] != "village" else self.root["name"]
        if self.department:
            text += f"（仅{self.department['name']}）"
        return text

    def query(self, month: Month | None = None) -> str:
        month = month or self.month
        return f"month={month.key}" + (f"&center={self.root['id']}" if self.filtered else "")


def _department_member(user) -> bool:
    """Works for a department (an officer or the department's own leader), not the center: the
    same rule as the whistle pages (``service.is_department_member``)."""
    return user.department_id is not None and not (user.roles & {"center_admin", "window_staff"})


async def _enabled_centers(center_ids: list[int]) -> set[int]:
    if not center_ids:
        return set()
    marks = ", ".join("{}" for _ in center_ids)
    rows = await raw(
        f"SELECT center FROM center_module WHERE module = 'checkin' AND allowed AND enabled AND center IN ({marks})",
        *center_ids,
    )
    return {row["center"] for row in rows}


async def _board(request: Request) -> Board:
    user = principal(request)
    params = request.query_params
    errors: dict[str, str] = {}
    month = Month.containing(clock.now())
    raw_month = (params.get("month") or "").strip()
    if raw_month:
        parsed = Month.parse(raw_month)
        if parsed is None:
            errors["month"] = _("Enter the month as year and month, for example %(example)s.", example=month.key)
        else:
            month = parsed
    raw_center = (params.get("center") or "").strip()
    own = await center_in_scope(user, user.center_id)
    root, filtered = own, False
    if raw_center:
        try:
            center_id = int(raw_center)
        except ValueError:
            raise NotFoundException() from None
        root, filtered = await center_in_scope(user, center_id), center_id != user.center_id
    low, high = prefix_range(own["path"])
    subtree = await raw(
        "SELECT id, name, level, path, active FROM center WHERE path >= {} AND path < {} ORDER BY path", low, high
    )
    counted = [c for c in subtree if c["path"].startswith(root["path"])]
    department = None
    if _department_member(user):
        found = await raw("SELECT id, name FROM department WHERE id = {}", user.department_id)
        department = found[0] if found else {"id": user.department_id, "name": ""}
    ids = [c["id"] for c in counted]
    rows = await department_month(ids, month, department_id=department["id"] if department else None)
    centers: list[CenterRow] = []
    total = None
    if department is None:
        enabled = await _enabled_centers(ids)
        active = {c["id"] for c in counted if c["active"]}
        # Centers that do not use the module would only show a misleading 0%; their whistles of
        # earlier months (module since switched off) still count.
        centers = [r for r in await center_month(ids, month) if (r.center_id in enabled and r.center_id in active) or r.whistles]
        total = center_total(centers) if len(centers) > 1 else None
    options = [{**c, "depth": c["path"].count("/") - own["path"].count("/")} for c in subtree if c["active"]]
    return Board(month, errors, raw_month or month.key, root, filtered, options, department, rows, centers, total)


def _context(board: Board) -> dict:
    return {
        "title": _("Department check-in assessment"),
        "board": board,
        "errors": board.errors,
        "values": {"month": board.month_input, "center": board.root["id"] if board.filtered else ""},
        "level_labels": LEVEL_LABELS,
        "high_limit": f"{int(HIGH_WHISTLE_RATE * 100)}%",
        "prev_query": board.query(board.month.previous()),
        "next_query": board.query(board.month.next()),
    }


@get("/board", opt={"permission": PERMISSION})
async def board_page(request: Request) -> Response:
    board = await _board(request)
    return await render(request, "checkin/board.html", _context(board), status=422 if board.errors else 200)


@get("/board/definitions", opt={"permission": PERMISSION})
async def definitions_page(request: Request) -> Response:
    return await render(request, "checkin/board_definitions.html", {
        "title": _("How the assessment is counted"), "definitions": DEFINITIONS,
    })


@get("/board.xlsx", opt={"permission": PERMISSION})
async def board_export(request: Request) -> Response:
    board = await _board(request)
    if board.errors:
        # No spreadsheet of a month nobody asked for: the page says what to correct.
        return await render(request, "checkin/board.html", _context(board), status=422)
    user = principal(request)
    content = workbook(board, exported_by=user.display_name)
    async with write_transaction():
        await trail(request)(
            "checkin.board_exported", object_type="checkin_board", object_id=board.month.key, center_id=board.root["id"],
        )
    return Response(
        content=content,
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="checkin-board-{board.month.key}.xlsx"',
            "Cache-Control": "no-store",
        },
    )


# ----------------------------------------------------------------------------- the spreadsheet

PERCENT = "0.0%"
ONE_DECIMAL = "0.0"


def _header_block(sheet, title: str, board: Board, exported_by: str) -> int:
    """Title, scope, period, who exported when, where the definitions are; returns the header row."""
    from openpyxl.styles import Font

    now = clock.local(clock.now())
    lines = [
        f"{title}（{board.month.label}）",
        f"统计范围：{board.scope_label}",
        f"统计时段：{board.month.first_day.isoformat()} 至 {board.month.last_day.isoformat()}（北京时间）",
        f"导出时间：{now:%Y-%m-%d %H:%M}（北京时间）；导出人：{exported_by}",
        "统计口径：见本工作簿“统计口径”表，或系统中的“统计口径”页面（/m/checkin/board/definitions）",
    ]
    for number, line in enumerate(lines, start=1):
        sheet.cell(row=number, column=1, value=line)
    sheet["A1"].font = Font(bold=True, size=14)
    return len(lines) + 2


def _department_sheet(book, board: Board, exported_by: str) -> None:
    from openpyxl.styles import Font

    sheet = book.active
    sheet.title = "部门报到考核"
    header_row = _header_block(sheet, "部门报到考核", board, exported_by)
    headers: list[str] = []
    for column in board.columns:
        if column.kind == "rate":
            headers += [*column.parts, column.label]
        elif column.kind == "mean":
            headers += [column.parts[0], column.label]
        else:
            headers.append(column.label)
    # A rate's denominator may repeat a count shown already (收到哨数): one column per figure.
    seen: set[str] = set()
    keep = [not (h in seen or seen.add(h)) for h in headers]
    headers = [h for h, k in zip(headers, keep) if k]
    for col, label in enumerate(headers, start=1):
        sheet.cell(row=header_row, column=col, value=label).font = Font(bold=True)
    for offset, row in enumerate(board.rows, start=1):
        cells: list[tuple[Any, str | None]] = []
        for column in board.columns:
            value = column.get(row)
            if column.kind == "rate":
                cells += [(value.num, None), (value.den, None), (value.ratio if value.den else "—", PERCENT)]
            elif column.kind == "mean":
                cells += [(value.count, None), (float(value.value) if value.count else "—", ONE_DECIMAL)]
            else:
                cells.append((value, None))
        cells = [c for c, k in zip(cells, keep) if k]
        for col, (value, fmt) in enumerate(cells, start=1):
            cell = sheet.cell(row=header_row + offset, column=col, value=value)
            if fmt and not isinstance(value, str):
                cell.number_format = fmt
    if not board.rows:
        sheet.cell(row=header_row + 1, column=1, value="本月没有发出的哨。")
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    sheet.column_dimensions["B" if board.columns[0].kind == "rank" else "A"].width = 20


def _center_sheet(book, board: Board, exported_by: str) -> None:
    from openpyxl.styles import Font

    sheet = book.create_sheet("中心吹哨率")
    header_row = _header_block(sheet, "中心吹哨率", board, exported_by)
    for col, label in enumerate(("中心", "层级", "吹哨数", "受理登记事项数", "吹哨率", "提示"), start=1):
        sheet.cell(row=header_row, column=col, value=label).font = Font(bold=True)
    rows = [*board.centers, *([board.total] if board.total else [])]
    for offset, row in enumerate(rows, start=1):
        values = [
            row.name, LEVEL_LABELS.get(row.level, ""), row.whistles, row.matters,
            row.rate.ratio if row.rate.den else "—", "吹哨率偏高，日常办理机制可能失灵" if row.high else "",
        ]
        for col, value in enumerate(values, start=1):
            cell = sheet.cell(row=header_row + offset, column=col, value=value)
            if col == 5 and not isinstance(value, str):
                cell.number_format = PERCENT
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    sheet.column_dimensions["A"].width = 24


def workbook(board: Board, exported_by: str) -> bytes:
    """The board as an .xlsx file: real numbers, rates as percentages, the definitions included."""
    from openpyxl import Workbook

    book = Workbook()
    _department_sheet(book, board, exported_by)
    if board.department is None:
        _center_sheet(book, board, exported_by)
    definitions = book.create_sheet("统计口径")
    for number, (label, text) in enumerate(DEFINITIONS, start=1):
        definitions.cell(row=number, column=1, value=label)
        definitions.cell(row=number, column=2, value=text)
    definitions.column_dimensions["A"].width = 16
    definitions.column_dimensions["B"].width = 100
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


ROUTES = [board_page, definitions_page, board_export]
