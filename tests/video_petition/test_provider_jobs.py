"""The provider setting (built-in room or a Jitsi server with a JWT per participant) and the
retention job for recordings."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

from portal import clock
from portal.db import raw
from portal.jobs.runner import JobContext

from plugins.video_petition.jobs import RETENTION, retention
from plugins.video_petition.provider import ice_servers, room_for
from tests.video_petition.helpers import CITIZEN_PHONE, citizen_client, make_session, me_of, post_json

JITSI = {"PORTAL_VIDEO_PROVIDER": "jitsi", "PORTAL_VIDEO_JITSI_URL": "https://meet.gz.example.gov.cn",
         "PORTAL_VIDEO_JITSI_SECRET": "s3cret-shared-with-prosody", "PORTAL_VIDEO_JITSI_APP_ID": "whistle"}


def _decode(token: str, secret: str) -> dict:
    header, body, signature = token.split(".")
    expected = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)) == expected
    assert json.loads(base64.urlsafe_b64decode(header + "==="))["alg"] == "HS256"
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_jitsi_jwt_claims_and_moderator_for_the_host_only():
    session = {"id": 42}
    host = room_for(session, {"id": 7, "kind": "host", "display_name": "张区长"}, environ=JITSI)
    citizen = room_for(session, {"id": 8, "kind": "citizen", "display_name": "王大山"}, environ=JITSI)
    assert host.kind == "external" and host.url.startswith("https://meet.gz.example.gov.cn/whistle-42-")
    claims = _decode(host.token, JITSI["PORTAL_VIDEO_JITSI_SECRET"])
    now = int(clock.now().timestamp())
    assert claims["aud"] == "jitsi" and claims["iss"] == "whistle" and claims["sub"] == "meet.gz.example.gov.cn"
    assert claims["room"] == host.url.split("/")[-1].split("?")[0]
    assert now < claims["exp"] <= now + 240 * 60
    assert claims["context"]["user"] == {"id": "7", "name": "张区长", "moderator": True}
    other = _decode(citizen.token, JITSI["PORTAL_VIDEO_JITSI_SECRET"])
    assert other["room"] == claims["room"] and other["context"]["user"]["moderator"] is False
    # Another session, another room; a wrong secret does not verify.
    assert _decode(room_for({"id": 43}, {"id": 7, "kind": "host"}, environ=JITSI).token,
                   JITSI["PORTAL_VIDEO_JITSI_SECRET"])["room"] != claims["room"]
    try:
        _decode(host.token, "wrong")
    except AssertionError:
        pass
    else:
        raise AssertionError("a token must not verify with another secret")


def test_builtin_is_the_default_and_ice_servers_come_from_the_setting():
    info = room_for({"id": 5}, {"id": 1, "kind": "citizen"}, center_code="GZQ", environ={})
    assert info.kind == "builtin" and info.url == "/m/video_petition/c/GZQ/room/5"
    assert ice_servers({}) == []
    servers = [{"urls": "stun:stun.gz.example:3478"}, {"urls": ["turn:turn.gz.example"], "username": "u", "credential": "c"}]
    assert ice_servers({"PORTAL_VIDEO_ICE_SERVERS": json.dumps(servers)}) == servers
    assert ice_servers({"PORTAL_VIDEO_ICE_SERVERS": "not json"}) == []


async def test_the_room_page_carries_the_ice_servers_or_the_jitsi_link(app, client_factory, monkeypatch):
    leader = await client_factory()
    await leader.login("leader")
    session = await make_session(app, None)
    monkeypatch.setenv("PORTAL_VIDEO_ICE_SERVERS", json.dumps([{"urls": "stun:stun.gz.example:3478"}]))
    page = await leader.get(f"/m/video_petition/room/{session['id']}")
    assert "stun:stun.gz.example:3478" in page.text and me_of(page)
    for name, value in JITSI.items():
        monkeypatch.setenv(name, value)
    external = await leader.get(f"/m/video_petition/room/{session['id']}")
    assert external.status_code == 200 and "https://meet.gz.example.gov.cn/whistle-" in external.text


async def test_retention_deletes_old_recordings_once_and_keeps_the_record(app, client_factory, settings, monkeypatch):
    leader = await client_factory()
    await leader.login("leader")
    citizen = await citizen_client(client_factory, CITIZEN_PHONE)
    session = await make_session(app, citizen.citizen_id)
    sid = session["id"]
    me_of(await leader.get(f"/m/video_petition/room/{sid}"))
    await post_json(leader, f"/m/video_petition/room/{sid}/recording/consent", {"agree": True})
    rec = (await post_json(leader, f"/m/video_petition/room/{sid}/recording/start")).json()["id"]
    await leader.post(f"/m/video_petition/recordings/{rec}/chunks/0", content=b"old-bytes",
                      headers={"x-csrftoken": await leader.csrf()})
    await post_json(leader, f"/m/video_petition/recordings/{rec}/finish", {"chunks": 1})
    path = settings.data_dir / "video_petition" / "recordings" / f"{rec}.webm"
    assert path.is_file()
    monkeypatch.setenv("PORTAL_VIDEO_RETENTION_DAYS", "30")
    plugin, _job = app.state.registry.jobs[RETENTION]

    def ctx(now):
        return JobContext(name=RETENTION, plugin=plugin, registry=app.state.registry, settings=settings, holder="test",
                          now=now, sms_senders=app.state.sms_senders)

    assert (await retention(ctx(clock.now() + dt.timedelta(days=29)))) == {"purged": 0}
    assert path.is_file()
    assert (await retention(ctx(clock.now() + dt.timedelta(days=31)))) == {"purged": 1}
    assert not path.exists()
    row = (await raw("SELECT state, sha256 FROM video_petition_recording WHERE id = {}", rec))[0]
    assert row["state"] == "purged" and row["sha256"]
    assert (await retention(ctx(clock.now() + dt.timedelta(days=40)))) == {"purged": 0}
    assert (await leader.get(f"/m/video_petition/recordings/{rec}/media")).status_code == 404
    # The signal log of an ended session goes a day after the end; a running one keeps its own.
    running = await make_session(app, None)
    me_of(await leader.get(f"/m/video_petition/room/{running['id']}"))
    await leader.submit(f"/m/video_petition/room/{sid}/end")
    assert await raw("SELECT 1 FROM video_petition_signal WHERE session = {}", sid)
    await retention(ctx(clock.now() + dt.timedelta(hours=2)))
    assert await raw("SELECT 1 FROM video_petition_signal WHERE session = {}", sid)
    await retention(ctx(clock.now() + dt.timedelta(days=2)))
    assert not await raw("SELECT 1 FROM video_petition_signal WHERE session = {}", sid)
    assert await raw("SELECT 1 FROM video_petition_signal WHERE session = {}", running["id"])


async def test_a_chunk_over_the_size_limit_is_refused(app, client_factory):
    from plugins.video_petition.recordings import MAX_CHUNK

    leader = await client_factory()
    await leader.login("leader")
    session = await make_session(app, None)
    sid = session["id"]
    me_of(await leader.get(f"/m/video_petition/room/{sid}"))
    await post_json(leader, f"/m/video_petition/room/{sid}/recording/consent", {"agree": True})
    rec = (await post_json(leader, f"/m/video_petition/room/{sid}/recording/start")).json()["id"]
    headers = {"x-csrftoken": await leader.csrf()}
    big = await leader.post(f"/m/video_petition/recordings/{rec}/chunks/0", content=b"x" * (MAX_CHUNK + 1), headers=headers)
    assert big.status_code == 413
    empty = await leader.post(f"/m/video_petition/recordings/{rec}/chunks/0", content=b"", headers=headers)
    assert empty.status_code == 400
    assert (await leader.get(f"/m/video_petition/recordings/{rec}/chunks")).json() == {"received": []}


class _BigBlueButton:
    """A deployment's own provider, named by PORTAL_VIDEO_PROVIDER=module:factory."""

    kind = "external"

    def __init__(self, environ):
        self.base = environ.get("BBB_URL", "https://bbb.example.gov.cn")

    def room_for(self, session, participant, *, center_code=""):
        from plugins.video_petition.provider import RoomInfo

        role = "moderator" if participant.get("kind") == "host" else "attendee"
        return RoomInfo("external", f"{self.base}/join?meeting=whistle-{session['id']}&role={role}")


def test_a_deployment_names_its_own_provider_by_dotted_path():
    from plugins.video_petition.provider import ProviderError, provider, room_for

    env = {"PORTAL_VIDEO_PROVIDER": f"{__name__}:_BigBlueButton", "BBB_URL": "https://bbb.test"}
    assert provider(env).kind == "external"
    host = room_for({"id": 7}, {"id": 1, "kind": "host"}, environ=env)
    citizen = room_for({"id": 7}, {"id": 2, "kind": "citizen"}, environ=env)
    assert host.url == "https://bbb.test/join?meeting=whistle-7&role=moderator"
    assert citizen.url.endswith("role=attendee")
    for bad in ("no.such.module:Provider", f"{__name__}:missing", f"{__name__}:ROOM_LESS"):
        try:
            provider({"PORTAL_VIDEO_PROVIDER": bad})
        except ProviderError as exc:
            assert "PORTAL_VIDEO_PROVIDER" in str(exc)
        else:
            raise AssertionError(f"{bad} was accepted")


ROOM_LESS = object()
