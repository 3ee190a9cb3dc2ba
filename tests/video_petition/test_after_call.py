"""After the call: minutes signed with an SMS code appear on the matter; a recording made with
everyone's consent survives an interrupted upload and plays back for authorised staff only."""

from __future__ import annotations

import hashlib
import re

from portal.db import raw

from tests.video_petition.helpers import (
    CITIZEN_PHONE, citizen_client, make_session, me_of, post_json,
)


async def _live_call(app, client_factory):
    leader = await client_factory()
    await leader.login("leader")
    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    session = await make_session(app, citizen.citizen_id)
    sid = session["id"]
    host_me = me_of(await leader.get(f"/m/video_petition/room/{sid}"))
    citizen_me = me_of(await citizen.get(f"/m/video_petition/c/GZQ/room/{sid}"))
    await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})
    return session, leader, citizen, host_me, citizen_me


async def _recording(leader, citizen, sid) -> int:
    """Both sides agree to the recording and the host starts it; returns the recording's id."""
    room = f"/m/video_petition/room/{sid}"
    await post_json(leader, f"{room}/recording/consent", {"agree": True})
    await post_json(citizen, f"/m/video_petition/c/GZQ/room/{sid}/recording/consent", {"agree": True})
    return (await post_json(leader, f"{room}/recording/start")).json()["id"]


async def _latest_code() -> str:
    rows = await raw("SELECT body FROM outbox WHERE phone = {} AND kind = 'video_petition_minutes_code' ORDER BY id DESC",
                     CITIZEN_PHONE)
    return re.search(r"(?<!\d)(\d{6})(?!\d)", rows[0]["body"]).group(1)


async def test_minutes_signed_with_an_sms_code_appear_on_the_matter(app, client_factory):
    session, leader, citizen, host_me, citizen_me = await _live_call(app, client_factory)
    sid = session["id"]
    form = await leader.get(f"/m/video_petition/sessions/{sid}/minutes")
    assert form.status_code == 200 and "反映的问题" in form.text  # the template
    text = "反映的问题：工地拖欠工资三个月。\n答复意见：人社局三日内约谈施工方。"
    too_short = await leader.submit(f"/m/video_petition/sessions/{sid}/minutes", {"body": "短", "version": "0"})
    assert too_short.status_code == 422 and "笔录内容太短" in too_short.text
    saved = await leader.submit(f"/m/video_petition/sessions/{sid}/minutes", {"body": text, "version": "0"})
    assert saved.status_code == 303
    base = f"/m/video_petition/c/GZQ/sessions/{sid}"
    # Before the end the citizen has nothing to sign.
    early = await citizen.submit(f"{base}/minutes/code")
    assert early.status_code == 409
    assert (await post_json(citizen, f"/m/video_petition/c/GZQ/room/{sid}/end")).status_code == 403
    ended = await leader.submit(f"/m/video_petition/room/{sid}/end")
    assert ended.status_code == 303
    page = await citizen.get(base)
    assert page.status_code == 200 and "人社局三日内约谈施工方" in page.text
    assert (await citizen.submit(f"{base}/minutes/code")).status_code == 303
    code = await _latest_code()
    wrong = await citizen.submit(f"{base}/minutes/sign", {"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 422 and "验证码不正确" in wrong.text
    signed = await citizen.submit(f"{base}/minutes/sign", {"code": code})
    assert signed.status_code == 303
    minutes = (await raw("SELECT * FROM video_petition_minutes WHERE session = {}", sid))[0]
    assert minutes["signed_at"] is not None
    assert minutes["signed_text_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    notes = await raw("SELECT note FROM matter_event WHERE matter = {} AND kind = 'note' ORDER BY id", session["matter"])
    assert any("短信验证码签名确认" in n["note"] and "人社局三日内约谈施工方" in n["note"] for n in notes)
    assert any("视频接访已结束" in n["note"] for n in notes)
    # Staff see it on the matter's page; the signed text no longer changes.
    matter_page = await leader.get(f"/matters/{session['matter']}")
    assert "人社局三日内约谈施工方" in matter_page.text
    late = await leader.submit(f"/m/video_petition/sessions/{sid}/minutes", {"body": text + "改动", "version": str(minutes["version"])})
    assert late.status_code == 409
    # Signing again (double submit) is harmless.
    again = await citizen.submit(f"{base}/minutes/sign", {"code": code})
    assert again.status_code == 303
    assert len([n for n in await raw("SELECT note FROM matter_event WHERE matter = {} AND kind = 'note'", session["matter"])
                if "短信验证码签名确认" in n["note"]]) == 1


async def test_an_expired_or_overused_code_is_refused(app, client_factory):
    from portal import clock

    session, leader, citizen, host_me, citizen_me = await _live_call(app, client_factory)
    sid = session["id"]
    await leader.submit(f"/m/video_petition/sessions/{sid}/minutes", {"body": "接访记录：已答复，信访人表示理解。", "version": "0"})
    await leader.submit(f"/m/video_petition/room/{sid}/end")
    base = f"/m/video_petition/c/GZQ/sessions/{sid}"
    await citizen.submit(f"{base}/minutes/code")
    code = await _latest_code()
    clock.travel(minutes=11)
    expired = await citizen.submit(f"{base}/minutes/sign", {"code": code})
    assert expired.status_code == 422 and "验证码已失效" in expired.text
    clock.reset()
    await citizen.submit(f"{base}/minutes/code")
    for _ in range(5):
        await citizen.submit(f"{base}/minutes/sign", {"code": "12345a"})
        await citizen.submit(f"{base}/minutes/sign", {"code": "999999" if await _latest_code() != "999999" else "888888"})
    blocked = await citizen.submit(f"{base}/minutes/sign", {"code": await _latest_code()})
    assert blocked.status_code == 422 and "错误次数过多" in blocked.text
    assert (await raw("SELECT signed_at FROM video_petition_minutes WHERE session = {}", sid))[0]["signed_at"] is None


async def test_recording_needs_everyones_consent_and_survives_an_interrupted_upload(app, client_factory, settings):
    session, leader, citizen, host_me, citizen_me = await _live_call(app, client_factory)
    sid = session["id"]
    room = f"/m/video_petition/room/{sid}"
    assert (await post_json(leader, f"{room}/recording/request")).status_code == 204
    refused = await post_json(leader, f"{room}/recording/start")
    assert refused.status_code == 409 and set(refused.json()["missing"]) == {host_me, citizen_me}
    assert (await post_json(citizen, f"/m/video_petition/c/GZQ/room/{sid}/recording/start")).status_code == 403
    await post_json(leader, f"{room}/recording/consent", {"agree": True})
    still = await post_json(leader, f"{room}/recording/start")
    assert still.status_code == 409 and still.json()["missing"] == [citizen_me]
    assert (await post_json(citizen, f"/m/video_petition/c/GZQ/room/{sid}/recording/consent", {"agree": True})).status_code == 204
    started = await post_json(leader, f"{room}/recording/start")
    assert started.status_code == 201
    rec = started.json()["id"]
    chunks = [bytes([i]) * (1000 + i) for i in range(4)]
    headers = {"x-csrftoken": await leader.csrf(), "content-type": "application/octet-stream"}
    up = f"/m/video_petition/recordings/{rec}/chunks"
    # Chunk 2 is lost on the way (the connection dropped); 1 is sent twice.
    for seq in (0, 1, 1, 3):
        response = await leader.post(f"{up}/{seq}", content=chunks[seq], headers=headers)
        assert response.status_code == 204, response.text
    # The same seq with other bytes is a conflict, not an overwrite.
    assert (await leader.post(f"{up}/1", content=b"other", headers=headers)).status_code == 409
    early = await post_json(leader, f"/m/video_petition/recordings/{rec}/finish", {"chunks": 4})
    assert early.status_code == 409 and early.json()["missing"] == [2]
    assert (await leader.get(up)).json() == {"received": [0, 1, 3]}
    # The client retries what is missing, then finishes (twice: the second is harmless).
    assert (await leader.post(f"{up}/2", content=chunks[2], headers=headers)).status_code == 204
    # A part whose file was lost on the server is asked for again rather than failing the assembly.
    parts = settings.data_dir / "video_petition" / "recordings" / str(rec)
    next(parts.glob("000003-*.part")).unlink()
    lost = await post_json(leader, f"/m/video_petition/recordings/{rec}/finish", {"chunks": 4})
    assert lost.status_code == 409 and lost.json()["missing"] == [3]
    assert (await leader.post(f"{up}/3", content=chunks[3], headers=headers)).status_code == 204
    done = await post_json(leader, f"/m/video_petition/recordings/{rec}/finish", {"chunks": 4})
    assert done.status_code == 200
    whole = b"".join(chunks)
    assert done.json() == {"sha256": hashlib.sha256(whole).hexdigest(), "size": len(whole)}
    assert (await post_json(leader, f"/m/video_petition/recordings/{rec}/finish", {"chunks": 4})).json()["size"] == len(whole)
    row = (await raw("SELECT * FROM video_petition_recording WHERE id = {}", rec))[0]
    stored = settings.data_dir / "video_petition" / "recordings" / row["path"]
    assert stored.read_bytes() == whole and "static" not in str(stored)
    assert not list((settings.data_dir / "video_petition" / "recordings" / str(rec)).glob("*.part"))
    notes = await raw("SELECT note FROM matter_event WHERE matter = {} AND kind = 'note'", session["matter"])
    assert any("录像已保存" in n["note"] for n in notes)
    # No more chunks once saved; another member cannot upload at all.
    assert (await leader.post(f"{up}/4", content=b"x", headers=headers)).status_code == 409
    window = await client_factory()
    await window.login("gzq_window")
    assert (await window.post(f"{up}/5", content=b"x", headers={"x-csrftoken": await window.csrf()})).status_code == 404


async def test_playback_only_for_authorised_staff_and_every_playback_audited(app, client_factory):
    session, leader, citizen, host_me, citizen_me = await _live_call(app, client_factory)
    sid = session["id"]
    rec = await _recording(leader, citizen, sid)
    media = f"/m/video_petition/recordings/{rec}/media"
    headers = {"x-csrftoken": await leader.csrf()}
    assert (await leader.get(media)).status_code == 404  # not finished yet
    await leader.post(f"/m/video_petition/recordings/{rec}/chunks/0", content=b"webm-bytes", headers=headers)
    await post_json(leader, f"/m/video_petition/recordings/{rec}/finish", {"chunks": 1})
    before = (await raw("SELECT count(*) AS n FROM audit_log WHERE action = 'video_petition.recording_played'"))[0]["n"]
    played = await leader.get(media)
    assert played.status_code == 200 and played.content == b"webm-bytes"
    admin = await client_factory()
    await admin.login("gzq_admin")
    assert (await admin.get(media)).status_code == 200
    after = (await raw("SELECT count(*) AS n FROM audit_log WHERE action = 'video_petition.recording_played'"))[0]["n"]
    assert after == before + 2
    # Window staff in the room, another center's admin, a department officer: 404. A citizen never gets the bytes.
    for username in ("gzq_window", "dmz_admin", "rsj_officer"):
        other = await client_factory()
        await other.login(username)
        assert (await other.get(media)).status_code == 404, username
    refused = await citizen.get(media, follow_redirects=False)
    assert refused.status_code != 200 and b"webm-bytes" not in refused.content
    assert (await citizen.get(f"/m/video_petition/c/GZQ/recordings/{rec}/media")).status_code == 404
    assert (await raw("SELECT count(*) AS n FROM audit_log WHERE action = 'video_petition.recording_played'"))[0]["n"] == after


async def test_two_signatures_at_once_make_one_note(app, client_factory):
    import asyncio

    session, leader, citizen, host_me, citizen_me = await _live_call(app, client_factory)
    sid = session["id"]
    await leader.submit(f"/m/video_petition/sessions/{sid}/minutes", {"body": "接访记录：已答复，信访人表示理解。", "version": "0"})
    await leader.submit(f"/m/video_petition/room/{sid}/end")
    base = f"/m/video_petition/c/GZQ/sessions/{sid}"
    await citizen.submit(f"{base}/minutes/code")
    code = await _latest_code()
    answers = await asyncio.gather(*[citizen.submit(f"{base}/minutes/sign", {"code": code}) for _ in range(3)])
    assert [a.status_code for a in answers] == [303, 303, 303]
    notes = await raw("SELECT note FROM matter_event WHERE matter = {} AND kind = 'note'", session["matter"])
    assert len([n for n in notes if "短信验证码签名确认" in n["note"]]) == 1


async def test_signed_minutes_name_the_recording_they_go_with(app, client_factory):
    session, leader, citizen, host_me, citizen_me = await _live_call(app, client_factory)
    sid = session["id"]
    room = f"/m/video_petition/room/{sid}"
    rec = await _recording(leader, citizen, sid)
    await leader.post(f"/m/video_petition/recordings/{rec}/chunks/0", content=b"webm", headers={"x-csrftoken": await leader.csrf()})
    sha = (await post_json(leader, f"/m/video_petition/recordings/{rec}/finish", {"chunks": 1})).json()["sha256"]
    await leader.submit(f"/m/video_petition/sessions/{sid}/minutes", {"body": "接访记录：已答复，信访人表示理解。", "version": "0"})
    await leader.submit(f"{room}/end")
    base = f"/m/video_petition/c/GZQ/sessions/{sid}"
    await citizen.submit(f"{base}/minutes/code")
    assert (await citizen.submit(f"{base}/minutes/sign", {"code": await _latest_code()})).status_code == 303
    notes = await raw("SELECT note FROM matter_event WHERE matter = {} AND kind = 'note'", session["matter"])
    signed = [n["note"] for n in notes if "短信验证码签名确认" in n["note"]]
    assert len(signed) == 1 and f"对应录像 {rec}（SHA-256 {sha[:16]}…）" in signed[0]
