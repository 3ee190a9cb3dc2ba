"""The statutory clocks pinned with real dates of the 2026 official calendar.

2026 per the installed chinese-calendar (State Council notice): National Day holiday 10-01..10-07
with make-up working days on Sun 09-20 and Sat 10-10; Labour Day make-up working day Sat 05-09.
"""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest

from portal.audit.chain import SYSTEM, AuditTrail
from portal.clock import TZ_CN
from portal.matters.calendar import WorkingCalendar, invalidate_calendar, load_calendar, official_day, set_override
from portal.matters.clock import (
    CLOCK_STATE_CLASSES,
    CLOCK_STATE_LABELS,
    RULES,
    clock_state,
    deadline,
    end_of_day,
    extension_left,
    limits_for,
    paused_days_between,
)
from portal.matters.tables import CenterLimit
from portal.tables import Center

OFFICIAL = WorkingCalendar()
D = dt.date


def cn(*args) -> dt.datetime:
    """A China local time, as the aware UTC value the database holds."""
    return dt.datetime(*args, tzinfo=TZ_CN).astimezone(dt.timezone.utc)


def due_day(value: dt.datetime) -> dt.date:
    """The China date a due time falls on; also checks it is that day's last instant."""
    local = value.astimezone(TZ_CN)
    assert value.tzinfo is not None and value.utcoffset() == dt.timedelta(0)
    assert local.time() == dt.time.max
    return local.date()


def test_the_2026_calendar_is_the_one_these_tests_assume():
    holiday = [D(2026, 10, day) for day in range(1, 8)]
    assert not any(chinese_calendar.is_workday(day) for day in holiday)
    assert chinese_calendar.is_workday(D(2026, 9, 20)) and D(2026, 9, 20).weekday() == 6
    assert chinese_calendar.is_workday(D(2026, 10, 10)) and D(2026, 10, 10).weekday() == 5
    assert chinese_calendar.is_workday(D(2026, 5, 9)) and D(2026, 5, 9).weekday() == 5


# ------------------------------------------------------------------ the calendar


def test_working_calendar_follows_holidays_and_make_up_days():
    assert not OFFICIAL.is_workday(D(2026, 10, 1))
    assert OFFICIAL.is_workday(D(2026, 10, 10))  # Saturday, make-up working day
    assert not OFFICIAL.is_workday(D(2026, 10, 11))  # ordinary Sunday
    assert OFFICIAL.next_workday(D(2026, 9, 30)) == D(2026, 10, 8)
    assert OFFICIAL.next_workday(D(2026, 10, 8)) == D(2026, 10, 9)  # strictly after
    assert OFFICIAL.roll_forward(D(2026, 10, 8)) == D(2026, 10, 8)
    assert OFFICIAL.roll_forward(D(2026, 10, 3)) == D(2026, 10, 8)
    assert OFFICIAL.add_working_days(D(2026, 9, 29), 0) == D(2026, 9, 29)
    assert OFFICIAL.add_working_days(D(2026, 9, 29), 2) == D(2026, 10, 8)


def test_working_days_between_is_the_inverse_of_adding():
    start = D(2026, 9, 15)
    for n in range(0, 25):
        end = OFFICIAL.add_working_days(start, n)
        assert OFFICIAL.working_days_between(start, end) == n
    # (09-30, 10-09] holds 10-08 and 10-09; reversed arguments give the negative.
    assert OFFICIAL.working_days_between(D(2026, 9, 30), D(2026, 10, 9)) == 2
    assert OFFICIAL.working_days_between(D(2026, 10, 9), D(2026, 9, 30)) == -2
    assert OFFICIAL.working_days_between(D(2026, 10, 1), D(2026, 10, 7)) == 0


def test_overrides_win_and_the_calendar_is_immutable():
    source = {D(2026, 10, 12): False, D(2026, 10, 11): True}
    calendar = WorkingCalendar(source)
    source[D(2026, 10, 13)] = False  # changing the caller's dict afterwards changes nothing
    assert not calendar.is_workday(D(2026, 10, 12))
    assert calendar.is_workday(D(2026, 10, 11))
    assert calendar.is_workday(D(2026, 10, 13))
    with pytest.raises(TypeError):
        calendar.overrides[D(2026, 1, 1)] = True  # type: ignore[index]
    with pytest.raises(AttributeError):
        calendar.overrides = {}  # type: ignore[misc]


def test_a_year_the_package_does_not_know_falls_back_to_monday_to_friday():
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(2099, 1, 1))
    assert official_day(D(2099, 1, 1)) == (True, False, "")  # Thursday; New Year unknown, assumed working
    assert not OFFICIAL.is_workday(D(2099, 1, 3))  # Saturday
    assert OFFICIAL.add_working_days(D(2099, 1, 2), 1) == D(2099, 1, 5)


# --------------------------------------------------------------------- deadlines


def test_acceptance_is_due_at_the_end_of_the_15th_day_after_receipt():
    rule = RULES["acceptance"]
    assert (rule.days, rule.day_type) == (15, "calendar")
    due = deadline(cn(2026, 3, 2, 10, 0), rule, OFFICIAL)
    assert due == dt.datetime(2026, 3, 17, 15, 59, 59, 999999, tzinfo=dt.timezone.utc)
    assert due_day(due) == D(2026, 3, 17)


def test_the_start_day_is_the_china_date_not_the_utc_date():
    # 00:30 on 03-02 in China is still 03-01 in UTC; 23:30 on 03-02 is the same China day.
    assert due_day(deadline(cn(2026, 3, 2, 0, 30), RULES["acceptance"], OFFICIAL)) == D(2026, 3, 17)
    assert due_day(deadline(cn(2026, 3, 2, 23, 30), RULES["acceptance"], OFFICIAL)) == D(2026, 3, 17)


def test_a_calendar_deadline_on_a_day_off_rolls_to_the_next_working_day():
    acceptance = RULES["acceptance"]
    # 09-17 + 15 = 10-02, inside the National Day holiday: the period ends on 10-08.
    assert due_day(deadline(cn(2026, 9, 17, 9), acceptance, OFFICIAL)) == D(2026, 10, 8)
    # 03-06 + 15 = Saturday 03-21: Monday 03-23.
    assert due_day(deadline(cn(2026, 3, 6, 9), acceptance, OFFICIAL)) == D(2026, 3, 23)
    # 09-25 + 15 = Saturday 10-10, an official make-up working day: it stays.
    assert due_day(deadline(cn(2026, 9, 25, 9), acceptance, OFFICIAL)) == D(2026, 10, 10)


def test_reply_is_due_60_days_after_acceptance():
    handling = RULES["handling"]
    assert (handling.days, handling.day_type) == (60, "calendar")
    # 03-10 + 60 = Saturday 05-09, the Labour Day make-up working day.
    assert due_day(deadline(cn(2026, 3, 10, 16), handling, OFFICIAL)) == D(2026, 5, 9)
    # 03-17 + 60 = Saturday 05-16, a day off: Monday 05-18.
    assert due_day(deadline(cn(2026, 3, 17, 16), handling, OFFICIAL)) == D(2026, 5, 18)


def test_an_extension_adds_at_most_30_days():
    handling, accepted = RULES["handling"], cn(2026, 3, 10, 16)
    assert RULES["extension_max"].days == 30
    assert due_day(deadline(accepted, handling, OFFICIAL, extension_days=30)) == D(2026, 6, 8)
    with pytest.raises(ValueError):
        deadline(accepted, handling, OFFICIAL, extension_days=31)
    limits = dict(RULES)
    assert extension_left(limits, 0) == 30 and extension_left(limits, 20) == 10 and extension_left(limits, 30) == 0


def test_a_pause_stops_the_clock():
    handling, accepted = RULES["handling"], cn(2026, 3, 10, 16)
    paused = paused_days_between(cn(2026, 4, 1, 9), cn(2026, 4, 11, 15))
    assert paused == 10
    assert due_day(deadline(accepted, handling, OFFICIAL, paused_days=paused)) == D(2026, 5, 19)
    # Same day, or a resume that only crosses UTC midnight, costs nothing; never negative.
    assert paused_days_between(cn(2026, 4, 1, 7), cn(2026, 4, 1, 23, 59)) == 0
    assert paused_days_between(cn(2026, 4, 2, 9), cn(2026, 4, 1, 9)) == 0
    with pytest.raises(ValueError):
        deadline(accepted, handling, OFFICIAL, paused_days=-1)


def test_the_objection_counts_5_working_days_across_a_holiday_and_its_make_up_day():
    objection = RULES["objection"]
    assert (objection.days, objection.day_type) == (5, "working")
    # Received Tue 09-29: 09-30 (1), holiday 10-01..07, 10-08 (2), 10-09 (3), Sat 10-10 make-up (4),
    # Sun 10-11 off, 10-12 (5).
    assert due_day(deadline(cn(2026, 9, 29, 11), objection, OFFICIAL)) == D(2026, 10, 12)
    # Received Fri 09-18: Sat off, Sun 09-20 make-up (1), 09-21..24 (2..5).
    assert due_day(deadline(cn(2026, 9, 18, 11), objection, OFFICIAL)) == D(2026, 9, 24)
    # A pause adds working days to a working-day limit.
    assert due_day(deadline(cn(2026, 9, 29, 11), objection, OFFICIAL, paused_days=1)) == D(2026, 10, 13)


def test_overrides_change_the_result():
    objection, acceptance = RULES["objection"], RULES["acceptance"]
    no_make_up = WorkingCalendar({D(2026, 10, 10): False})
    assert due_day(deadline(cn(2026, 9, 29, 11), objection, no_make_up)) == D(2026, 10, 13)
    closed = WorkingCalendar({D(2026, 3, 17): False})
    assert due_day(deadline(cn(2026, 3, 2, 10), acceptance, closed)) == D(2026, 3, 18)
    opened = WorkingCalendar({D(2026, 10, 2): True})
    assert due_day(deadline(cn(2026, 9, 17, 9), acceptance, opened)) == D(2026, 10, 2)


def test_end_of_day_is_the_last_instant_of_the_china_date():
    assert end_of_day(D(2026, 3, 17)) == cn(2026, 3, 17, 23, 59, 59, 999999)
    assert end_of_day(D(2026, 3, 17)) + dt.timedelta(microseconds=1) == cn(2026, 3, 18)


# ----------------------------------------------------------------------- states


def test_clock_state():
    due = deadline(cn(2026, 3, 2, 10), RULES["acceptance"], OFFICIAL)  # end of 03-17
    assert clock_state(None, cn(2026, 3, 5)) == "none"
    assert clock_state(due, cn(2026, 3, 14, 23, 59)) == "on_track"
    assert clock_state(due, cn(2026, 3, 15, 0, 0)) == "due_soon"
    assert clock_state(due, cn(2026, 3, 17, 23, 59)) == "due_soon"
    assert clock_state(due, cn(2026, 3, 18, 0, 0)) == "overdue"
    assert clock_state(due, cn(2026, 3, 16, 12), due_soon_days=1) == "on_track"
    assert clock_state(due, cn(2026, 3, 17, 12), due_soon_days=1) == "due_soon"
    assert CLOCK_STATE_LABELS["on_track"] == "按期"
    assert CLOCK_STATE_LABELS["due_soon"] == "即将到期"
    assert CLOCK_STATE_LABELS["overdue"] == "已超期"
    assert set(CLOCK_STATE_CLASSES) == set(CLOCK_STATE_LABELS)


# ------------------------------------------------------- the database-backed parts


async def center_id(code: str) -> int:
    return (await Center.select(Center.id).where(Center.code == code).first())["id"]


async def test_load_calendar_sees_an_override_once_invalidated(app):
    invalidate_calendar()
    assert (await load_calendar()).is_workday(D(2026, 10, 12))
    assert await load_calendar() is await load_calendar()  # cached
    await set_override(AuditTrail(app.state.audit_key, SYSTEM), D(2026, 10, 12), False, "test")
    calendar = await load_calendar()
    assert not calendar.is_workday(D(2026, 10, 12))
    assert due_day(deadline(cn(2026, 9, 29, 11), RULES["objection"], calendar)) == D(2026, 10, 13)


async def test_a_centers_own_shorter_limit_applies_and_a_longer_row_never_lengthens(app):
    dmz, dzz = await center_id("GZQ-DMZ"), await center_id("GZQ-DZZ")
    await CenterLimit.insert(
        CenterLimit(center=dmz, rule="acceptance", days=7),
        CenterLimit(center=dmz, rule="handling", days=90),  # cannot be set through the page; clamped
        CenterLimit(center=dmz, rule="review_request", days=10),  # the petitioner's period: ignored
        CenterLimit(center=dmz, rule="extension_max", days=20),
    )
    limits = await limits_for(dmz)
    assert limits["acceptance"].days == 7 and limits["acceptance"].day_type == "calendar"
    assert limits["handling"].days == 60
    assert limits["review_request"].days == 30
    assert extension_left(limits, 0) == 20
    assert due_day(deadline(cn(2026, 3, 2, 10), limits["acceptance"], OFFICIAL)) == D(2026, 3, 9)
    assert (await limits_for(dzz)) == RULES
