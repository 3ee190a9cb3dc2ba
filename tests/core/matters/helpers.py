"""Shared steps for the one-stop window tests: register at the window, act on a matter."""

from __future__ import annotations

import re

from portal.matters.tables import Matter

WINDOW_FORM = {
    "channel": "visit",
    "kind": "petition",
    "category": "labour",
    "petitioner_name": "张三",
    "petitioner_phone": "13800138000",
    "petitioner_address": "大满镇新新村3组",
    "people_count": "1",
    "summary": "讨要拖欠的工资",
    "request": "请求督促某建筑公司支付拖欠的工资 8000 元。",
    "facts": "2026年在某工地务工三个月，工资未结清。",
}


def submission_key(page_text: str) -> str:
    return re.search(r'name="_submission_key" value="([^"]+)"', page_text).group(1)


async def register_at_window(client, **overrides) -> dict:
    """Register through the real form; returns the matter row."""
    form = await client.get("/matters/new")
    assert form.status_code == 200, form.status_code
    data = {**WINDOW_FORM, **overrides, "_submission_key": submission_key(form.text)}
    response = await client.submit("/matters/new", data)
    assert response.status_code == 303, (response.status_code, response.text[:3000])
    matter_id = int(response.headers["location"].rsplit("/", 1)[1])
    return await Matter.select().where(Matter.id == matter_id).first()


async def act(client, matter_id: int, action: str, expect: int = 303, **data):
    row = await Matter.select(Matter.version).where(Matter.id == matter_id).first()
    payload = {"version": str(row["version"]), **{k: str(v) for k, v in data.items()}}
    response = await client.submit(f"/matters/{matter_id}/act/{action}", payload)
    assert response.status_code == expect, (response.status_code, re.findall(r"role=\"alert\".{0,400}", response.text, re.S) or response.text[-2000:])
    return response
