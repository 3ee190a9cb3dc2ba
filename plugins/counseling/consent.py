"""Informed consent before the first session (知情同意).

A separate page, never bundled with other terms; its one checkbox is unticked until the person
ticks it. The text states what counseling is and is not (the counselor neither diagnoses nor
treats and refers to a medical institution instead: 精神卫生法 Art. 23), the confidentiality of
the records, and the limits of that confidentiality (risk of self-harm, harm to others, abuse or
neglect of a child or an elder, a legal requirement: domain.md §6.3; Art. 28 for danger). It is
also the separate consent PIPL Art. 29 requires for health information, with the purpose and
effect Art. 30 asks to be told, and the guardian rule for under-14s (Art. 31). Each
published text keeps its version key forever: a consent row records the version the person saw,
so a later change of wording never rewrites what someone agreed to.

Consent is given online by the citizen (signed in, owner of the booking) or at the center on the
counselor's screen (the person ticks the box there; ``recorded_by`` is the counselor). One row per
booking; the session form of a first session is refused without it (``require_consent``).

A walk-in's case has no booking to carry the consent, so a case takes its own (``record_for_case``,
``counseling_case_consent``): the same text and version, ticked by the client on the counselor's
screen. A first session needs consent from one of the case's bookings or from the case.
"""

from __future__ import annotations

from portal import clock
from portal.db import raw, write_transaction

from plugins.counseling.booking import FIRST
from plugins.counseling.tables import CONSENT_VERSION

__all__ = ["CHANNELS", "TEXTS", "ConsentMissing", "case_consent_for", "consent_for", "consent_for_any", "record", "record_for_case",
           "require_consent", "text_for"]

CHANNELS = {"online": "来访者在线确认", "onsite": "来访者在咨询室确认"}

# version -> (title, [(heading, [paragraphs])], checkbox label). "{retention}" and "{phone}" are
# filled from the center's settings.
TEXTS: dict[str, tuple[str, list[tuple[str, list[str]]], str]] = {
    "2026-11": (
        "心理咨询知情同意书",
        [
            ("一、咨询是什么", [
                "本中心心理咨询室由心理咨询师为您提供心理咨询和心理疏导，每次约 50 分钟。咨询是自愿的，您可以随时提问、"
                "拒绝回答某个问题、暂停或结束咨询，这不会影响您在本中心办理的任何事项。",
            ]),
            ("二、咨询师不做诊断和治疗", [
                "依照《中华人民共和国精神卫生法》第二十三条，心理咨询人员不得从事心理治疗或者精神障碍的诊断、治疗。"
                "咨询师不会给您下诊断、开药或治疗。如果咨询师认为您可能需要诊断或治疗，会建议您到具备资质的医疗机构就诊，"
                "并可以在您同意后协助转介。",
            ]),
            ("三、我们为您保密", [
                "您在咨询中谈到的内容和您的个人信息，咨询师予以保密。咨询记录加密保存，只有您的咨询师可以阅读；"
                "中心指定的督导为保证服务质量查阅记录时，必须先说明理由并留下记录，您的咨询师会看到这一记录。",
                "咨询记录与您在本中心办理的信访、矛盾纠纷等事项分开保存，不会出现在这些事项中。只有在您同意时，"
                "事项中才会记下“已转介心理咨询”这一句话，不含任何咨询内容。",
                "您可以使用化名预约，只需留下手机号码。",
            ]),
            ("四、保密的例外", [
                "出现以下情况时，咨询师将在必要的范围内突破保密，联系您的家属、有关单位、公安机关或医疗机构：",
                "（一）您有明显的自伤、自杀风险；",
                "（二）您有伤害他人的意图或危险；",
                "（三）有未成年人或老年人受到虐待、遗弃或忽视；",
                "（四）法律、法规规定或者司法机关依法要求提供有关信息。",
                "依照《精神卫生法》第二十八条，有伤害自身或者危害他人安全的危险时，近亲属、所在单位或者公安机关"
                "应当立即采取措施予以制止，并将其送往医疗机构。",
            ]),
            ("五、您的个人信息", [
                "为了提供咨询，我们处理：您的称呼（可以是化名）、手机号码、预约时间，以及您在咨询和自评问卷中谈到的情况。"
                "后者涉及您的身心健康，属于《个人信息保护法》第二十八条规定的敏感个人信息，仅用于为您提供咨询和在危险时保护您，"
                "除上述保密的例外外不向任何人提供。手机号码只用于发送预约短信，短信中不会出现“心理咨询”字样。",
                "未满十四周岁的，须由父母或者其他监护人阅读本同意书并同意（《个人信息保护法》第三十一条）。",
            ]),
            ("六、自评问卷", [
                "首次咨询前，您可以选择填写简短的自评问卷（PHQ-9、GAD-7）。问卷只给您的咨询师看，用于第一次交谈，"
                "不是诊断。您也可以不填。",
            ]),
            ("七、记录保存多久", [
                "咨询记录在最后一次咨询后保存{retention}，期满后删除，删除留有记录。",
            ]),
            ("八、需要紧急帮助时", [
                "全国统一心理援助热线 12356；遇到危险请拨打 110，需要急救请拨打 120。本中心咨询室电话：{phone}。",
            ]),
        ],
        "我已阅读并理解以上内容，包括保密的例外和咨询师不做诊断、治疗；我同意接受心理咨询，并单独同意本中心为此处理我的"
        "敏感个人信息（健康信息）。未满十四周岁的，由监护人勾选。",
    ),
}
assert CONSENT_VERSION in TEXTS


class ConsentMissing(Exception):
    """A first session without informed consent for its booking."""


def _retention_text(days: int) -> str:
    if days % 365 == 0:
        return f" {days // 365} 年"
    return f" {days} 天"


def text_for(version: str, settings: dict) -> dict:
    """The consent text of ``version`` filled with the center's settings."""
    title, sections, agree = TEXTS.get(version) or TEXTS[CONSENT_VERSION]
    fill = {"retention": _retention_text(settings["retention_days"]), "phone": settings.get("contact_phone") or "—"}
    return {
        "version": version if version in TEXTS else CONSENT_VERSION,
        "title": title,
        "sections": [(heading, [p.format(**fill) for p in paragraphs]) for heading, paragraphs in sections],
        "agree": agree,
    }


async def consent_for(booking_id: int) -> dict | None:
    rows = await raw("SELECT * FROM counseling_consent WHERE booking = {}", booking_id)
    return rows[0] if rows else None


async def require_consent(booking: dict) -> dict | None:
    """Raise ``ConsentMissing`` when ``booking`` is a first session without consent; returns the
    consent row (None for other sessions without one). For the session form of the notes side."""
    consent = await consent_for(booking["id"])
    if consent is None and booking["service_key"] == FIRST:
        raise ConsentMissing()
    return consent


async def consent_for_any(booking_ids: list[int]) -> dict | None:
    """The earliest consent given for any of these bookings (a case's first booking and the one
    its first session took place in): what the session form of a first session requires."""
    ids = [b for b in booking_ids if b]
    if not ids:
        return None
    marks = ", ".join("{}" for _ in ids)
    rows = await raw(f"SELECT * FROM counseling_consent WHERE booking IN ({marks}) ORDER BY consented_at, id LIMIT 1", *ids)
    return rows[0] if rows else None


async def record(trail, booking: dict, *, version: str, channel: str, citizen_id: int | None = None,
                 recorded_by: int | None = None) -> tuple[dict, bool]:
    """Record consent for the booking (once); returns (row, created). The audit row commits with it."""
    if channel not in CHANNELS or version not in TEXTS:
        raise ValueError("unknown consent channel or version")
    async with write_transaction():
        rows = await raw(
            "INSERT INTO counseling_consent (center, booking, citizen, version, channel, recorded_by, consented_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT (booking) DO NOTHING RETURNING *",
            booking["center"], booking["id"], citizen_id, version, channel, recorded_by, clock.now(),
        )
        if not rows:
            return await consent_for(booking["id"]), False
        await trail("counseling.consent_given", object_type="booking", object_id=booking["id"],
                    center_id=booking["center"], fields=(channel,))
        return rows[0], True


async def case_consent_for(case_id: int) -> dict | None:
    rows = await raw("SELECT * FROM counseling_case_consent WHERE case_id = {}", case_id)
    return rows[0] if rows else None


async def record_for_case(trail, case: dict, *, version: str, recorded_by: int) -> tuple[dict, bool]:
    """Record consent ticked by the client on the counselor's screen for a case (once); returns
    (row, created). The audit row commits with it."""
    if version not in TEXTS:
        raise ValueError("unknown consent version")
    async with write_transaction():
        rows = await raw(
            "INSERT INTO counseling_case_consent (center, case_id, version, channel, recorded_by, consented_at) "
            "VALUES ({}, {}, {}, 'onsite', {}, {}) ON CONFLICT (case_id) DO NOTHING RETURNING *",
            case["center"], case["id"], version, recorded_by, clock.now(),
        )
        if not rows:
            return await case_consent_for(case["id"]), False
        await trail("counseling.consent_given", object_type="counseling_case", object_id=case["id"],
                    center_id=case["center"], fields=("onsite",))
        return rows[0], True
