"""Written notices (受理告知书, 不予受理告知书…): numbered per center and year, rendered from templates.

Numbering: ``notice_counter`` holds the last number per (center, year); issuing increments it with
one conditional UPDATE … RETURNING inside the caller's write transaction, so concurrent issuers
queue on the row (SQLite: the IMMEDIATE lock; PostgreSQL: the row lock) and a rolled-back
transaction gives its number back — no gaps, no duplicates. The unique index on
(center, year, seq) is the backstop.

Templates use ``$placeholder`` fields (string.Template): a center can edit the wording without
being able to run code. A center without its own template uses the built-in one below.
"""

from __future__ import annotations

import datetime as dt
from string import Template

from portal.clock import local, now
from portal.db import raw
from portal.matters.codes import format_code
from portal.matters.tables import Notice, NoticeTemplate

__all__ = ["KINDS", "PLACEHOLDERS", "DEFAULT_TEMPLATES", "issue", "template_for", "fill"]

KINDS: dict[str, tuple[str, str]] = {
    # kind: (title, number prefix)
    "accept": ("受理告知书", "受"),
    "decline": ("不予受理告知书", "不受"),
    "forward": ("转送告知书", "转"),
    "extension": ("延期办理告知书", "延"),
    "reply": ("信访事项处理意见书", "处"),
    "review": ("信访事项复查意见书", "复查"),
    "rereview": ("信访事项复核意见书", "复核"),
}

PLACEHOLDERS: dict[str, str] = {
    "petitioner": "信访人/申请人姓名",
    "code": "查询码",
    "received": "收到日期",
    "summary": "事项摘要",
    "request": "诉求",
    "center": "本中心名称",
    "date": "出具日期",
    "due": "办理期限",
    "department": "承办单位",
    "target": "转送的机关或中心",
    "reason": "理由",
    "route": "应当通过的途径",
    "days": "延长天数",
    "outcome": "处理结果",
    "opinion": "处理意见",
    "basis": "依据",
    "next_step": "不服时的救济途径",
}

DEFAULT_TEMPLATES: dict[str, str] = {
    "accept": (
        "$petitioner：\n"
        "您于$received提出的信访事项（$summary）已收悉。经审查，该事项属于本机关职责范围，"
        "现予受理，将于$due前办理完毕并书面答复。办理过程中您可凭查询码 $code 在网上查询进度。\n"
        "特此告知。"
    ),
    "decline": (
        "$petitioner：\n"
        "您于$received提出的信访事项（$summary）已收悉。经审查，$reason依据《信访工作条例》的规定，"
        "本机关不予受理。请您$route。\n"
        "特此告知。"
    ),
    "forward": (
        "$petitioner：\n"
        "您于$received提出的信访事项（$summary）已收悉。该事项不属于本中心职责范围，"
        "已转送$target办理，请等待其答复。查询码：$code。\n"
        "特此告知。"
    ),
    "extension": (
        "$petitioner：\n"
        "您提出的信访事项（$summary）因$reason，经本机关负责人批准，办理期限延长$days日，"
        "延长后的期限为$due。\n"
        "特此告知。"
    ),
    "reply": (
        "$petitioner：\n"
        "您于$received提出的信访事项（$summary），诉求为：$request\n"
        "经调查核实，处理意见如下：$opinion\n"
        "依据：$basis\n"
        "处理结果：$outcome。\n"
        "$next_step"
    ),
    "review": (
        "$petitioner：\n"
        "您对信访事项（$summary）的处理意见不服，请求复查。经复查，意见如下：$opinion\n"
        "依据：$basis\n"
        "复查结果：$outcome。\n"
        "$next_step"
    ),
    "rereview": (
        "$petitioner：\n"
        "您对信访事项（$summary）的复查意见不服，请求复核。经复核，意见如下：$opinion\n"
        "依据：$basis\n"
        "复核结果：$outcome。本复核意见为终结意见，"
        "您以同一事实和理由再次提出的，各级机关不再受理。"
    ),
}


def cn_date(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = local(value).date()
    return f"{value.year}年{value.month}月{value.day}日"


def fill(body: str, values: dict[str, str]) -> str:
    return Template(body).safe_substitute({k: str(v) for k, v in values.items()})


async def template_for(center_id: int, kind: str) -> str:
    row = await NoticeTemplate.select(NoticeTemplate.body).where(
        (NoticeTemplate.center == center_id) & (NoticeTemplate.kind == kind)
    ).first()
    return row["body"] if row else DEFAULT_TEMPLATES[kind]


async def _next_number(center_id: int, year: int) -> int:
    await raw(
        "INSERT INTO notice_counter (center, year, last) VALUES ({}, {}, 0) ON CONFLICT (center, year) DO NOTHING",
        center_id,
        year,
    )
    rows = await raw(
        "UPDATE notice_counter SET last = last + 1 WHERE center = {} AND year = {} RETURNING last", center_id, year
    )
    return rows[0]["last"]


async def issue(
    *,
    matter: dict,
    center: dict,
    kind: str,
    values: dict[str, str],
    issued_by: int | None,
) -> dict:
    """Number, render and store a notice; call inside the write transaction of the decision."""
    at = now()
    year = local(at).year
    seq = await _next_number(center["id"], year)
    title, prefix = KINDS[kind]
    number = f"{center['code']}{prefix}〔{year}〕{seq}号"
    base = {
        "petitioner": matter["petitioner_name"] or "信访人",
        "code": format_code(matter["code"]),
        "received": cn_date(matter["received_at"]),
        "summary": matter["summary"],
        "request": matter["request"],
        "center": center["name"],
        "date": cn_date(at),
    }
    body = fill(await template_for(center["id"], kind), {**base, **values})
    rows = await Notice.insert(
        Notice(
            matter=matter["id"],
            center=center["id"],
            kind=kind,
            year=year,
            seq=seq,
            number=number,
            title=title,
            body=body,
            issued_at=at,
            issued_by=issued_by,
        )
    ).returning(Notice.id)
    return {"id": rows[0]["id"], "number": number, "title": title, "kind": kind, "body": body}
