"""The legal-aid numbers per center and month: counts by the month of each event, on-time rates
with their counts, no personal details."""

from __future__ import annotations

from tests.conftest import html_text
from tests.legal_aid.helpers import china, job_context, register_at_window, travel_to

from plugins.legal_aid.jobs import DEEMED_WITHDRAWN, deemed_withdrawn


async def _staff(client_factory, username):
    client = await client_factory()
    await client.login(username)
    return client


async def test_numbers_count_by_month_with_rates_and_no_personal_details(app, client_factory):
    travel_to(china(2026, 9, 25, 10))
    clerk = await _staff(client_factory, "dmz_window")
    withdrawn = await register_at_window(clerk, phone="13912340011", applicant_name="甲某某")
    granted = await register_at_window(clerk, phone="13912340012", applicant_name="乙某某")
    refused = await register_at_window(clerk, phone="13912340013", applicant_name="丙某某")
    await register_at_window(clerk, phone="13912340014", applicant_name="丁某某")
    await clerk.submit(f"/m/legal_aid/applications/{withdrawn['id']}/materials", {"items": ["identity"]})
    await clerk.submit(f"/m/legal_aid/applications/{granted['id']}/decide", {"outcome": "grant"})
    await clerk.submit(f"/m/legal_aid/applications/{granted['id']}/assign", {"external": "甘州区法律援助中心 李某"})
    travel_to(china(2026, 10, 11, 8))
    await deemed_withdrawn(job_context(app, DEEMED_WITHDRAWN))
    travel_to(china(2026, 10, 20, 10))  # the refusal comes after its limit (10-12)
    clerk = await _staff(client_factory, "dmz_window")
    assert (await clerk.submit(f"/m/legal_aid/applications/{refused['id']}/decide",
                               {"outcome": "refuse", "reasons": "经审查，申请事项不属于法律援助范围。"})).status_code == 303

    leader = await _staff(client_factory, "leader")
    september = await leader.get("/m/legal_aid/numbers?month=2026-09")
    assert september.status_code == 200
    text = html_text(september)
    assert "大满镇综治中心 0 0 4 1 0 0 100.0%（1 / 1） 100.0%（1 / 1）" in text
    assert "合计 0 0 4 1 0 0 100.0%（1 / 1） 100.0%（1 / 1）" in text
    october = html_text(await leader.get("/m/legal_aid/numbers?month=2026-10"))
    assert "大满镇综治中心 0 0 0 0 1 1 0.0%（0 / 1） —（0 / 0）" in october
    assert "统计口径" in october
    for page in (text, october):
        assert not any(name in page for name in ("甲某某", "乙某某", "丙某某", "丁某某", "1391234001"))
    bad = await leader.get("/m/legal_aid/numbers?month=2026-13")
    assert "请按 2026-11 的格式输入月份" in html_text(bad) and 'value="2026-13"' in bad.text
    assert (await clerk.get("/m/legal_aid/numbers")).status_code == 403
