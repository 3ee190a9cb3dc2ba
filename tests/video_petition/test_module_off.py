"""With the module disabled for a center, its schedule, rooms and pages are gone there (404) and
nothing else changes."""

from __future__ import annotations

from portal.db import raw

from tests.video_petition.helpers import (
    CITIZEN_PHONE, center, citizen_client, make_session, me_of, post_json, switch,
)


async def test_switched_off_at_one_center_everything_there_is_404_and_elsewhere_unchanged(app, client_factory):
    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    dmz_window = await client_factory()
    await dmz_window.login("dmz_window")
    gzq_leader = await client_factory()
    await gzq_leader.login("leader")
    dmz = await make_session(app, citizen.citizen_id, host="dmz_admin", center_code="GZQ-DMZ", department="ZJJ")
    gzq = await make_session(app, citizen.citizen_id)
    dmz_admin = await client_factory()
    await dmz_admin.login("dmz_admin")
    officer = await client_factory()
    await officer.login("zjj_officer")  # a district department summoned by the township
    # Everything answers while the module is on.
    assert me_of(await dmz_admin.get(f"/m/video_petition/room/{dmz['id']}"))
    officer_me = me_of(await officer.get(f"/m/video_petition/room/{dmz['id']}"))
    assert (await dmz_window.get("/m/video_petition/")).status_code == 200
    assert (await citizen.get("/m/video_petition/c/GZQ-DMZ/request")).status_code == 200
    dmz_id = (await center("GZQ-DMZ"))["id"]
    assert (await citizen.get(f"/book/{dmz_id}/video_petition.leader")).status_code == 200
    public = await citizen.get("/c/GZQ-DMZ")
    assert "视频信访" in public.text

    await switch(app, "GZQ-DMZ", False)

    for client, url in [
        (dmz_admin, f"/m/video_petition/room/{dmz['id']}"),
        (dmz_admin, f"/m/video_petition/room/{dmz['id']}/events"),
        (officer, f"/m/video_petition/room/{dmz['id']}"),
        (dmz_window, "/m/video_petition/"),
        (dmz_window, f"/m/video_petition/sessions/{dmz['id']}"),
        (dmz_window, "/m/video_petition/device-check"),
        (citizen, "/m/video_petition/c/GZQ-DMZ/request"),
        (citizen, f"/m/video_petition/c/GZQ-DMZ/room/{dmz['id']}"),
        (citizen, f"/m/video_petition/c/GZQ-DMZ/sessions/{dmz['id']}"),
        (citizen, "/m/video_petition/c/GZQ-DMZ/device-check"),
        (citizen, f"/book/{dmz_id}/video_petition.leader"),
    ]:
        response = await client.get(url, headers={"accept": "text/event-stream"} if url.endswith("/events") else {})
        assert response.status_code == 404, url
    signal = await post_json(officer, f"/m/video_petition/room/{dmz['id']}/leave")
    assert signal.status_code == 404
    assert "视频信访" not in (await citizen.get("/c/GZQ-DMZ")).text
    # The module stays at the district: its rooms and pages answer as before.
    assert me_of(await gzq_leader.get(f"/m/video_petition/room/{gzq['id']}"))
    assert (await citizen.get(f"/m/video_petition/c/GZQ/room/{gzq['id']}")).status_code == 200
    assert (await gzq_leader.get("/m/video_petition/")).status_code == 200
    assert "视频信访" in (await citizen.get("/c/GZQ")).text
    # Nothing else changes at the township: its matters, its other modules.
    assert (await dmz_window.get("/matters")).status_code == 200
    assert (await dmz_window.get(f"/matters/{dmz['matter']}")).status_code == 200
    assert (await dmz_window.get("/m/checkin/")).status_code == 200
    # The records stay; switching back on brings the room back with the same seats.
    assert (await raw("SELECT state FROM video_petition_participant WHERE id = {}", officer_me))[0]["state"] == "waiting"
    await switch(app, "GZQ-DMZ", True)
    assert me_of(await officer.get(f"/m/video_petition/room/{dmz['id']}")) == officer_me
