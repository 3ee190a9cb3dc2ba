"""The room: waiting room, host rights across reloads, admit/send back/remove, the 6 cap,
signalling only between admitted participants, and the event stream."""

from __future__ import annotations

import json

import pytest

from portal.db import raw

from tests.video_petition.helpers import (
    CITIZEN_PHONE, OTHER_PHONE, RoomStream, citizen_client, make_session, me_of, participant, post_json,
)


async def _room(app, client_factory):
    """The leader hosts; the session's citizen waits."""
    leader = await client_factory()
    await leader.login("leader")
    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    session = await make_session(app, citizen.citizen_id)
    sid = session["id"]
    host_me = me_of(await leader.get(f"/m/video_petition/room/{sid}"))
    citizen_me = me_of(await citizen.get(f"/m/video_petition/c/GZQ/room/{sid}"))
    return session, leader, citizen, host_me, citizen_me


async def test_the_citizen_waits_the_host_admits_and_signals_flow_only_between_admitted(app, client_factory):
    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    sid = session["id"]
    assert (await participant(host_me))["kind"] == "host" and (await participant(host_me))["state"] == "admitted"
    assert (await participant(citizen_me))["state"] == "waiting"
    base = f"/m/video_petition/c/GZQ/room/{sid}"
    # Waiting: no signalling either way.
    offer = {"to": host_me, "kind": "offer", "payload": {"sdp": "v=0"}}
    assert (await post_json(citizen, f"{base}/signal", offer)).status_code == 409
    to_citizen = {"to": citizen_me, "kind": "offer", "payload": {"sdp": "v=0"}}
    assert (await post_json(leader, f"/m/video_petition/room/{sid}/signal", to_citizen)).status_code == 409
    # The citizen cannot admit anyone, not even themselves.
    assert (await post_json(citizen, f"{base}/admit", {"participant": citizen_me})).status_code == 403
    assert (await participant(citizen_me))["state"] == "waiting"
    admit = await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})
    assert admit.status_code == 204
    assert (await participant(citizen_me))["state"] == "admitted"
    assert (await post_json(leader, f"/m/video_petition/room/{sid}/signal", to_citizen)).status_code == 204
    assert (await post_json(citizen, f"{base}/signal", offer)).status_code == 204
    bad = await post_json(citizen, f"{base}/signal", {"to": host_me, "kind": "hack", "payload": {}})
    assert bad.status_code == 400
    rows = await raw("SELECT sender, recipient, kind FROM video_petition_signal WHERE session = {} AND kind = 'offer'", sid)
    assert {(r["sender"], r["recipient"]) for r in rows} == {(host_me, citizen_me), (citizen_me, host_me)}


async def test_the_host_keeps_host_rights_after_a_reload(app, client_factory):
    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    sid = session["id"]
    await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})
    # The host's page is reloaded mid-call (a second tab, a dropped connection…).
    assert me_of(await leader.get(f"/m/video_petition/room/{sid}")) == host_me
    host = await participant(host_me)
    assert host["kind"] == "host" and host["state"] == "admitted"
    # The citizen's browser is told to rebuild its connection to the host.
    bye = await raw("SELECT payload FROM video_petition_signal WHERE session = {} AND kind = 'bye' AND recipient = {}",
                    sid, citizen_me)
    assert json.loads(bye[-1]["payload"]) == {"reason": "rejoin"}
    # …and still sends the citizen back to the waiting room.
    back = await post_json(leader, f"/m/video_petition/room/{sid}/send_back", {"participant": citizen_me})
    assert back.status_code == 204
    assert (await participant(citizen_me))["state"] == "waiting"
    # Even after the host left the room and came back.
    assert (await leader.submit(f"/m/video_petition/room/{sid}/leave")).status_code == 204
    assert (await participant(host_me))["state"] == "left"
    assert me_of(await leader.get(f"/m/video_petition/room/{sid}")) == host_me
    assert (await participant(host_me))["state"] == "admitted"
    assert (await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})).status_code == 204


async def test_a_citizen_cannot_open_another_session_room(app, client_factory):
    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    other_citizen = await citizen_client(client_factory, OTHER_PHONE)
    other = await make_session(app, other_citizen.citizen_id)
    assert (await citizen.get(f"/m/video_petition/c/GZQ/room/{other['id']}")).status_code == 404
    assert (await post_json(citizen, f"/m/video_petition/c/GZQ/room/{other['id']}/admit",
                            {"participant": citizen_me})).status_code == 404
    # Not under another center's code either, nor a session not approved yet.
    assert (await citizen.get(f"/m/video_petition/c/GZQ-DMZ/room/{session['id']}")).status_code == 404
    pending = await make_session(app, citizen.citizen_id, status="requested")
    assert (await citizen.get(f"/m/video_petition/c/GZQ/room/{pending['id']}")).status_code == 404
    assert (await citizen.get("/m/video_petition/c/GZQ/room/999999")).status_code == 404


async def test_staff_outside_the_session_get_404_and_a_seated_non_host_403(app, client_factory):
    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    sid = session["id"]
    outsider = await client_factory()
    await outsider.login("dmz_window")  # another center's window staff
    assert (await outsider.get(f"/m/video_petition/room/{sid}")).status_code == 404
    assert (await post_json(outsider, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})).status_code == 404
    window = await client_factory()
    await window.login("gzq_window")  # the center's window staff joins, and waits
    window_me = me_of(await window.get(f"/m/video_petition/room/{sid}"))
    assert (await participant(window_me))["state"] == "waiting"
    assert (await post_json(window, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})).status_code == 403
    # A participant id of another session (or a forged one) is not found.
    other = await make_session(app, None)
    other_host = me_of(await leader.get(f"/m/video_petition/room/{other['id']}"))
    assert (await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": other_host})).status_code == 404
    forged = await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": 999999})
    assert forged.status_code == 404


async def _login(client_factory, username):
    client = await client_factory()
    await client.login(username)
    return client


async def test_at_most_six_are_admitted(app, client_factory):
    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    sid = session["id"]
    seats = [citizen_me]
    for username in ("gzq_window", "gzq_admin"):
        client = await _login(client_factory, username)
        seats.append(me_of(await client.get(f"/m/video_petition/room/{sid}")))
    # Three more citizens seated as representatives.
    for phone in ("13800138301", "13800138302", "13800138303"):
        rep = await citizen_client(client_factory, phone)
        await raw("INSERT INTO video_petition_participant (session, kind, citizen, display_name, state, consent_recording, "
                  "updated_at) VALUES ({}, 'citizen', {}, '代表', 'left', false, CURRENT_TIMESTAMP)", sid, rep.citizen_id)
        seats.append(me_of(await rep.get(f"/m/video_petition/c/GZQ/room/{sid}")))
    assert len(seats) == 6
    for seat in seats[:5]:
        assert (await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": seat})).status_code == 204
    seventh = await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": seats[5]})
    assert seventh.status_code == 409 and "6" in seventh.json()["error"]
    assert (await participant(seats[5]))["state"] == "waiting"
    # Sending one back frees a place.
    await post_json(leader, f"/m/video_petition/room/{sid}/send_back", {"participant": seats[1]})
    assert (await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": seats[5]})).status_code == 204


async def test_removed_stays_out_and_the_others_get_bye(app, client_factory):
    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    sid = session["id"]
    await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})
    # A form post (no JavaScript) works too and comes back to the room.
    removed = await leader.submit(f"/m/video_petition/room/{sid}/remove", {"participant": str(citizen_me)})
    assert removed.status_code == 303 and removed.headers["location"] == f"/m/video_petition/room/{sid}"
    bye = await raw("SELECT sender, recipient, payload FROM video_petition_signal WHERE session = {} AND kind = 'bye'", sid)
    assert (citizen_me, host_me, '{"reason": "removed"}') in {(b["sender"], b["recipient"], b["payload"]) for b in bye}
    assert me_of(await citizen.get(f"/m/video_petition/c/GZQ/room/{sid}")) == citizen_me
    assert (await participant(citizen_me))["state"] == "removed"
    again = await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})
    assert again.status_code == 409


async def test_only_someone_in_the_waiting_room_can_be_admitted(app, client_factory):
    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    sid = session["id"]
    assert (await citizen.submit(f"/m/video_petition/c/GZQ/room/{sid}/leave")).status_code == 204
    gone = await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})
    assert gone.status_code == 409 and "不在等候室" in gone.json()["error"]
    assert (await participant(citizen_me))["state"] == "left"
    # Coming back puts them in the waiting room again.
    assert me_of(await citizen.get(f"/m/video_petition/c/GZQ/room/{sid}")) == citizen_me
    assert (await participant(citizen_me))["state"] == "waiting"
    assert (await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})).status_code == 204
    # Admitting twice is harmless.
    assert (await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})).status_code == 204


async def test_the_stream_tells_each_side_its_state_and_carries_signals(app, client_factory):
    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    sid = session["id"]
    assert (await citizen.get(f"/m/video_petition/c/GZQ/room/{sid}/events")).status_code == 406
    async with RoomStream(app, citizen, f"/m/video_petition/c/GZQ/room/{sid}/events") as stream:
        assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
        first = await stream.next_of("state")
        assert first["data"]["me"] == citizen_me and first["data"]["my_state"] == "waiting"
        assert first["data"]["host"] == host_me
        assert {p["id"] for p in first["data"]["participants"]} == {host_me, citizen_me}
        await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})
        admitted = await stream.next_of("state")
        assert admitted["data"]["my_state"] == "admitted"
        await post_json(leader, f"/m/video_petition/room/{sid}/signal",
                        {"to": citizen_me, "kind": "offer", "payload": {"type": "offer", "sdp": "v=0"}})
        offer = await stream.next_of("signal")
        assert offer["data"] == {"from": host_me, "kind": "offer", "payload": {"type": "offer", "sdp": "v=0"}}
        last_id = int(offer["id"])
        await post_json(leader, f"/m/video_petition/room/{sid}/send_back", {"participant": citizen_me})
        back = await stream.next_of("state")
        assert back["data"]["my_state"] == "waiting"
    # Reconnecting with Last-Event-ID resumes after the offer: the ICE sent meanwhile arrives.
    await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})
    await post_json(leader, f"/m/video_petition/room/{sid}/signal", {"to": citizen_me, "kind": "ice", "payload": {"c": 1}})
    async with RoomStream(app, citizen, f"/m/video_petition/c/GZQ/room/{sid}/events",
                          headers={"last-event-id": str(last_id)}) as stream:
        ice = await stream.next_of("signal")
        assert ice["data"]["kind"] == "ice" and int(ice["id"]) > last_id


async def test_a_summoned_department_admitted_to_the_call_has_checked_in(app, client_factory):
    leader = await _login(client_factory, "leader")
    session = await make_session(app, None, department="ZJJ")
    sid = session["id"]
    me_of(await leader.get(f"/m/video_petition/room/{sid}"))
    officer = await _login(client_factory, "zjj_officer")
    officer_me = me_of(await officer.get(f"/m/video_petition/room/{sid}"))
    seat = await participant(officer_me)
    assert seat["kind"] == "department" and seat["checked_in_at"] is None
    # An officer of a department that was not summoned is not let in.
    assert (await (await _login(client_factory, "gafj_officer")).get(f"/m/video_petition/room/{sid}")).status_code == 404
    await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": officer_me})
    first = (await participant(officer_me))["checked_in_at"]
    assert first is not None
    notes = await raw("SELECT note FROM matter_event WHERE matter = {} AND kind = 'note'", session["matter"])
    assert [n for n in notes if "视为报到" in n["note"] and "住建" in n["note"]]
    # Sent back and admitted again: still one check-in, at the first time.
    await post_json(leader, f"/m/video_petition/room/{sid}/send_back", {"participant": officer_me})
    await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": officer_me})
    assert (await participant(officer_me))["checked_in_at"] == first
    notes = await raw("SELECT note FROM matter_event WHERE matter = {} AND kind = 'note'", session["matter"])
    assert len([n for n in notes if "视为报到" in n["note"]]) == 1


async def test_room_streams_end_when_the_app_stops_and_leaving_tells_the_others(app, client_factory):
    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    sid = session["id"]
    await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})
    async with RoomStream(app, leader, f"/m/video_petition/room/{sid}/events") as stream:
        assert (await stream.next_of("state"))["data"]["my_state"] == "admitted"
        # The citizen closes the page (sendBeacon with the form's token).
        assert (await citizen.submit(f"/m/video_petition/c/GZQ/room/{sid}/leave")).status_code == 204
        bye = await stream.next_of("signal")
        assert bye["data"] == {"from": citizen_me, "kind": "bye", "payload": {"reason": "left"}}
        state = await stream.next_of("state")
        assert citizen_me not in {p["id"] for p in state["data"]["participants"]}
        app.state.live.close_streams()
        assert await stream.next_of("state", within=3) is None
        assert stream.ended.is_set()


@pytest.mark.postgres_only
async def test_a_signal_committed_after_a_later_one_still_arrives(app, client_factory):
    """PostgreSQL hands out ids before commit: signal n may become visible after n+1 was sent."""
    import asyncio

    from portal.db import write_transaction
    from plugins.video_petition.rooms import signal

    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    sid = session["id"]
    await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})
    queued, release = asyncio.Event(), asyncio.Event()

    async def slow() -> int:
        async with write_transaction():
            ident = await signal(sid, host_me, citizen_me, "ice", {"n": "first"})
            queued.set()
            await release.wait()
        return ident

    async with RoomStream(app, citizen, f"/m/video_petition/c/GZQ/room/{sid}/events") as stream:
        await stream.next_of("state")
        slow_task = asyncio.create_task(slow())
        await queued.wait()
        await post_json(leader, f"/m/video_petition/room/{sid}/signal", {"to": citizen_me, "kind": "ice", "payload": {"n": "second"}})
        assert (await stream.next_of("signal"))["data"]["payload"] == {"n": "second"}
        await asyncio.sleep(1.0)  # the stream has polled past it meanwhile
        release.set()
        first_id = await slow_task
        late = await stream.next_of("signal")
        assert late["data"]["payload"] == {"n": "first"} and int(late["id"]) == first_id


async def test_the_citizen_stream_ends_when_the_citizen_signs_out(app, client_factory, monkeypatch):
    from plugins.video_petition import signalling

    monkeypatch.setattr(signalling, "SESSION_CHECK_SECONDS", 0.2)
    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    async with RoomStream(app, citizen, f"/m/video_petition/c/GZQ/room/{session['id']}/events") as stream:
        await stream.next_of("state")
        await raw("DELETE FROM citizen_session WHERE citizen = {}", citizen.citizen_id)
        assert (await stream.next_of("signed-out", within=6)) is not None
        assert await stream.next_event(within=2) is None and stream.ended.is_set()


async def test_a_signal_posted_to_another_app_process_reaches_the_stream(app, client_factory, settings):
    """Two app instances on one database (as two processes behind a proxy): the room is shared."""
    import httpx

    from portal.app import create_app
    from tests.conftest import Client

    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    sid = session["id"]
    await post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": citizen_me})
    other = create_app(settings)
    async with other.lifespan():
        second = Client(transport=httpx.ASGITransport(app=other, client=("198.51.100.8", 40000)),
                        base_url="http://testserver.local", headers={"user-agent": "pytest"})
        second.cookies = leader.cookies  # the same browser, its request served by the other process
        async with RoomStream(app, citizen, f"/m/video_petition/c/GZQ/room/{sid}/events") as stream:
            await stream.next_of("state")
            sent = await post_json(second, f"/m/video_petition/room/{sid}/signal",
                                   {"to": citizen_me, "kind": "answer", "payload": {"sdp": "v=0"}})
            assert sent.status_code == 204
            got = await stream.next_of("signal", within=6)
            assert got["data"] == {"from": host_me, "kind": "answer", "payload": {"sdp": "v=0"}}
        await second.aclose()


async def test_concurrent_admits_never_pass_six(app, client_factory):
    import asyncio

    session, leader, citizen, host_me, citizen_me = await _room(app, client_factory)
    sid = session["id"]
    seats = [citizen_me]
    for i in range(7):
        rep = await citizen_client(client_factory, f"1380013840{i}")
        await raw("INSERT INTO video_petition_participant (session, kind, citizen, display_name, state, consent_recording, "
                  "updated_at) VALUES ({}, 'citizen', {}, '代表', 'waiting', false, CURRENT_TIMESTAMP)", sid, rep.citizen_id)
        seats.append((await raw("SELECT id FROM video_petition_participant WHERE session = {} AND citizen = {}",
                                sid, rep.citizen_id))[0]["id"])
    answers = await asyncio.gather(*[post_json(leader, f"/m/video_petition/room/{sid}/admit", {"participant": seat})
                                     for seat in seats])
    assert sorted(a.status_code for a in answers) == [204] * 5 + [409] * 3
    admitted = await raw("SELECT count(*) AS n FROM video_petition_participant WHERE session = {} AND state = 'admitted'", sid)
    assert admitted[0]["n"] == 6
