"""The lawyer's XLSX export: personal data masked everywhere in the file (cells, sheet names,
document properties, every XML part), the search selects the rows, the export is audited; and the
counts the numbers page reads."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

from openpyxl import load_workbook

from portal.db import raw, write_transaction
from tests.legal_aid.helpers import (
    center_id, enable_legal_aid, id_number, lawyer_client, log_consultation,
)

from plugins.legal_aid.consultations import consultation_counts, mask_id_number, scrub

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{16}[\dXx](?![0-9A-Za-z])")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook_text(content: bytes) -> str:
    """Everything a reader of the file could see: each XML part of the package, unzipped."""
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        return "\n".join(package.read(name).decode("utf-8", "replace") for name in package.namelist())


def workbook_values(content: bytes) -> list[str]:
    book = load_workbook(io.BytesIO(content))
    values = [sheet.title for sheet in book.worksheets]
    props = book.properties
    values += [str(getattr(props, name) or "") for name in ("creator", "lastModifiedBy", "title", "subject",
                                                              "description", "keywords", "category")]
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            values += [str(value) for value in row if value is not None]
    return values


async def test_the_export_masks_every_phone_id_number_and_name(app, client_factory, settings):
    await enable_legal_aid(app, "GZQ")
    lawyer = await lawyer_client(client_factory, settings, "lawyer")
    card = id_number("11010519900307123")
    await log_consultation(lawyer, person_name="欧阳娜娜", person_phone="13912345678",
                           question=f"我的身份证号是 {card}，丈夫电话 13787654321，想离婚。",
                           advice=f"请带身份证（{card.lower()}）和结婚证到法院；对方电话１３７８７６５４３２先别联系。",
                           topic="family", route="litigation")
    await log_consultation(lawyer, person_name="", person_phone="0936-8211234", question="问问题",
                           advice="已解答，可拨打 12348 法律服务热线。")
    response = await lawyer.get("/m/legal_aid/log/export.xlsx")
    assert response.status_code == 200 and response.headers["content-type"].startswith(XLSX)
    assert "attachment" in response.headers["content-disposition"]
    text = workbook_text(response.content)
    assert not MOBILE.search(text), MOBILE.findall(text)
    assert not ID_NUMBER.search(text), ID_NUMBER.findall(text)
    values = workbook_values(response.content)
    joined = "\n".join(values)
    assert not MOBILE.search(joined) and not ID_NUMBER.search(joined)
    assert "139****5678" in values and "欧*" in values and "匿名" in values and "********1234" in values
    assert "欧阳娜娜" not in joined and "0936-8211234" not in joined
    assert mask_id_number(card) in joined and mask_id_number(card).startswith("1101") and "137****4321" in joined
    assert "12348" in joined  # a hotline number is not a phone of a person
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.active
    assert sheet.freeze_panes and "统计时段" in "".join(str(c.value) for c in sheet["A"][:6] if c.value)
    header = [c.value for c in next(row for row in sheet.iter_rows() if row[0].value == "日期")]
    assert header[:2] == ["日期", "时间"] and "用时（分钟）" in header
    data = [row for row in sheet.iter_rows(min_row=sheet.freeze_panes and int(sheet.freeze_panes[1:]), values_only=True)]
    assert isinstance(data[0][0], dt.datetime | dt.date) and isinstance(data[0][header.index("用时（分钟）")], int)
    assert await raw("SELECT id FROM audit_log WHERE action = 'legal_aid.log_exported'")


async def test_the_export_follows_the_search(app, client_factory, settings):
    await enable_legal_aid(app, "GZQ")
    lawyer = await lawyer_client(client_factory, settings, "lawyer")
    await log_consultation(lawyer, topic="family", question="抚养费怎么算")
    await log_consultation(lawyer, topic="labour", question="加班费怎么算")
    response = await lawyer.get("/m/legal_aid/log/export.xlsx?topic=family")
    text = "\n".join(workbook_values(response.content))
    assert "抚养费" in text and "加班费" not in text
    wrong = await lawyer.get("/m/legal_aid/log/export.xlsx?from=someday")
    assert wrong.status_code == 303 and wrong.headers["location"].startswith("/m/legal_aid/log?")


def test_scrub_masks_numbers_inside_text_only():
    card = id_number("62070219800101123")
    assert scrub(f"号码{card}和13800138000") == f"号码{mask_id_number(card)}和138****8000"
    assert scrub("订单号 213800138000123 不是手机号") == "订单号 213800138000123 不是手机号"
    assert scrub("全角１３８００１３８０００") == "全角138****8000"


async def test_consultation_counts_for_the_numbers_page(app, client_factory, settings):
    await enable_legal_aid(app, "GZQ")
    lawyer = await lawyer_client(client_factory, settings, "lawyer")
    await log_consultation(lawyer, topic="family", route="litigation", minutes="20")
    await log_consultation(lawyer, topic="labour", route="arbitration", minutes="10", eligible="no")
    entry = await log_consultation(lawyer, topic="labour", route="litigation", minutes="5")
    gzq = await center_id("GZQ")
    today = entry["day"] if isinstance(entry["day"], dt.date) else dt.date.fromisoformat(str(entry["day"]))
    # One entry of last month does not count in this one.
    async with write_transaction():
        await raw("UPDATE legal_aid_consultation SET day = {} WHERE id = {}", today.replace(day=1) - dt.timedelta(days=1),
                  entry["id"])
    counts = await consultation_counts([gzq], today)
    assert counts["total"] == 2 and counts["litigation"] == 1 and counts["minutes"] == 30 and counts["eligible"] == 1
    assert counts["by_topic"] == {"family": 1, "labour": 1} and counts["by_route"] == {"litigation": 1, "arbitration": 1}
    assert counts["by_center"] == {gzq: 2}
    assert (await consultation_counts([gzq], today.strftime("%Y-%m")))["total"] == 2
    assert (await consultation_counts([await center_id("GZQ-DMZ")], today))["total"] == 0
    assert (await consultation_counts([], today))["total"] == 0
