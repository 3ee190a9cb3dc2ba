"""Optional self-screening before a first session: PHQ-9 (depression) and GAD-7 (anxiety).

Form field names (stable — the browser test of the crisis alert fills them in):
``phq9_1`` … ``phq9_9``, ``gad7_1`` … ``gad7_7`` (radio, value "0"–"3"), ``phq9_difficulty``
(radio, "0"–"3", not scored) and ``_submission_key``; the form posts to
``/m/counseling/c/{center_code}/screening/{booking_id}`` (citizen signed in, owner of the booking).

Items, answer options and the "over the last two weeks" stem are the Chinese versions of the
PHQ-9 and GAD-7 (Spitzer, Williams, Kroenke et al.; public domain, Pfizer's translations). Each
item scores 0–3 (完全不会 / 好几天 / 一半以上的天数 / 几乎每天); the total is the plain sum:
PHQ-9 0–27, bands 0–4 minimal, 5–9 mild, 10–14 moderate, 15–19 moderately severe, 20–27 severe
(Kroenke 2001); GAD-7 0–21, bands 0–4 minimal, 5–9 mild, 10–14 moderate, 15–21 severe (Spitzer
2006). The bands describe symptom severity for the counselor's first conversation; they are not a
diagnosis, and a counselor may not diagnose (精神卫生法 Art. 23). The functional-difficulty
question is recorded, never added to the total.

PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered above 0 raises a crisis
flag in the same transaction as the answers (``crisis.raise_flag``), whatever the total.

The answers are stored as one ciphertext with the notes key (notes_crypto, bound to the booking);
totals and bands are recomputed from them for the counselor's page, never stored in the clear.

Who sees what: the counselor of the booking sees answers, totals and bands (each reading audited);
the citizen sees only that the answers were received and where to find help; no other staff
member sees anything of it (the crisis contacts learn that a crisis flag was raised, not why in
terms of scores).
"""

from __future__ import annotations

from dataclasses import dataclass

from portal import clock
from portal.db import raw, write_transaction
from portal.i18n import _

__all__ = [
    "ANSWERS",
    "DIFFICULTY",
    "GAD7_ITEMS",
    "PHQ9_ITEMS",
    "STEM",
    "Result",
    "gad7_band",
    "parse",
    "phq9_band",
    "present",
    "score",
    "screening_for",
    "submit",
]

STEM = "在过去两个星期，有多少时候您受到以下任何问题所困扰？"
ANSWERS: tuple[tuple[int, str], ...] = ((0, "完全不会"), (1, "好几天"), (2, "一半以上的天数"), (3, "几乎每天"))

PHQ9_ITEMS: tuple[str, ...] = (
    "做事时提不起劲或没有兴趣",
    "感到心情低落、沮丧或绝望",
    "入睡困难、睡不安稳或睡眠过多",
    "感觉疲倦或没有活力",
    "食欲不振或吃太多",
    "觉得自己很糟，或觉得自己很失败，或让自己或家人失望",
    "对事物专注有困难，例如阅读报纸或看电视时",
    "动作或说话速度缓慢到别人已经觉察？或正好相反，烦躁或坐立不安、动来动去的情况更胜于平常",
    "有不如死掉或用某种方式伤害自己的念头",
)
DIFFICULTY_QUESTION = "如果您发现自己有以上任何问题，这些问题在您工作、处理家庭事务或与他人相处上造成了多大的困难？"
DIFFICULTY: tuple[tuple[int, str], ...] = ((0, "毫无困难"), (1, "有些困难"), (2, "非常困难"), (3, "极度困难"))

GAD7_ITEMS: tuple[str, ...] = (
    "感觉紧张、焦虑或急切",
    "不能够停止或控制担忧",
    "对各种各样的事情担忧过多",
    "很难放松下来",
    "由于不安而无法静坐",
    "变得容易烦恼或急躁",
    "感到似乎将有可怕的事情发生而害怕",
)

SELF_HARM_ITEM = 9  # PHQ-9 item 9, 1-based

# (upper bound inclusive, key, label): the published cut-offs.
_PHQ9_BANDS = ((4, "minimal", "无或极轻微"), (9, "mild", "轻度"), (14, "moderate", "中度"),
               (19, "moderately_severe", "中重度"), (27, "severe", "重度"))
_GAD7_BANDS = ((4, "minimal", "无或极轻微"), (9, "mild", "轻度"), (14, "moderate", "中度"), (21, "severe", "重度"))


def _band(total: int, bands: tuple, maximum: int) -> tuple[str, str]:
    if not 0 <= total <= maximum:
        raise ValueError(f"total {total} outside 0–{maximum}")
    for upper, key, label in bands:
        if total <= upper:
            return key, label
    raise AssertionError("unreachable")


def phq9_band(total: int) -> tuple[str, str]:
    """(key, Chinese label) of a PHQ-9 total 0–27."""
    return _band(total, _PHQ9_BANDS, 27)


def gad7_band(total: int) -> tuple[str, str]:
    """(key, Chinese label) of a GAD-7 total 0–21."""
    return _band(total, _GAD7_BANDS, 21)


@dataclass(frozen=True)
class Result:
    phq9: tuple[int, ...]
    gad7: tuple[int, ...]
    difficulty: int

    @property
    def phq9_total(self) -> int:
        return sum(self.phq9)

    @property
    def gad7_total(self) -> int:
        return sum(self.gad7)

    @property
    def self_harm(self) -> bool:
        return self.phq9[SELF_HARM_ITEM - 1] > 0

    @property
    def phq9_digits(self) -> str:
        return "".join(str(v) for v in self.phq9)

    @property
    def gad7_digits(self) -> str:
        return "".join(str(v) for v in self.gad7)


def score(phq9: list[int] | tuple[int, ...], gad7: list[int] | tuple[int, ...], difficulty: int = 0) -> Result:
    """Check and total the answers (9 and 7 values of 0–3)."""
    if len(phq9) != 9 or len(gad7) != 7:
        raise ValueError("PHQ-9 has 9 items, GAD-7 has 7")
    if any(v not in (0, 1, 2, 3) for v in (*phq9, *gad7, difficulty)):
        raise ValueError("every answer is 0–3")
    return Result(tuple(phq9), tuple(gad7), difficulty)


def _answer(value: str) -> int | None:
    value = (value or "").strip()
    return int(value) if value in ("0", "1", "2", "3") else None


def parse(get) -> tuple[Result | None, dict[str, str], dict[str, str]]:
    """Read the form (``get(name) -> str``): (result or None, submitted values, errors).

    Every item is required; the errors name the missing items so the citizen finds them, and the
    values come back so the answers already given are kept.
    """
    values = {}
    for prefix, count in (("phq9", 9), ("gad7", 7)):
        for i in range(1, count + 1):
            values[f"{prefix}_{i}"] = (get(f"{prefix}_{i}") or "").strip()[:1]
    values["phq9_difficulty"] = (get("phq9_difficulty") or "").strip()[:1]
    errors: dict[str, str] = {}
    phq9 = [_answer(values[f"phq9_{i}"]) for i in range(1, 10)]
    gad7 = [_answer(values[f"gad7_{i}"]) for i in range(1, 8)]
    difficulty = _answer(values["phq9_difficulty"])
    missing_phq9 = [i for i, v in enumerate(phq9, 1) if v is None]
    missing_gad7 = [i for i, v in enumerate(gad7, 1) if v is None]
    if missing_phq9:
        errors[f"phq9_{missing_phq9[0]}"] = _("Answer item(s) %(items)s of part 1 (PHQ-9).", items="、".join(str(i) for i in missing_phq9))
    if difficulty is None:
        errors["phq9_difficulty"] = _("Answer how much these problems made your work, home life or getting along with others difficult.")
    if missing_gad7:
        errors[f"gad7_{missing_gad7[0]}"] = _("Answer item(s) %(items)s of part 2 (GAD-7).", items="、".join(str(i) for i in missing_gad7))
    if errors:
        return None, values, errors
    return score(phq9, gad7, difficulty), values, {}


# ----------------------------------------------------------------------------- storage


async def screening_for(booking_id: int) -> dict | None:
    rows = await raw("SELECT * FROM counseling_screening WHERE booking = {}", booking_id)
    return rows[0] if rows else None


def _context(booking_id: int) -> str:
    return f"screening:{booking_id}"


async def submit(trail, booking: dict, result: Result, cipher) -> tuple[dict, dict | None, bool]:
    """Store the answers once per booking, encrypted with the notes key (``cipher``); item 9 above 0
    raises the crisis flag (and queues its alerts) in the same transaction. Returns (row, crisis
    flag or None, created)."""
    from plugins.counseling.crisis import raise_flag

    answers = cipher.encrypt_json({"phq9": list(result.phq9), "gad7": list(result.gad7), "difficulty": result.difficulty},
                                  _context(booking["id"]))
    async with write_transaction():
        rows = await raw(
            "INSERT INTO counseling_screening (center, booking, counselor, answers, submitted_at) "
            "VALUES ({}, {}, {}, {}, {}) ON CONFLICT (booking) DO NOTHING RETURNING *",
            booking["center"], booking["id"], booking["counselor"], answers, clock.now(),
        )
        if not rows:
            return await screening_for(booking["id"]), None, False
        await trail("counseling.screening_submitted", object_type="booking", object_id=booking["id"], center_id=booking["center"])
        crisis = None
        if result.self_harm:
            crisis = await raise_flag(trail, center_id=booking["center"], counselor_id=booking["counselor"], source="screening",
                                      booking_id=booking["id"])
        return rows[0], crisis, True


def present(row: dict, cipher) -> dict:
    """What the counselor's page shows: every item with its answer, totals and bands (decrypted;
    a wrong key raises ``CounselingKeyError``)."""
    labels = dict(ANSWERS)
    answers = cipher.decrypt_json(row["answers"], _context(row["booking"]), default={}) or {}
    result = score(answers["phq9"], answers["gad7"], answers["difficulty"])
    return {
        "phq9": [{"n": i, "text": text, "value": v, "label": labels[v]} for i, (text, v) in enumerate(zip(PHQ9_ITEMS, result.phq9), 1)],
        "gad7": [{"n": i, "text": text, "value": v, "label": labels[v]} for i, (text, v) in enumerate(zip(GAD7_ITEMS, result.gad7), 1)],
        "phq9_total": result.phq9_total, "phq9_band": phq9_band(result.phq9_total)[1],
        "gad7_total": result.gad7_total, "gad7_band": gad7_band(result.gad7_total)[1],
        "difficulty": dict(DIFFICULTY)[result.difficulty],
        "self_harm": result.self_harm,
        "submitted_at": row["submitted_at"],
    }
