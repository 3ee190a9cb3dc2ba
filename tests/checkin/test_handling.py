"""Joint handling: minutes, tasks, results; the close (事不完、人不撤); withdrawal; rating once (评哨)."""

from __future__ import annotations

from portal.db import raw
from tests.checkin.helpers import blow, check_in_by_code, department_id, events, staff_id, summons, whistle
from tests.conftest import html_text
from tests.core.matters.helpers import act, register_at_window


async def _three(client_factory):
    staff = await client_factory()
    await staff.login("gzq_window")
    w = await blow(staff, ["ZJJ", "GAFJ", "SCJGJ"])
    officers = {}
    for code, username in (("ZJJ", "zjj_officer"), ("GAFJ", "gafj_officer"), ("SCJGJ", "scjgj_officer")):
        officers[code] = await client_factory()
        await officers[code].login(username)
    return staff, w, officers


async def test_the_whistle_closes_only_when_every_department_reported(app, client_factory):
    staff, w, officers = await _three(client_factory)
    url = f"/m/checkin/w/{w['id']}"
    assert (await check_in_by_code(officers["ZJJ"], w)).status_code == 303
    assert (await check_in_by_code(officers["GAFJ"], w)).status_code == 303
    # Minutes (several entries) and a task.
    for text in ("第一次会商：明确分工。", "第二次会商：约定完成时限。"):
        assert (await staff.submit(f"{url}/minutes", {"text": text})).status_code == 303
    assert len(await events(w["id"], "minutes")) == 2
    empty = await staff.submit(f"{url}/minutes", {"text": ""})
    assert empty.status_code == 422 and "请先填写会商纪要" in html_text(empty)
    zjj = str(await department_id("ZJJ"))
    assert (await staff.submit(f"{url}/task", {"department": zjj, "text": "负责违建认定"})).status_code == 303
    assert (await summons(w["id"], "ZJJ"))["task"] == "负责违建认定"
    forged = await staff.submit(f"{url}/task", {"department": str(await department_id("FY")), "text": "x"})
    assert forged.status_code == 422 and "请选择被召集的部门" in html_text(forged)
    # Results: two departments report themselves.
    assert (await officers["ZJJ"].submit(f"{url}/result", {"text": "已认定为违建"})).status_code == 303
    assert (await officers["GAFJ"].submit(f"{url}/result", {"text": "现场秩序已维护", "department": zjj})).status_code == 303
    assert (await summons(w["id"], "GAFJ"))["result"] == "现场秩序已维护"  # its own department, whatever the form said
    assert (await summons(w["id"], "ZJJ"))["result"] == "已认定为违建"
    # The close is refused while 区市场监管局 has not reported, and the page says who is missing.
    page = html_text(await staff.get(url))
    assert "尚未反馈：区市场监管局" in page
    refused = await staff.submit(f"{url}/close", {"note": "处置完毕"})
    assert refused.status_code == 422
    assert "区市场监管局" in html_text(refused) and "还有部门没有反馈处置结果" in html_text(refused)
    assert (await whistle(w["id"]))["status"] == "open"
    # The center enters the third result on the department's behalf (recorded as such).
    scjgj = str(await department_id("SCJGJ"))
    assert (await staff.submit(f"{url}/result", {"department": scjgj, "text": "商户已整改"})).status_code == 303
    row = await summons(w["id"], "SCJGJ")
    assert row["result_on_behalf"] and row["result_by"] == await staff_id("gzq_window")
    no_note = await staff.submit(f"{url}/close", {"note": ""})
    assert no_note.status_code == 422 and "请填写中心的确认意见" in html_text(no_note)
    assert (await staff.submit(f"{url}/close", {"note": "三部门均已反馈，事结人撤"})).status_code == 303
    closed = await whistle(w["id"])
    assert closed["status"] == "closed" and closed["closed_by"] == await staff_id("gzq_window")
    absent = await summons(w["id"], "SCJGJ")
    assert absent["absent"] and absent["late"]  # never checked in
    assert not (await summons(w["id"], "ZJJ"))["absent"]
    # Nothing changes a closed whistle any more.
    assert (await officers["ZJJ"].submit(f"{url}/result", {"text": "补充"})).status_code == 422
    assert (await staff.submit(f"{url}/close", {"note": "again"})).status_code == 422


async def test_rating_once_per_department_after_the_close(app, client_factory):
    staff, w, officers = await _three(client_factory)
    url = f"/m/checkin/w/{w['id']}"
    zjj = str(await department_id("ZJJ"))
    early = await staff.submit(f"{url}/rate", {"department": zjj, "timeliness": "5", "effectiveness": "4"})
    assert early.status_code == 422 and "办结后" in html_text(early)
    for code in ("ZJJ", "GAFJ", "SCJGJ"):
        department = str(await department_id(code))
        assert (await staff.submit(f"{url}/result", {"department": department, "text": "完成"})).status_code == 303
    assert (await staff.submit(f"{url}/close", {"note": "办结"})).status_code == 303
    page = await staff.get(url)
    assert 'name="timeliness"' in page.text and " checked" not in page.text.split('name="timeliness"', 1)[1][:50]
    missing = await staff.submit(f"{url}/rate", {"department": zjj, "timeliness": "5"})
    assert missing.status_code == 422 and "请为及时性和实效性各选择 1 至 5 分" in html_text(missing)
    out_of_range = await staff.submit(f"{url}/rate", {"department": zjj, "timeliness": "6", "effectiveness": "0"})
    assert out_of_range.status_code == 422
    done = await staff.submit(f"{url}/rate", {"department": zjj, "timeliness": "5", "effectiveness": "4", "note": "到场快"})
    assert done.status_code == 303
    row = await summons(w["id"], "ZJJ")
    assert (row["rating_timeliness"], row["rating_effectiveness"], row["rating_note"]) == (5, 4, "到场快")
    again = await staff.submit(f"{url}/rate", {"department": zjj, "timeliness": "1", "effectiveness": "1"})
    assert again.status_code == 422 and "已经评过" in html_text(again)
    assert (await summons(w["id"], "ZJJ"))["rating_timeliness"] == 5
    # Officers cannot rate.
    gafj = str(await department_id("GAFJ"))
    assert (await officers["GAFJ"].submit(f"{url}/rate", {"department": gafj, "timeliness": "5", "effectiveness": "5"})).status_code == 403


async def test_withdrawal_only_before_any_check_in(app, client_factory):
    staff, w, officers = await _three(client_factory)
    url = f"/m/checkin/w/{w['id']}"
    no_reason = await staff.submit(f"{url}/cancel", {"reason": ""})
    assert no_reason.status_code == 422 and "请说明收回的理由" in html_text(no_reason)
    assert (await check_in_by_code(officers["GAFJ"], w)).status_code == 303
    refused = await staff.submit(f"{url}/cancel", {"reason": "误发"})
    assert refused.status_code == 422 and "已有部门报到" in html_text(refused)
    other = await blow(staff, ["ZJJ"])
    assert (await staff.submit(f"/m/checkin/w/{other['id']}/cancel", {"reason": "选错了部门"})).status_code == 303
    assert (await whistle(other["id"]))["status"] == "cancelled"
    told = await raw("SELECT body FROM outbox WHERE kind = 'checkin_cancelled' AND staff = {}", await staff_id("zjj_officer"))
    assert len(told) == 1
    # A withdrawn whistle takes no check-in.
    response = await officers["ZJJ"].submit("/m/checkin/code", {"code": other["code"]})
    assert response.status_code == 422


async def test_the_whistle_page_shows_the_citizens_rating_of_its_matter(app, client_factory):
    staff = await client_factory()
    await staff.login("dmz_window")
    matter = await register_at_window(staff)
    w = await blow(staff, ["GAFJ"], url=f"/m/checkin/new?matter_id={matter['id']}", source="")
    await raw("UPDATE matter SET rating = 'basically', rating_reason = '处理较慢' WHERE id = {}", matter["id"])
    text = html_text(await staff.get(f"/m/checkin/w/{w['id']}"))
    assert "群众对事项的评价" in text and "基本满意：处理较慢" in text
    # Closing the whistle leaves a note on the matter's timeline; the matter itself goes on.
    assert (await staff.submit(f"/m/checkin/w/{w['id']}/result", {"department": str(await department_id("GAFJ")), "text": "已处置"})).status_code == 303
    assert (await staff.submit(f"/m/checkin/w/{w['id']}/close", {"note": "办结"})).status_code == 303
    notes = await raw("SELECT note FROM matter_event WHERE matter = {} AND kind = 'note' ORDER BY id", matter["id"])
    assert [n["note"][:4] for n in notes] == ["已吹哨召", "哨已办结"]
    await act(staff, matter["id"], "accept")  # the matter's own flow is untouched
