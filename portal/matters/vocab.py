"""The fixed vocabularies of a matter: categories, channels, states, outcomes, ratings (UI labels).

Labels are Chinese domain terms shown as-is; they are data (what a ledger and the statute call
them), not interface wording, so they live here rather than in the message catalog.
"""

from __future__ import annotations

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "DECLINE_ROUTES",
    "OUTCOMES",
    "RATINGS",
    "RESOLUTIONS",
    "STATUS_LABELS",
    "OPEN_STATUSES",
]

# 条例 Art. 29–31 classes, plus the dispute types a 综治中心 registers most.
CATEGORIES: dict[str, str] = {
    "suggestion": "建议意见",
    "accusation": "检举控告",
    "appeal": "申诉求决",
    "labour": "劳动争议（欠薪）",
    "land": "土地承包与征地",
    "neighbour": "邻里纠纷",
    "family": "婚姻家庭",
    "property": "物业与住房",
    "consumer": "消费纠纷",
    "medical": "医疗纠纷",
    "traffic": "交通事故",
    "other": "其他",
}

# 条例 Art. 17 channels; "grid" is a grid worker's report, "online" the citizen's own submission.
CHANNELS: dict[str, str] = {
    "online": "网上提交",
    "visit": "来访",
    "letter": "来信",
    "phone": "来电",
    "grid": "网格上报",
    "video": "视频",
}
WINDOW_CHANNELS = ("visit", "letter", "phone", "grid")

STATUS_LABELS: dict[str, str] = {
    "registered": "待受理",
    "accepted": "已受理",
    "assigned": "已交办",
    "replied": "已答复",
    "review": "复查中",
    "rereview": "复核中",
    "declined": "不予受理",
    "forwarded": "已转送",
    "merged": "已合并",
    "closed": "已办结",
}
OPEN_STATUSES = ("registered", "accepted", "assigned", "review", "rereview")

OUTCOMES: dict[str, str] = {"support": "支持", "explain": "解释说明", "reject": "不予支持"}
RESOLUTIONS: dict[str, str] = {"": "一般办理", "on_spot": "现场化解", "joint": "联合调处"}
RATINGS: dict[str, str] = {"satisfied": "满意", "basically": "基本满意", "unsatisfied": "不满意"}

# 诉访分离: where a declined matter belongs instead (the decline notice names it).
DECLINE_ROUTES: dict[str, str] = {
    "court": "向人民法院提起诉讼",
    "arbitration": "申请仲裁（劳动人事争议仲裁委员会等）",
    "reconsideration": "申请行政复议",
    "discipline": "向纪检监察机关反映",
    "other_organ": "向有权处理的机关提出",
    "not_petition": "不属于信访事项",
    "final": "已复核终结，依法不再受理",
}

# Timeline wording (what the citizen and staff read on the matter's timeline).
EVENT_LABELS: dict[str, str] = {
    "registered": "登记",
    "repeat_detected": "发现重复事项",
    "accepted": "受理",
    "declined": "不予受理",
    "forwarded": "转送",
    "assigned": "交办",
    "objected": "承办单位退回",
    "note": "办理记录",
    "paused": "请补充材料（期限暂停）",
    "resumed": "材料已补齐（期限恢复）",
    "extension_requested": "申请延期",
    "extension_decided": "延期审批",
    "replied": "答复",
    "review_requested": "申请复查",
    "review_replied": "复查答复",
    "rereview_requested": "申请复核",
    "rereview_replied": "复核答复（终结）",
    "rated": "评价",
    "escalated": "上报上级中心",
    "handed_down": "交下级中心办理",
    "supervised": "督办",
    "supervision_answered": "督办回复",
    "followed_up": "回访",
    "closed": "办结",
    "merged": "合并办理",
    "notice": "出具文书",
    "imported": "台账导入",
}
