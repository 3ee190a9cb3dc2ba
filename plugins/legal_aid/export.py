"""XLSX export of a lawyer's own consultations, with personal data masked.

Names become surname + *, phones 139****5678, and every mobile or ID number written inside the
question or the advice is masked as well (``consultations.scrub``): the file leaves the system,
so nothing in it — cells, sheet names, document properties — may identify the person.
The search of "my log" (text, topic, date range) selects the rows; the export is audited.
"""

from __future__ import annotations

import io

from litestar import Request, Response, get

from portal import clock
from portal.db import raw, write_transaction
from portal.matters.codes import format_code
from portal.web.request import principal, trail

from plugins.legal_aid import consultations as cs
from plugins.legal_aid.log_routes import LOG, read_search

__all__ = ["ROUTES", "workbook"]

MAX_ROWS = 20000
COLUMNS = (
    ("日期", 12), ("时间", 8), ("咨询地点", 18), ("渠道", 8), ("咨询人", 10), ("电话", 14), ("问题类别", 14),
    ("咨询问题", 50), ("解答意见", 60), ("建议途径", 12), ("符合法律援助条件", 10), ("用时（分钟）", 10),
    ("关联事项", 16), ("需要跟进", 8),
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(rows: list[dict], *, lawyer: str, period: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    sheet.title = "咨询台账"
    now = clock.local(clock.now())
    lines = [
        "值班律师咨询台账",
        f"律师：{lawyer}",
        f"统计时段：{period}（北京时间）",
        f"导出时间：{now:%Y-%m-%d %H:%M}（北京时间）；导出人：{lawyer}",
        "个人信息已脱敏：姓名只留姓氏，电话和身份证号码只留首尾几位。",
    ]
    for number, line in enumerate(lines, start=1):
        sheet.cell(row=number, column=1, value=line)
    sheet["A1"].font = Font(bold=True, size=14)
    header = len(lines) + 2
    for col, (label, width) in enumerate(COLUMNS, start=1):
        sheet.cell(row=header, column=col, value=label).font = Font(bold=True)
        sheet.column_dimensions[sheet.cell(row=header, column=col).column_letter].width = width
    wrap = Alignment(wrap_text=True, vertical="top")
    for offset, row in enumerate(rows, start=1):
        local = clock.local(row["created_at"])
        values = [
            cs.as_date(row["day"]), local.strftime("%H:%M"), row["center_name"], cs.CHANNELS.get(row["channel"], ""),
            cs.mask_name(row["person_name"]), cs.mask_phone(row["person_phone"]), cs.TOPICS.get(row["topic"], ""),
            cs.scrub(row["question"]), cs.scrub(row["advice"]), cs.ROUTES.get(row["route"], ""),
            "是" if row["eligible"] else "否", int(row["minutes"] or 0),
            format_code(row["matter_code"]) if row["matter_code"] else "", "是" if row["follow_up"] else "否",
        ]
        for col, value in enumerate(values, start=1):
            cell = sheet.cell(row=header + offset, column=col, value=value)
            if col == 1:
                cell.number_format = "yyyy-mm-dd"
            elif col in (8, 9):
                cell.alignment = wrap
    if not rows:
        sheet.cell(row=header + 1, column=1, value="所选时段内没有咨询记录。")
    sheet.freeze_panes = sheet.cell(row=header + 1, column=1)
    # The file's own properties name the system, never the person or the lawyer's contact details.
    book.properties.creator = "吹哨报到综治服务平台"
    book.properties.lastModifiedBy = "吹哨报到综治服务平台"
    book.properties.title = "值班律师咨询台账"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@get("/log/export.xlsx", opt=LOG)
async def export_mine(request: Request) -> Response:
    user = principal(request)
    search, errors, sql = read_search(request.query_params)
    if errors:
        # The same search as the log page: a wrong date is explained there, with what was typed.
        from portal.web.render import redirect

        return redirect(request, "/m/legal_aid/log?" + search.query(), next(iter(errors.values())), "error")
    where = ["e.author = {}", *sql["where"]]
    rows = await raw(
        "SELECT e.*, c.name AS center_name, m.code AS matter_code FROM legal_aid_consultation e "
        "JOIN center c ON c.id = e.center LEFT JOIN matter m ON m.id = e.matter "
        f"WHERE {' AND '.join(where)} ORDER BY e.day, e.id LIMIT {MAX_ROWS}", user.user_id, *sql["args"])
    if search.start or search.end:
        period = f"{search.start or '最早'} 至 {search.end or '今天'}"
    else:
        period = "全部"
    content = workbook(rows, lawyer=user.display_name, period=period)
    async with write_transaction():
        await trail(request)("legal_aid.log_exported", object_type="legal_aid_consultation", object_id=len(rows),
                             center_id=user.center_id)
    name = f"consultations-{cs.today().isoformat()}.xlsx"
    return Response(content=content, media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


ROUTES = [export_mine]
