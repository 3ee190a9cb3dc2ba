"""A citizen submits online, follows the matter by code + phone digits, rates it and asks for a review."""

from __future__ import annotations

from portal.matters.codes import format_code
from portal.matters.tables import FollowUp, Matter, MatterAttachment, MatterDraft
from portal.tables import Center
from tests.conftest import html_text
from tests.core.citizens.helpers import sign_in
from tests.core.matters.helpers import act

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def _submit_online(citizen) -> dict:
    xxc = await Center.select(Center.id).where(Center.code == "GZQ-DMZ-XXC").first()
    steps = [
        ("center", {"center": str(xxc["id"])}),
        ("category", {"category": "neighbour"}),
        ("matter", {"summary": "邻居违建挡住采光", "request": "请求拆除违建", "facts": "去年起邻居加盖二层。"}),
        ("place", {"place": "新新村5组"}),
        ("people", {"petitioner_name": "李四", "petitioner_address": "新新村5组", "people_count": "1"}),
        ("consent", {"consent": "1"}),
    ]
    for step, data in steps:
        response = await citizen.submit(f"/submit/{step}", data)
        assert response.status_code == 303, (step, response.status_code, response.text[-2000:])
    upload = await citizen.post(
        "/submit/files/upload", files={"file": ("合同.pdf", PDF, "application/pdf")},
        data={"_csrf_token": await citizen.csrf()}, follow_redirects=False,
    )
    assert upload.status_code == 303
    check = await citizen.get("/submit/check")
    assert check.status_code == 200 and "邻居违建挡住采光" in check.text and "合同.pdf" in check.text
    key = check.text.split('name="_submission_key" value="')[1].split('"')[0]
    done = await citizen.submit("/submit/check", {"_submission_key": key})
    assert done.status_code == 303 and done.headers["location"].startswith("/submit/done/")
    again = await citizen.submit("/submit/check", {"_submission_key": key})  # double click
    assert again.status_code == 303 and again.headers["location"] == done.headers["location"]
    code = done.headers["location"].rsplit("/", 1)[1]
    return await Matter.select().where(Matter.code == code).first()


async def test_online_submission_tracking_rating_and_review(client_factory):
    citizen = await client_factory()
    await sign_in(citizen, "13900139000", next_url="/submit")
    m = await _submit_online(citizen)
    assert m["channel"] == "online" and m["petitioner_phone"] == "13900139000" and m["status"] == "registered"
    assert await Matter.count() == 1 and not await MatterDraft.count()
    assert await MatterAttachment.count().where(MatterAttachment.matter == m["id"]) == 1
    confirmation = await citizen.get(f"/submit/done/{m['code']}")
    assert format_code(m["code"]) in html_text(confirmation).replace("- ", "-")  # <wbr> lets it wrap on phones

    # Someone else follows it with the code and the last 4 digits; a wrong digit tells nothing more.
    stranger = await client_factory()
    wrong = await stranger.submit("/track", {"code": format_code(m["code"]).lower(), "last4": "0000"})
    assert wrong.status_code == 422
    unknown = await stranger.submit("/track", {"code": "2222-2222-222" + "2", "last4": "9000"})
    assert unknown.status_code == 422
    assert (await stranger.get(f"/track/{m['code']}")).status_code == 404
    right = await stranger.submit("/track", {"code": format_code(m["code"]), "last4": "9000"})
    assert right.status_code == 303
    page = await stranger.get(right.headers["location"])
    assert page.status_code == 200 and "邻居违建挡住采光" in page.text

    staff = await client_factory()
    await staff.login("xxc_window")
    await act(staff, m["id"], "accept")
    await act(staff, m["id"], "reply", outcome="explain", opinion="已协调双方，违建部分限期整改。", basis="《城乡规划法》")

    # Without signing in the stranger cannot rate; the owner rates once, 不满意 needs a reason.
    assert (await stranger.submit(f"/track/{m['code']}/rate", {"rating": "satisfied"})).status_code == 303
    assert not (await Matter.select(Matter.rating).where(Matter.id == m["id"]).first())["rating"]
    no_reason = await citizen.submit(f"/track/{m['code']}/rate", {"rating": "unsatisfied"})
    assert no_reason.status_code == 422
    rated = await citizen.submit(f"/track/{m['code']}/rate", {"rating": "unsatisfied", "reason": "整改没有落实"})
    assert rated.status_code == 303
    assert (await citizen.submit(f"/track/{m['code']}/rate", {"rating": "satisfied"})).status_code == 422
    assert await FollowUp.count().where(FollowUp.matter == m["id"]) == 1

    # Review goes to the township, one level up.
    review = await citizen.submit(f"/track/{m['code']}/review", {"reason": "不同意处理意见"})
    assert review.status_code == 303
    m = await Matter.select().where(Matter.id == m["id"]).first()
    dmz = await Center.select(Center.id).where(Center.code == "GZQ-DMZ").first()
    assert m["status"] == "review" and m["review_level"] == 1 and m["center"] == dmz["id"]
    # The village keeps read access to what it sent up, but can no longer act on it.
    assert (await staff.get(f"/matters/{m['id']}")).status_code == 200
    await act(staff, m["id"], "reply", expect=403, outcome="support", opinion="x", basis="y")


async def test_attachment_is_served_to_staff_in_scope_only(client_factory):
    citizen = await client_factory()
    await sign_in(citizen, "13900139000", next_url="/submit")
    m = await _submit_online(citizen)
    attachment = await MatterAttachment.select().where(MatterAttachment.matter == m["id"]).first()
    staff = await client_factory()
    await staff.login("dmz_window")
    download = await staff.get(f"/attachments/{attachment['id']}")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"].startswith("application/pdf")
    assert "attachment;" in download.headers["content-disposition"]
    other = await client_factory()
    await other.login("dzz_window")
    assert (await other.get(f"/attachments/{attachment['id']}")).status_code == 404


async def test_disguised_or_oversized_upload_is_refused_on_the_same_page(client_factory):
    citizen = await client_factory()
    await sign_in(citizen, "13900139000", next_url="/submit")
    token = await citizen.csrf()
    disguised = await citizen.post("/submit/files/upload", files={"file": ("照片.jpg", b"MZ\x90\x00 not an image", "image/jpeg")},
                                   data={"_csrf_token": token}, follow_redirects=False)
    assert disguised.status_code == 422 and "PDF" in disguised.text
    big = b"%PDF-" + b"0" * (5 * 1024 * 1024)
    oversized = await citizen.post("/submit/files/upload", files={"file": ("大.pdf", big, "application/pdf")},
                                   data={"_csrf_token": token}, follow_redirects=False)
    assert oversized.status_code == 422 and "5 MB" in oversized.text
    assert await MatterAttachment.count() == 0


async def test_draft_survives_a_new_session(client_factory):
    first = await client_factory()
    await sign_in(first, "13900139000", next_url="/submit")
    await first.submit("/submit/category", {"category": "family"})
    await first.submit("/submit/matter", {"summary": "赡养费纠纷", "request": "请求子女支付赡养费"})
    from portal import clock

    clock.travel(days=1)  # the session has long timed out
    try:
        expired = await first.get("/submit/matter", follow_redirects=False)
        assert expired.status_code == 303 and "/citizen/login" in expired.headers["location"]
        await sign_in(first, "13900139000", next_url="/submit")
        page = await first.get("/submit/matter")
        assert "赡养费纠纷" in page.text
        start = await first.get("/submit", follow_redirects=False)
        assert start.headers["location"] == "/submit/center"  # the first unanswered question
    finally:
        clock.reset()


async def test_every_question_page_answers(client_factory):
    citizen = await client_factory()
    await sign_in(citizen, "13900139000", next_url="/submit")
    for step in ("center", "category", "matter", "place", "people", "files", "consent"):
        assert (await citizen.get(f"/submit/{step}")).status_code == 200, step
