"""Demo matters for `portal demo load`: a few matters in different states, so the window is not empty.

Created through the real service (notices, timeline, counters, messages), idempotently: nothing is
added once any matter exists. Not part of the test fixtures, which start with no matters.
"""

from __future__ import annotations

from portal.audit.chain import AuditTrail
from portal.matters.service import Ctx, NewMatter, act, register
from portal.matters.tables import Matter
from portal.tables import Center, Department

__all__ = ["load_demo_matters"]

_SAMPLES = [
    # center code, category, summary, request, phone, name, steps
    ("GZQ-DMZ-XXC", "labour", "讨要拖欠的工资", "请求督促某建筑公司支付拖欠的工资 8000 元。", "13800000001", "张三", []),
    ("GZQ-DMZ-XXC", "neighbour", "邻居违建挡住采光", "请求拆除邻居加盖的二层违建。", "13800000002", "李四", ["accept"]),
    ("GZQ-DMZ", "land", "土地承包经营权纠纷", "请求确认承包地边界。", "13800000003", "王五", ["accept", "reply"]),
    ("GZQ-DZZ", "property", "小区物业费争议", "请求物业公司公开收支。", "13800000004", "赵六", ["assign"]),
    ("GZQ", "consumer", "预付卡商家跑路", "请求追回预付卡余额。", "13800000005", "孙七", ["decline"]),
]


async def load_demo_matters(trail: AuditTrail) -> int:
    if await Matter.exists():
        return 0
    centers = {row["code"]: row for row in await Center.select()}
    rsj = await Department.select(Department.id).where(Department.code == "RSJ").first()
    ctx = Ctx(trail=trail, user_label="演示数据")
    created = 0
    for code, category, summary, request, phone, name, steps in _SAMPLES:
        center = centers.get(code)
        if center is None:
            continue
        matter = await register(ctx, center, NewMatter(
            kind="petition", category=category, channel="visit", summary=summary, request=request, facts="",
            place="", place_center=None, petitioner_name=name, petitioner_phone=phone, petitioner_address="",
            people_count=1,
        ))
        for step in steps:
            values: dict = {}
            if step == "reply":
                values = {"outcome": "explain", "opinion": "经实地核查，已组织双方协商。", "basis": "《农村土地承包法》", "resolution": "joint"}
            elif step == "decline":
                values = {"reason": "该事项属于消费纠纷，应通过市场监管投诉或诉讼解决。", "route": "other_organ"}
            elif step == "assign" and rsj:
                import datetime as dt

                from portal import clock

                values = {"department": str(rsj["id"]), "due_date": (clock.local(clock.now()) + dt.timedelta(days=20)).date(), "instruction": "请核实"}
            await act(ctx, matter["id"], step, values)
        created += 1
    return created
