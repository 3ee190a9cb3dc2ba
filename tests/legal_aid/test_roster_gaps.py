"""The gap warning (a working day ahead with no lawyer on duty, on the shared calendar) and the
module switched off at one center."""

from __future__ import annotations

import datetime as dt

from portal.db import raw
from portal.matters.calendar import load_calendar
from tests.conftest import html_text
from tests.core.bookings.helpers import citizen_client
from tests.legal_aid.helpers import center_id, china, job_context, lawyer_profile, staff_id, switch_module, travel_to

from plugins.legal_aid import roster
from plugins.legal_aid.jobs import ROSTER_GAPS, roster_gaps

D = dt.date


async def _gap_messages(username: str) -> list[dict]:
    return await raw("SELECT body, link FROM outbox WHERE channel = 'inapp' AND staff = {} AND kind = 'legal_aid_gap' "
                     "ORDER BY id", await staff_id(username))


async def test_gap_days_skip_holidays_and_count_make_up_days(app, client_factory):
    # Monday 2026-10-05 is in the National Day holiday (10-01..10-07); Saturday 10-10 is a make-up
    # working day. The watched window is today and the 7 days after it: 10-05..10-12.
    travel_to(china(2026, 10, 5, 7))
    dzz = await center_id("GZQ-DZZ")
    center = (await raw("SELECT id, code, name, path FROM center WHERE id = {}", dzz))[0]
    lawyer = await lawyer_profile("lawyer")
    from portal.audit.chain import SYSTEM, AuditTrail
    from portal.crypto import audit_key

    await roster.add_duty(AuditTrail(audit_key(app.state.settings), SYSTEM), center, lawyer,
                          [D(2026, 10, 8), D(2026, 10, 9)], list(roster.DEFAULT_HOURS), user_id=None)
    assert await roster.center_gaps(dzz, await load_calendar()) == [D(2026, 10, 10), D(2026, 10, 12)]

    first = await roster_gaps(job_context(app, ROSTER_GAPS))
    messages = await _gap_messages("dzz_admin")
    assert [m["body"] for m in messages] == [
        "党寨镇综治中心 10月10日（工作日）没有值班律师，请安排值班。",
        "党寨镇综治中心 10月12日（工作日）没有值班律师，请安排值班。",
    ]
    assert messages[0]["link"] == f"/m/legal_aid/roster?center_id={dzz}&week=2026-10-05"
    # Once per gap day: the next runs (later the same day, or from another process) send nothing more.
    again = await roster_gaps(job_context(app, ROSTER_GAPS))
    assert len(await _gap_messages("dzz_admin")) == 2 and again.messages == 0 and first.messages >= 2
    # Rostering the Saturday closes that gap; the next day the window moves on and 10-13 is new.
    await roster.add_duty(AuditTrail(audit_key(app.state.settings), SYSTEM), center, lawyer, [D(2026, 10, 10)],
                          list(roster.DEFAULT_HOURS), user_id=None)
    travel_to(china(2026, 10, 6, 7))
    await roster_gaps(job_context(app, ROSTER_GAPS))
    assert [m["body"][8:14] for m in await _gap_messages("dzz_admin")] == ["10月10日", "10月12日", "10月13日"]

    admin = await client_factory()
    await admin.login("dzz_admin")
    widget = html_text(await admin.get("/dashboard"))
    assert "今后无人值班的工作日： 2026-10-12 2026-10-13" in widget
    assert "2026-10-07" not in widget and "2026-10-11" not in widget and "2026-10-10" not in widget
    assert "今天没有值班律师" in widget  # 10-06 is a holiday: nobody rostered


async def test_the_widget_shows_todays_lawyer(app, client_factory):
    admin = await client_factory()
    await admin.login("gzq_admin")  # the demo rosters the district lawyer on the coming working days
    text = html_text(await admin.get("/dashboard"))
    if (await load_calendar()).is_workday(roster.today()):
        assert "今日值班： 值班律师（演示）（甘肃陇原律师事务所（演示））8:30–12:00" in text
    else:
        assert "今天没有值班律师" in text


async def test_module_off_at_one_center_removes_it_there_only(app, client_factory):
    await switch_module(app, "GZQ-DZZ", False)
    dzz, dmz = await center_id("GZQ-DZZ"), await center_id("GZQ-DMZ")
    township = await client_factory()
    await township.login("dzz_admin")
    for url in ("/m/legal_aid/roster", "/m/legal_aid/applications", "/m/legal_aid/applications/new", "/m/legal_aid/numbers",
                "/m/legal_aid/settings"):
        assert (await township.get(url)).status_code == 404, url
    assert "值班律师排班" not in html_text(await township.get("/dashboard"))
    other = await client_factory()
    await other.login("dmz_admin")
    assert (await other.get("/m/legal_aid/roster")).status_code == 200
    assert "值班律师排班" in html_text(await other.get("/dashboard"))
    public = await client_factory()
    assert (await public.get("/m/legal_aid/c/GZQ-DZZ")).status_code == 404
    assert (await public.get("/m/legal_aid/c/GZQ-DMZ")).status_code == 200
    assert "申请法律援助" not in html_text(await public.get("/c/GZQ-DZZ"))
    assert "申请法律援助" in html_text(await public.get("/c/GZQ-DMZ"))
    citizen = await citizen_client(client_factory, "13600000201")
    assert (await citizen.get(f"/book/{dzz}/legal_aid.consultation")).status_code == 404
    assert (await citizen.get(f"/book/{dmz}/legal_aid.consultation")).status_code == 200
    assert (await citizen.get("/m/legal_aid/c/GZQ-DZZ/apply")).status_code == 404
    # The district no longer lists or opens that center in its module pages.
    district = await client_factory()
    await district.login("gzq_admin")
    assert (await district.get(f"/m/legal_aid/roster?center_id={dzz}")).status_code == 404
    assert (await district.get(f"/m/legal_aid/roster?center_id={dmz}")).status_code == 200
    assert "党寨镇综治中心" not in html_text(await district.get("/m/legal_aid/numbers"))
    # The gap job passes it by.
    travel_to(china(2030, 1, 7, 7))
    await roster_gaps(job_context(app, ROSTER_GAPS))
    assert not await _gap_messages("dzz_admin") and await _gap_messages("dmz_admin")
