"""Admin pages: working calendar overrides (system admin) and a center's own time limits."""

from __future__ import annotations

import datetime as dt

from portal.clock import TZ_CN
from portal.i18n import gettext
from portal.matters.calendar import WorkingCalendar, invalidate_calendar, load_calendar
from portal.matters.clock import RULES, deadline, limits_for
from portal.matters.tables import CalendarDay, CenterLimit
from portal.tables import AuditLog, Center
from tests.conftest import html_text

D = dt.date


async def center_id(code: str) -> int:
    return (await Center.select(Center.id).where(Center.code == code).first())["id"]


async def audited(action: str, object_id: str) -> bool:
    return await AuditLog.exists().where((AuditLog.action == action) & (AuditLog.object_id == object_id))


# ------------------------------------------------------------------------ calendar


async def test_calendar_page_shows_the_official_holidays(client):
    await client.login("sysadmin")
    response = await client.get("/admin/calendar?year=2026")
    assert response.status_code == 200
    text = html_text(response)
    assert "2026-10-01" in text and "2026-10-10" in text and "国庆节" in text
    assert gettext("No overrides in this year: the official calendar applies.") in text
    assert '<label for="day">' in response.text and '<label for="workday">' in response.text
    assert '<label for="note">' in response.text
    unknown = await client.get("/admin/calendar?year=2099")
    assert unknown.status_code == 200
    assert (await client.get("/admin/calendar?year=abc")).status_code == 404


async def test_add_and_remove_an_override(client):
    await client.login("sysadmin")
    invalidate_calendar()
    assert (await load_calendar()).is_workday(D(2026, 10, 12))
    response = await client.submit("/admin/calendar", {"day": "２０２６年10月12日", "workday": "0", "note": "市政府通知", "year": "2026"})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/calendar?year=2026"
    row = await CalendarDay.select().where(CalendarDay.day == D(2026, 10, 12)).first()
    assert row["workday"] is False and row["note"] == "市政府通知"
    assert await audited("calendar_day.set", "2026-10-12")
    assert not (await load_calendar()).is_workday(D(2026, 10, 12))  # the page invalidated the cache

    page = html_text(await client.get("/admin/calendar?year=2026"))
    assert "2026-10-12" in page and "市政府通知" in page and gettext("Working day") in page

    # The same day again replaces the override instead of failing.
    response = await client.submit("/admin/calendar", {"day": "2026-10-12", "workday": "1", "note": ""})
    assert response.status_code == 303
    assert await CalendarDay.count().where(CalendarDay.day == D(2026, 10, 12)) == 1
    assert (await load_calendar()).is_workday(D(2026, 10, 12))

    response = await client.submit("/admin/calendar/remove", {"day": "2026-10-12"})
    assert response.status_code == 303
    assert not await CalendarDay.exists().where(CalendarDay.day == D(2026, 10, 12))
    assert await audited("calendar_day.removed", "2026-10-12")
    again = await client.submit("/admin/calendar/remove", {"day": "2026-10-12"})
    assert again.status_code == 303  # a second click is told, not treated as an error page


async def test_a_bad_date_is_explained_on_the_same_form_with_the_input_kept(client):
    await client.login("sysadmin")
    response = await client.submit("/admin/calendar", {"day": "2026-02-30", "workday": "0", "note": "笔误", "year": "2026"})
    assert response.status_code == 422
    text = html_text(response)
    assert gettext("Enter a real date between the years 2000 and 2099, for example 2026-10-09.") in text
    assert 'value="2026-02-30"' in response.text and 'value="笔误"' in response.text
    assert '<option value="0" selected>' in response.text
    assert 'aria-invalid="true"' in response.text

    response = await client.submit("/admin/calendar", {"day": "", "workday": ""})
    assert response.status_code == 422
    text = html_text(response)
    assert gettext("Enter the date, for example 2026-10-09.") in text
    assert gettext("Choose whether the day is a working day or a day off.") in text
    assert await CalendarDay.count() == 0


async def test_only_the_system_admin_keeps_the_calendar(client):
    await client.login("dmz_admin")
    assert (await client.get("/admin/calendar")).status_code == 403
    response = await client.submit("/admin/calendar", {"day": "2026-10-12", "workday": "0"})
    assert response.status_code == 403
    assert await CalendarDay.count() == 0


# -------------------------------------------------------------------------- limits


async def test_limits_page_lists_every_rule_with_its_statutory_default(client):
    await client.login("dmz_admin")
    response = await client.get("/admin/limits")
    assert response.status_code == 200
    text = html_text(response)
    assert "大满镇综治中心" in text
    for rule in RULES.values():
        assert rule.label in text
    for name, rule in RULES.items():
        if rule.adjustable:
            assert f'<label for="days-{name}">' in response.text
        else:
            assert f'name="rule" value="{name}"' not in response.text


async def test_a_center_sets_a_shorter_limit_and_resets_it(client):
    await client.login("dmz_admin")
    dmz = await center_id("GZQ-DMZ")
    response = await client.submit("/admin/limits", {"rule": "acceptance", "days": "10"})
    assert response.status_code == 303
    assert (await limits_for(dmz))["acceptance"].days == 10
    assert (await limits_for(await center_id("GZQ-DZZ")))["acceptance"].days == 15
    assert await audited("center_limit.set", "acceptance")
    assert 'value="10"' in (await client.get("/admin/limits")).text
    limits = await limits_for(dmz)
    received = dt.datetime(2026, 3, 2, 10, tzinfo=TZ_CN)
    assert deadline(received, limits["acceptance"], WorkingCalendar()).astimezone(TZ_CN).date() == D(2026, 3, 12)

    response = await client.submit("/admin/limits/reset", {"rule": "acceptance"})
    assert response.status_code == 303
    assert not await CenterLimit.exists().where(CenterLimit.center == dmz)
    assert (await limits_for(dmz))["acceptance"].days == 15
    assert await audited("center_limit.reset", "acceptance")

    # Setting the statutory value itself means "no own limit": no row is kept.
    await client.submit("/admin/limits", {"rule": "handling", "days": "60"})
    assert not await CenterLimit.exists().where(CenterLimit.center == dmz)


async def test_a_longer_or_invalid_limit_is_refused(client):
    await client.login("dmz_admin")
    response = await client.submit("/admin/limits", {"rule": "acceptance", "days": "16"})
    assert response.status_code == 422
    text = html_text(response)
    expected = gettext(
        "A center may shorten a statutory limit but never lengthen it: enter at most %(days)s days.", days=15
    )
    assert expected in text
    assert 'id="days-acceptance" name="days" value="16"' in response.text
    for typed in ("0", "abc", "-3", ""):
        assert (await client.submit("/admin/limits", {"rule": "objection", "days": typed})).status_code == 422
    assert not await CenterLimit.exists()
    # The petitioner's own periods and unknown rules are not editable at all.
    assert (await client.submit("/admin/limits", {"rule": "review_request", "days": "10"})).status_code == 404
    assert (await client.submit("/admin/limits", {"rule": "nonsense", "days": "10"})).status_code == 404
    assert not await CenterLimit.exists()


async def test_window_staff_cannot_set_limits(client):
    await client.login("dmz_window")
    assert (await client.get("/admin/limits")).status_code == 403
    assert (await client.submit("/admin/limits", {"rule": "acceptance", "days": "5"})).status_code == 403
    assert not await CenterLimit.exists()
