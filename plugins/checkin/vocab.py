"""The fixed vocabularies of a whistle (UI labels).

Like core's ``portal.matters.vocab``: the labels are Chinese domain terms shown as they are (what
the 吹哨报到 rules call them), data rather than interface wording.
"""

from __future__ import annotations

__all__ = ["EVENT_LABELS", "GRADES", "METHODS", "MODES", "SOURCES", "STATUS_LABELS", "STANDALONE_SOURCES"]

GRADES: dict[str, str] = {"emergency": "特急", "urgent": "紧急", "ordinary": "一般"}
MODES: dict[str, str] = {"onsite": "现场报到", "online": "线上报到"}
SOURCES: dict[str, str] = {"matter": "信访矛盾纠纷事项", "emergency": "突发事件", "grid": "网格上报", "other": "其他"}
STANDALONE_SOURCES = ("emergency", "grid", "other")
STATUS_LABELS: dict[str, str] = {
    "pending_approval": "待审批",
    "rejected": "未获批准",
    "open": "报到处置中",
    "closed": "已办结",
    "cancelled": "已撤销",
}
METHODS: dict[str, str] = {"code": "输入报到码", "qr": "扫码报到", "online": "线上报到"}
EVENT_LABELS: dict[str, str] = {
    "blown": "吹哨",
    "approved": "批准吹哨",
    "rejected": "不予批准",
    "notified": "通知部门",
    "checked_in": "报到",
    "renotified": "超时再次通知",
    "leader_alerted": "提醒部门负责人",
    "upper_alerted": "提醒上级中心",
    "minutes": "会商纪要",
    "task": "分派任务",
    "result": "反馈处置结果",
    "rated": "评哨",
    "closed": "办结",
    "cancelled": "撤销",
}
