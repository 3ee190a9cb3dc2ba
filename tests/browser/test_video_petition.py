"""Video petition (视频信访) rooms in a real browser (issue 8, done-when 1, the browser half of 2 and 3).

Chromium with fake camera and microphone (``--use-fake-device-for-media-stream``, no permission
prompt) on 127.0.0.1, one browser context per person, no STUN/TURN (host candidates only):

* the citizen waits (「请稍候，主持人将请您进入」); the host (leader) admits; both
  RTCPeerConnections reach "connected" and each side receives the other's video; the host sends
  the citizen back to the waiting room: the citizen's camera and microphone tracks end and every
  peer connection its page made is closed; then a third page (区人社局's officer, summoned): a full
  mesh of three, every pair connected;
* the host's page is reloaded mid-call: still the host (admits and sends back after the reload),
  the connections come back; a citizen cannot admit anyone (403) nor open another session's room (404);
* recording with everyone's consent: the host's browser records and uploads chunks; one chunk
  request is cut off once (the retry completes it), the server assembles it, and the host plays it
  back from the session page's 播放 link; the citizen never gets the file, window staff get 404;
  the host's page reloaded mid-recording keeps the chunks that arrived as a recording, and
  结束接访 during a recording saves it before the page leaves;
* screen sharing replaces the camera's track on the open connection; 离开 tells the host;
* the device check shows the camera and a moving level meter; without JavaScript the room and the
  device check say video needs JavaScript and give the center's phone;
* axe (WCAG 2.2 AA), the Nu checker, text sizes and no sideways scrolling on a phone: the waiting
  room, the call view (host and citizen, normal and 长辈版), the consent dialog, the device check.

Sessions are inserted directly (approved, host, citizen, summoned department): the request and
approval pages are the server tests' business (tests/video_petition/).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.checks import AXE_OPTIONS, FACTS_JS, MIN_TEXT_PX
from tests.browser.conftest import BIN, CHROMIUM, CHROMIUM_ARGS, PHONE, ROOT, SERVER_ENV, _cli, open_guarded, sign_in, vnu
from tests.browser.test_matters import citizen_sign_in, new_phone

MODULE = "video_petition"
HOST, WINDOW, OFFICER = "leader", "gzq_window", "rsj_officer"
CENTER = "GZQ"  # 甘州区综治中心: the leader's, the window staff's and 区人社局's officer's center
FAKE_MEDIA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
CONNECT_MS = 20_000
WAITING_TEXT = "请稍候，主持人将请您进入"

pytestmark = pytest.mark.browser

_SETUP = """
import asyncio, json, sys
from portal import clock
from portal.db import bind_engine, make_engine, raw, write_transaction
from portal.settings import Settings

async def main(host, officer, phone):
    bind_engine(make_engine(Settings.from_env()))
    leader = (await raw("SELECT id, center FROM staff_user WHERE username = {}", host))[0]
    department = (await raw("SELECT department FROM staff_user WHERE username = {}", officer))[0]["department"]
    found = await raw("SELECT id FROM citizen WHERE phone = {}", phone)
    if not found:  # someone who never signed in here
        found = await raw("INSERT INTO citizen (phone, created_at) VALUES ({}, {}) RETURNING id", phone, clock.now())
    citizen = found[0]["id"]
    code = (await raw("SELECT code FROM center WHERE id = {}", leader["center"]))[0]["code"]
    now = clock.now()
    async with write_transaction():
        rows = await raw(
            "INSERT INTO video_petition_session (center, service, citizen, name, phone, description, preferred, "
            "status, host, department, scheduled_at, id_checked_by, id_checked_at, id_check_method, decided_by, "
            "decided_at, decision_reason, recording_requested, created_at, version) VALUES ({}, 'leader', {}, "
            "'张三', {}, '测试视频接访', '', 'approved', {}, {}, {}, {}, {}, 'id_card', {}, {}, '', false, {}, 1) "
            "RETURNING id",
            leader["center"], citizen, phone, leader["id"], department, now, leader["id"], now, leader["id"], now, now)
    print(json.dumps({"session": rows[0]["id"], "center": code}))

asyncio.run(main(*sys.argv[1:]))
"""


def new_session(phone: str) -> tuple[int, str]:
    """An approved session at the leader's center: host ``leader``, the citizen of ``phone``,
    区人社局 summoned. Returns (session id, center code)."""
    result = subprocess.run(
        [sys.executable, "-c", _SETUP, HOST, OFFICER, phone],
        cwd=ROOT, env=SERVER_ENV, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return data["session"], data["center"]


@pytest.fixture(scope="module")
def media_browser(browser, server):
    """A second Chromium whose camera and microphone are fake devices, allowed without a prompt."""
    from portal.modules import BUNDLED_PLUGINS

    served = [*BUNDLED_PLUGINS, *SERVER_ENV.get("PORTAL_PLUGINS", "").split(",")]
    if f"plugins.{MODULE}" not in served:
        pytest.skip("the video petition module is not registered")
    listed = subprocess.run([str(BIN / "portal"), "modules", "list", "--center", CENTER], cwd=ROOT, env=SERVER_ENV,
                            capture_output=True, text=True, timeout=120)
    was_on = any(line.startswith(MODULE + "\t") and f"{CENTER}(on)" in line for line in listed.stdout.splitlines())
    if not was_on:
        _cli(SERVER_ENV, "modules", "enable", MODULE, "--center", CENTER)
    launched = browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + FAKE_MEDIA)
    yield launched
    launched.close()
    if not was_on:  # the other browser tests see the demo's switches as they were
        _cli(SERVER_ENV, "modules", "disable", MODULE, "--center", CENTER)


class People:
    """Pages of one test, each its own context (cookies), closed and guard-checked at the end."""

    def __init__(self, browser, server):
        self.browser, self.server = browser, server
        self.opened = []

    def page(self, **options):
        context, page, guard = open_guarded(self.browser, self.server, **options)
        self.opened.append((context, guard))
        return page

    def close(self):
        for context, _guard in self.opened:
            context.close()
        for _context, guard in self.opened:
            guard.check()


@pytest.fixture
def people(media_browser, server):
    crowd = People(media_browser, server)
    yield crowd
    crowd.close()


def staff_room(session_id: int) -> str:
    return f"/m/video_petition/room/{session_id}"


def citizen_room(center: str, session_id: int) -> str:
    return f"/m/video_petition/c/{center}/room/{session_id}"


def signed_in_citizen(people, window_page):
    """A citizen page signed in with a fresh phone (the code read from /admin/outbox by window staff)."""
    phone = new_phone()
    page = people.page()
    citizen_sign_in(page, window_page, phone, "/my/matters")
    return page, phone


def me(page) -> int:
    return int(page.locator("#video-room").get_attribute("data-me"))


def participant(page, pid: int):
    return page.locator(f"#room-participants li[data-participant='{pid}']")


def host_click(page, pid: int, label: str) -> None:
    button = participant(page, pid).locator("button", has_text=label)
    expect(button).to_have_count(1)
    button.click()


def connection_states(page) -> dict:
    return page.evaluate(
        "() => Object.fromEntries(Object.entries(window.__room.peers).map(([id, p]) => [id, p.pc.connectionState]))")


def wait_connected(page, others: list[int]) -> None:
    """Every peer in ``others`` connected and its video arriving (frames decoded, not just a state)."""
    page.wait_for_function(
        """(ids) => ids.every((id) => {
             const peer = window.__room && window.__room.peers[id];
             if (!peer || peer.pc.connectionState !== 'connected') return false;
             const video = document.querySelector(`#room-tiles [data-tile="${id}"] video`);
             return video && video.videoWidth > 0;
           })""",
        arg=others, timeout=CONNECT_MS,
    )


def media_stopped(page) -> bool:
    return page.evaluate(
        """() => window.__room.tracks.length > 0
             && window.__room.tracks.every((t) => t.readyState === 'ended')
             && window.__room.all.length > 0
             && window.__room.all.every((pc) => pc.connectionState === 'closed' && pc.signalingState === 'closed')
             && Object.keys(window.__room.peers).length === 0""")


def enter_as_host(people, session_id: int):
    page = people.page()
    sign_in(page, HOST)
    page.goto(staff_room(session_id))
    expect(page.locator("#room-call")).to_be_visible()
    expect(page.locator("#ctl-leave")).to_have_text("离开")
    return page


def waiting(page) -> None:
    expect(page.locator("#room-waiting")).to_be_visible()
    expect(page.locator("#room-waiting")).to_contain_text(WAITING_TEXT)
    expect(page.locator("#room-call")).to_be_hidden()


# ---------------------------------------------------------------------------------- tests


def test_citizen_waits_host_admits_connects_sends_back_then_three(people):
    window = people.page()
    sign_in(window, WINDOW)
    citizen, phone = signed_in_citizen(people, window)
    session_id, center = new_session(phone)

    host = enter_as_host(people, session_id)
    host_id = me(host)
    citizen.goto(citizen_room(center, session_id))
    waiting(citizen)
    citizen_id = me(citizen)
    expect(citizen.locator("#room-status")).to_have_text("您在等候室，请稍候，主持人将请您进入。")
    expect(citizen.get_by_role("alertdialog")).to_be_hidden()
    # Waiting: no camera, no connection; the host sees the citizen waiting with 请进入.
    assert citizen.evaluate("window.__room.tracks.length") == 0
    expect(participant(host, citizen_id)).to_contain_text("等候中")
    expect(participant(host, citizen_id).locator("button", has_text="请进入")).to_be_visible()
    # The citizen has no host controls.
    expect(citizen.locator("#room-participants button")).to_have_count(0)

    host_click(host, citizen_id, "请进入")
    expect(citizen.locator("#room-call")).to_be_visible()
    wait_connected(host, [citizen_id])
    wait_connected(citizen, [host_id])
    assert connection_states(host) == {str(citizen_id): "connected"}
    assert connection_states(citizen) == {str(host_id): "connected"}
    expect(citizen.locator("#room-tiles > li")).to_have_count(2)
    for label in ("静音", "关闭摄像头", "共享屏幕", "离开"):
        expect(citizen.locator("#room-call").get_by_role("button", name=label, exact=True)).to_be_visible()

    # Mute and camera buttons say what they will do next, and switch the tracks.
    citizen.get_by_role("button", name="静音", exact=True).click()
    expect(citizen.locator("#ctl-mute")).to_have_text("取消静音")
    assert citizen.evaluate("window.__room.local.getAudioTracks().every((t) => !t.enabled)")
    citizen.get_by_role("button", name="取消静音", exact=True).click()
    citizen.get_by_role("button", name="关闭摄像头", exact=True).click()
    expect(citizen.locator("#ctl-camera")).to_have_text("打开摄像头")
    assert citizen.evaluate("window.__room.local.getVideoTracks().every((t) => !t.enabled)")
    citizen.get_by_role("button", name="打开摄像头", exact=True).click()

    # Sent back: the citizen waits again, its media stops and its connections close.
    host_click(host, citizen_id, "移回等候室")
    waiting(citizen)
    citizen.wait_for_function("() => window.__room.tracks.every((t) => t.readyState === 'ended')")
    assert media_stopped(citizen), citizen.evaluate(
        "() => [window.__room.tracks.map((t) => t.readyState), window.__room.all.map((pc) => pc.connectionState)]")
    host.wait_for_function(f"() => !window.__room.peers[{citizen_id}]")
    expect(host.locator(f"#room-tiles [data-tile='{citizen_id}']")).to_have_count(0)
    expect(participant(host, citizen_id).locator("button", has_text="请进入")).to_be_visible()

    # Three: the citizen again and the summoned department's officer.
    host_click(host, citizen_id, "请进入")
    wait_connected(host, [citizen_id])
    officer = people.page()
    sign_in(officer, OFFICER)
    officer.goto(staff_room(session_id))
    waiting(officer)
    officer_id = me(officer)
    expect(participant(host, officer_id)).to_contain_text("区人社局")
    host_click(host, officer_id, "请进入")
    wait_connected(host, [citizen_id, officer_id])
    wait_connected(citizen, [host_id, officer_id])
    wait_connected(officer, [host_id, citizen_id])
    for page in (host, citizen, officer):
        expect(page.locator("#room-tiles > li")).to_have_count(3)
        assert set(connection_states(page).values()) == {"connected"}

    # The officer sent back: the other two keep their connection with each other.
    host_click(host, officer_id, "移回等候室")
    waiting(officer)
    officer.wait_for_function("() => window.__room.tracks.every((t) => t.readyState === 'ended')")
    assert media_stopped(officer)
    citizen.wait_for_function(f"() => !window.__room.peers[{officer_id}]")
    assert connection_states(citizen) == {str(host_id): "connected"}

    # Removed from the waiting room: told so, and not listed any more.
    host_click(host, officer_id, "移出")
    expect(officer.locator("#room-ended")).to_contain_text("您已被主持人移出本次视频接访")
    expect(officer.locator("#room-status")).to_have_text("您已被主持人移出本次视频接访。")
    expect(participant(host, officer_id)).to_have_count(0)


def test_host_reload_keeps_host_rights_and_citizen_has_none(people):
    window = people.page()
    sign_in(window, WINDOW)
    citizen, phone = signed_in_citizen(people, window)
    session_id, center = new_session(phone)
    other_id, _ = new_session(new_phone())  # someone else's session

    # The citizen is early: a lower participant id than the host's, so here the citizen's page
    # makes the offers, and the reloaded host's page is the one that asks for a new one.
    citizen.goto(citizen_room(center, session_id))
    waiting(citizen)
    citizen_id = me(citizen)
    host = enter_as_host(people, session_id)
    host_id = me(host)
    assert citizen_id < host_id
    host_click(host, citizen_id, "请进入")
    wait_connected(host, [citizen_id])
    wait_connected(citizen, [host_id])

    host.reload()
    expect(host.locator("#room-call")).to_be_visible()
    assert me(host) == host_id
    wait_connected(host, [citizen_id])
    wait_connected(citizen, [host_id])
    expect(participant(host, host_id)).to_contain_text("主持人")
    host_click(host, citizen_id, "移回等候室")
    waiting(citizen)
    host_click(host, citizen_id, "请进入")
    wait_connected(citizen, [host_id])

    # The citizen's page cannot act as host: admit / send back answer 403 and change nothing.
    for action in ("admit", "send_back", "remove"):
        status = citizen.evaluate(
            """async ([url, pid]) => (await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json',
                 'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content},
                 body: JSON.stringify({participant: pid})})).status""",
            [citizen_room(center, session_id) + "/" + action, host_id],
        )
        assert status == 403, (action, status)
    assert connection_states(citizen) == {str(host_id): "connected"}
    # Someone else's session, and one that does not exist: 404 for the page and its event stream.
    for sid in (other_id, 999_999):
        for suffix in ("", "/events"):
            status = citizen.evaluate("async (url) => (await fetch(url)).status", citizen_room(center, sid) + suffix)
            assert status == 404, (sid, suffix, status)
    response = citizen.goto(citizen_room(center, other_id))
    assert response.status == 404


def test_recording_with_consent_survives_a_cut_chunk_and_plays_for_staff_only(people):
    window = people.page()
    sign_in(window, WINDOW)
    citizen, phone = signed_in_citizen(people, window)
    session_id, center = new_session(phone)
    host = enter_as_host(people, session_id)
    host_id = me(host)
    citizen.goto(citizen_room(center, session_id))
    waiting(citizen)
    citizen_id = me(citizen)
    host_click(host, citizen_id, "请进入")
    wait_connected(host, [citizen_id])
    wait_connected(citizen, [host_id])

    cut = []

    def cut_once(route):
        if not cut:
            cut.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.fallback()

    host.context.route("**/m/video_petition/recordings/*/chunks/1", cut_once)

    host.get_by_role("button", name="开始录像", exact=True).click()
    # Nobody records before everyone has said yes on screen.
    for page in (host, citizen):
        dialog = page.get_by_role("alertdialog", name="是否同意录像")
        expect(dialog).to_be_visible()
    assert host.evaluate("window.__room.uploads.length") == 0
    expect(host.locator("#room-recording")).to_contain_text(re.compile(r"尚未同意：.*张三"))
    # The dialog takes the focus to its answer.
    expect(citizen.get_by_role("button", name="同意录像", exact=True)).to_be_focused()
    citizen.get_by_role("button", name="同意录像", exact=True).click()
    expect(citizen.get_by_role("alertdialog")).to_be_hidden()
    expect(host.locator("#room-recording")).not_to_contain_text("张三")
    expect(participant(host, citizen_id)).to_contain_text("已同意录像")
    host.wait_for_timeout(800)
    assert host.evaluate("window.__room.uploads.length") == 0  # the host has not agreed yet
    host.get_by_role("button", name="同意录像", exact=True).click()
    expect(host.locator("#room-recording")).to_have_text("正在录像。", timeout=10_000)
    expect(citizen.locator("#room-recording")).to_have_text("正在录像。")
    host.wait_for_function("() => window.__room.uploads[0] && window.__room.uploads[0].seq >= 3", timeout=15_000)
    host.get_by_role("button", name="停止录像", exact=True).click()
    expect(host.locator("#room-recording")).to_have_text("录像已保存。", timeout=30_000)
    assert cut, "no chunk request was cut off"
    upload = host.evaluate("({id: window.__room.uploads[0].id, seq: window.__room.uploads[0].seq, done: window.__room.uploads[0].done})")
    assert upload["done"] and upload["seq"] >= 3
    media_url = f"/m/video_petition/recordings/{upload['id']}/media"

    listed = host.evaluate(
        "async (url) => (await (await fetch(url)).json())", f"/m/video_petition/recordings/{upload['id']}/chunks")
    assert sorted(listed["received"]) == list(range(upload["seq"])), listed

    # The staff's session page links it; the host plays it back (the browser decodes its video).
    host.goto(f"/m/video_petition/sessions/{session_id}")
    expect(host.locator("main").get_by_role("link", name="播放")).to_have_attribute("href", media_url)
    host.evaluate(
        """(url) => new Promise((resolve, reject) => {
             const v = document.createElement('video');
             v.muted = true; v.id = 'playback'; v.src = url;
             v.addEventListener('loadeddata', () => resolve(true));
             v.addEventListener('error', () => reject(new Error('cannot play ' + (v.error && v.error.code))));
             document.body.appendChild(v);
           })""",
        media_url,
    )
    assert host.evaluate("document.getElementById('playback').videoWidth") > 0
    # It holds sound (both sides' microphones mixed) as well as pictures.
    host.evaluate("document.getElementById('playback').play()")
    host.wait_for_function(
        "() => { const v = document.getElementById('playback'); "
        "return v.currentTime > 1 && v.webkitAudioDecodedByteCount > 0 && v.webkitVideoDecodedByteCount > 0; }",
        timeout=15_000)
    # Not for the citizen (a staff URL: sent to sign in, never the file), nor window staff (404).
    answer = citizen.evaluate(
        "async (url) => { const r = await fetch(url, {redirect: 'manual'}); return [r.status, r.type]; }", media_url)
    assert answer == [0, "opaqueredirect"] or answer[0] == 404, answer
    assert window.evaluate("async (url) => (await fetch(url)).status", media_url) == 404


def test_device_check_preview_and_level(people):
    page = people.page()
    sign_in(page, WINDOW)
    page.goto("/m/video_petition/device-check")
    expect(page.locator("main")).to_contain_text("无法视频时请拨打 0936-8212000")
    page.get_by_role("button", name="开始检查", exact=True).click()
    page.wait_for_function("() => document.getElementById('device-video').videoWidth > 0", timeout=CONNECT_MS)
    expect(page.get_by_role("button", name="开始检查", exact=True)).to_be_hidden()
    expect(page.locator("#device-status")).to_have_text("摄像头和麦克风已打开。能看到画面、说话时音量条跳动，即可正常视频。")
    # The fake microphone beeps: the meter moves.
    page.wait_for_function("() => window.__deviceCheck.level > 0", timeout=CONNECT_MS)
    page.get_by_role("button", name="停止检查", exact=True).click()
    assert page.evaluate("document.getElementById('device-video').srcObject === null")
    expect(page.get_by_role("button", name="停止检查", exact=True)).to_be_hidden()
    expect(page.get_by_role("button", name="开始检查", exact=True)).to_be_visible()


def test_without_javascript_the_room_says_so_and_gives_the_phone(people):
    window = people.page()
    sign_in(window, WINDOW)
    citizen, phone = signed_in_citizen(people, window)
    session_id, center = new_session(phone)
    citizen_cookies = citizen.context.cookies()
    no_js = people.page(java_script_enabled=False)
    no_js.context.add_cookies(citizen_cookies)
    response = no_js.goto(citizen_room(center, session_id))
    assert response.status == 200
    text = no_js.locator("main").inner_text()
    assert "视频接访需要开启浏览器的 JavaScript" in text, text
    assert "无法开启或无法视频时，请拨打 0936-8212000" in text, text  # 甘州区综治中心's phone
    expect(no_js.locator("main .notice a[href='tel:0936-8212000']")).to_be_visible()
    expect(no_js.locator("#video-room")).to_be_hidden()
    # The device check, likewise: what it needs, and the phone.
    response = no_js.goto(f"/m/video_petition/c/{center}/device-check")
    assert response.status == 200
    text = no_js.locator("main").inner_text()
    assert "检查设备需要开启浏览器的 JavaScript" in text and "无法视频时请拨打 0936-8212000" in text, text
    expect(no_js.locator("#device-check")).to_be_hidden()


def test_room_and_device_check_pass_axe_and_the_nu_checker(people):
    window = people.page()
    sign_in(window, WINDOW)
    citizen, phone = signed_in_citizen(people, window)
    session_id, center = new_session(phone)
    host = enter_as_host(people, session_id)
    host_id = me(host)
    documents: list[tuple[str, str]] = []
    found: list[str] = []

    def check(page, label):
        for violation in Axe().run(page, options=AXE_OPTIONS).response["violations"]:
            targets = ", ".join(str(node["target"]) for node in violation["nodes"][:5])
            found.append(f"[{label}] {violation['id']} {violation['help']} — {targets}")
        documents.append((label, page.content()))
        # Text as large as the rest of the portal's (18px, 22px in 长辈版), no sideways scrolling on a phone.
        facts = page.evaluate(FACTS_JS)
        mode = "elder" if "elder" in facts["htmlClass"].split() else "normal"
        least = MIN_TEXT_PX[mode]
        found.extend(f"[{label}] {what} {px}px" for what, px in facts["text"] if px < least)
        size = page.viewport_size
        page.set_viewport_size(PHONE)
        if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
            found.append(f"[{label}] sideways scrolling on a phone")
        page.set_viewport_size(size)

    response = citizen.goto(citizen_room(center, session_id))
    documents.append(("citizen room as sent", response.text()))
    waiting(citizen)
    check(citizen, "waiting room")
    host_click(host, me(citizen), "请进入")
    wait_connected(citizen, [host_id])
    wait_connected(host, [me(citizen)])
    check(citizen, "call, citizen")
    check(host, "call, host")
    host.get_by_role("button", name="开始录像", exact=True).click()
    expect(citizen.get_by_role("alertdialog")).to_be_visible()
    check(citizen, "consent dialog")
    citizen.goto(f"/elder?on=1&next={citizen_room(center, session_id)}")
    expect(citizen.locator("html")).to_have_class("elder")
    wait_connected(citizen, [host_id])
    check(citizen, "call, citizen, elder")
    response = window.goto("/m/video_petition/device-check")
    documents.append(("device check as sent", response.text()))
    window.get_by_role("button", name="开始检查", exact=True).click()
    window.wait_for_function("() => document.getElementById('device-video').videoWidth > 0", timeout=CONNECT_MS)
    check(window, "device check")
    # 长辈版: the same pages at the larger size.
    window.goto("/elder?on=1&next=/m/video_petition/device-check")
    expect(window.locator("html")).to_have_class("elder")
    check(window, "device check, elder")

    assert not found, "\n".join(found)
    errors = vnu([html for _label, html in documents])
    report = [f"{label}: {problems}" for (label, _html), problems in zip(documents, errors) if problems]
    assert not report, "\n".join(report)


def test_screen_share_replaces_the_camera_and_leave_tells_the_others(people):
    window = people.page()
    sign_in(window, WINDOW)
    citizen, phone = signed_in_citizen(people, window)
    session_id, center = new_session(phone)
    host = enter_as_host(people, session_id)
    host_id = me(host)
    citizen.goto(citizen_room(center, session_id))
    waiting(citizen)
    citizen_id = me(citizen)
    host_click(host, citizen_id, "请进入")
    wait_connected(host, [citizen_id])
    wait_connected(citizen, [host_id])

    sent_video = f"() => window.__room.peers[{host_id}].pc.getSenders().map((s) => s.track).find((t) => t && t.kind === 'video')"
    camera = citizen.evaluate(f"() => ({sent_video})().id")
    citizen.get_by_role("button", name="共享屏幕", exact=True).click()
    expect(citizen.locator("#ctl-share")).to_have_text("停止共享")
    # The evidence on screen goes to the host over the same connection (no renegotiation).
    citizen.wait_for_function(f"() => ({sent_video})().id !== '{camera}'")
    assert citizen.evaluate("window.__room.room.screen.getVideoTracks()[0].id") == citizen.evaluate(f"() => ({sent_video})().id")
    citizen.get_by_role("button", name="停止共享", exact=True).click()
    citizen.wait_for_function(f"() => ({sent_video})().id === '{camera}'")
    assert connection_states(host) == {str(citizen_id): "connected"}

    citizen.get_by_role("button", name="离开", exact=True).click()
    expect(citizen.locator("#room-ended")).to_contain_text("您已离开本次视频接访")
    assert media_stopped(citizen)
    host.wait_for_function(f"() => !window.__room.peers[{citizen_id}]")
    expect(participant(host, citizen_id)).to_have_count(0)
    expect(host.locator("#room-status")).to_contain_text("离开了视频接访")
    # Coming back, the citizen waits again.
    citizen.goto(citizen_room(center, session_id))
    waiting(citizen)


def test_host_reload_while_recording_keeps_what_was_uploaded_and_ending_saves_the_rest(people):
    window = people.page()
    sign_in(window, WINDOW)
    citizen, phone = signed_in_citizen(people, window)
    session_id, center = new_session(phone)
    host = enter_as_host(people, session_id)
    host_id = me(host)
    citizen.goto(citizen_room(center, session_id))
    waiting(citizen)
    host_click(host, me(citizen), "请进入")
    wait_connected(citizen, [host_id])

    host.get_by_role("button", name="开始录像", exact=True).click()
    citizen.get_by_role("button", name="同意录像", exact=True).click()
    host.get_by_role("button", name="同意录像", exact=True).click()
    host.wait_for_function("() => window.__room.uploads[0] && window.__room.uploads[0].seq >= 2", timeout=15_000)
    first = host.evaluate("window.__room.uploads[0].id")
    host.wait_for_timeout(500)  # the chunks in flight arrive

    # Reloaded mid-recording: the chunks that arrived are saved as a recording of their own.
    host.reload()
    expect(host.locator("#room-status")).to_have_text("页面刷新前的录像已保存。如需继续录像，请重新开始录像。", timeout=15_000)
    expect(host.locator("#ctl-record")).to_have_text("开始录像")

    # Recording again (consent given stays given), then 结束接访 while it runs: it is saved first.
    host.get_by_role("button", name="开始录像", exact=True).click()
    host.wait_for_function("() => window.__room.uploads[0] && window.__room.uploads[0].seq >= 2", timeout=15_000)
    second = host.evaluate("window.__room.uploads[0].id")
    assert second != first
    with host.expect_navigation():
        host.get_by_role("button", name="结束接访", exact=True).click()
    expect(citizen.locator("#room-ended")).to_contain_text("本次视频接访已结束")
    citizen.wait_for_function("() => window.__room.tracks.every((t) => t.readyState === 'ended')")
    assert media_stopped(citizen)

    host.goto(f"/m/video_petition/sessions/{session_id}")
    links = host.locator("main").get_by_role("link", name="播放")
    expect(links).to_have_count(2)
    hrefs = sorted(links.nth(i).get_attribute("href") for i in range(2))
    assert hrefs == sorted(f"/m/video_petition/recordings/{rec}/media" for rec in (first, second))
    for href in hrefs:
        size = host.evaluate("async (url) => (await (await fetch(url)).arrayBuffer()).byteLength", href)
        assert size > 1000, (href, size)
