/* Video petition: the built-in room (room.html) and the pre-call device check (device_check.html).
   Plain JS, no third-party code. The server (plugins/video_petition/signalling.py) is the source of
   truth for who is in the room: it streams `state` and `signal` events (SSE); this script only
   follows them. Mesh: one RTCPeerConnection per admitted pair, the lower participant id offers.
   Tests read window.__room (peers, every connection and track this page ever made). */
(function () {
  "use strict";

  var TEXT = {
    connecting: "正在连接…",
    waiting: "您在等候室，请稍候，主持人将请您进入。",
    admitted: "您已进入视频接访。",
    removed: "您已被主持人移出本次视频接访。",
    left: "您已离开本次视频接访。",
    ended: "本次视频接访已结束。",
    signedOut: "登录已失效，请重新登录后再进入。",
    sentBack: "主持人已将您移回等候室，请稍候。",
    noMedia: "无法使用摄像头或麦克风，其他参与者将看不到或听不到您。",
    lost: "连接中断，正在重新连接…",
    mute: "静音", unmute: "取消静音",
    cameraOff: "关闭摄像头", cameraOn: "打开摄像头",
    share: "共享屏幕", stopShare: "停止共享",
    admit: "请进入", sendBack: "移回等候室", remove: "移出",
    you: "（我）", host: "主持人", citizen: "群众", staff: "窗口工作人员", department: "部门",
    stateWaiting: "等候中", stateAdmitted: "已进入", stateLeft: "已离开", stateRemoved: "已移出",
    consented: "已同意录像",
    recStart: "开始录像", recStop: "停止录像",
    recWaiting: "正在等待全部参与者同意录像。",
    recMissing: "尚未同意：",
    recOn: "正在录像。",
    recUploading: "正在上传录像…",
    recDone: "录像已保存。",
    recSalvaged: "页面刷新前的录像已保存。如需继续录像，请重新开始录像。",
    recFailed: "录像上传未完成，请稍后重试。",
    refused: "操作未成功，请重试。",
    joined: "进入了视频接访", wentBack: "回到了等候室", gone: "离开了视频接访"
  };
  var CHUNK_MS = 2000;          // MediaRecorder timeslice: a lost upload costs at most this much
  var RETRY_MS = [500, 1000, 2000, 4000, 8000];

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function post(url, body, raw) {
    var headers = { "X-CSRFToken": csrf() };
    if (!raw) { headers["Content-Type"] = "application/json"; }
    else { headers["Content-Type"] = "application/octet-stream"; }
    return fetch(url, {
      method: "POST", credentials: "same-origin", headers: headers,
      body: raw ? body : JSON.stringify(body || {})
    });
  }

  function newId() { return Math.random().toString(36).slice(2) + Date.now().toString(36); }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // ------------------------------------------------------------------------------- the room

  function Room(root) {
    this.root = root;
    this.session = root.getAttribute("data-session");
    this.me = Number(root.getAttribute("data-me"));
    this.role = root.getAttribute("data-role");
    this.roomUrl = root.getAttribute("data-base");
    this.recordingsUrl = root.getAttribute("data-recordings");
    try { this.ice = JSON.parse(root.getAttribute("data-ice") || "[]"); } catch (e) { this.ice = []; }
    // participant id -> {pc, mine/theirs: random ids of the two ends of this connection (a page
    // reload or a restart makes new ones, so signals of a closed connection are told apart),
    // pending ICE, the received stream}
    this.peers = {};
    this.participants = {};
    this.myState = null;
    this.host = null;
    this.local = null;          // MediaStream while admitted
    this.mediaPromise = null;
    this.screen = null;
    this.muted = false;
    this.cameraOff = false;
    this.chain = Promise.resolve();   // state and signals are handled one at a time, in order
    this.sending = Promise.resolve();
    this.early = [];                  // signals that arrived before my own "admitted" state
    this.recording = { id: null, state: "off" };
    this.recorder = null;
    this.wantRecording = false;
    this.firstState = true;
    this.finished = false;
    this.exposed = { peers: this.peers, all: [], tracks: [], room: this, uploads: [] };
    window.__room = this.exposed;
  }

  Room.prototype.q = function (id) { return document.getElementById(id); };

  Room.prototype.say = function (text) {
    var status = this.q("room-status");
    if (status && status.textContent !== text) { status.textContent = text; }
  };

  Room.prototype.start = function () {
    var self = this;
    this.root.hidden = false;
    this.say(TEXT.connecting);
    this.bindControls();
    this.open();
    window.addEventListener("pagehide", function () {
      if (self.source) { self.source.close(); self.source = null; }
    });
  };

  Room.prototype.open = function () {
    var self = this;
    if (this.finished) { return; }
    var source = new EventSource(this.root.getAttribute("data-events"));
    this.source = source;
    source.addEventListener("state", function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      self.enqueue(function () { return self.onState(data); });
    });
    source.addEventListener("signal", function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      self.enqueue(function () { return self.onSignal(data); });
    });
    source.addEventListener("signed-out", function () {
      self.finished = true;
      source.close();
      self.source = null;
      self.teardown();
      self.say(TEXT.signedOut);
    });
    source.addEventListener("error", function () {
      if (self.finished) { return; }
      if (source.readyState === EventSource.CLOSED) {
        // Not a stream (a restart's 503, signed out, 404): try again later, a few times.
        self.source = null;
        self.reopens = (self.reopens || 0) + 1;
        if (self.reopens <= 6) {
          self.say(TEXT.lost);
          window.setTimeout(function () { self.open(); }, 1000 * self.reopens);
        }
      } else if (self.myState === "admitted") {
        self.say(TEXT.lost);
      }
    });
    source.addEventListener("open", function () { self.reopens = 0; });
  };

  Room.prototype.enqueue = function (task) {
    this.chain = this.chain.then(task).catch(function (error) {
      if (window.console) { window.console.warn("video room:", error); }
    });
    return this.chain;
  };

  // --------------------------------------------------------------------------- state

  Room.prototype.onState = function (data) {
    var self = this;
    var before = this.myState;
    var previous = this.participants;
    this.myState = data.my_state;
    this.host = data.host;
    if (typeof data.me === "number") { this.me = data.me; }
    this.participants = {};
    (data.participants || []).forEach(function (p) { self.participants[p.id] = p; });
    this.recording = data.recording || { id: null, state: "off" };
    this.renderParticipants();
    this.announceChanges(previous, before);
    var first = this.firstState;
    this.firstState = false;
    if (data.session_state === "ended") { this.myState = "ended"; }

    if (this.myState !== "admitted") {
      if (before === "admitted") { this.early = []; }
      this.teardown();
      this.showPhase(this.myState);
      this.renderRecording();
      return null;
    }
    this.showPhase("admitted");
    // Peers no longer admitted lose their connection; new ones get one.
    Object.keys(this.peers).forEach(function (id) {
      var p = self.participants[id];
      if (!p || p.state !== "admitted") { self.closePeer(Number(id)); }
    });
    return this.ensureMedia().then(function () {
      var others = self.admittedOthers();
      others.forEach(function (id) {
        if (self.me < id) {
          if (!self.peers[id]) { return self.offer(id); }
        } else if (first) {
          // A fresh page: the server already told the lower id ("rejoin") when the page was
          // served, but its new offer may have been sent before this page's stream opened.
          self.send(id, "bye", { reason: "rejoin" });
        }
        return null;
      });
      var early = self.early;
      self.early = [];
      return early.reduce(function (p, signal) {
        return p.then(function () { return self.onSignal(signal); });
      }, Promise.resolve()).then(function () {
        self.renderRecording();
        self.maybeRecord();
      });
    });
  };

  Room.prototype.admittedOthers = function () {
    var self = this;
    return Object.keys(this.participants).map(Number).filter(function (id) {
      return id !== self.me && self.participants[id].state === "admitted";
    }).sort(function (a, b) { return a - b; });
  };

  Room.prototype.announceChanges = function (previous, before) {
    if (before === "admitted" && this.myState === "waiting") { this.say(TEXT.sentBack); return; }
    var self = this;
    var notes = [];
    Object.keys(this.participants).forEach(function (id) {
      var now = self.participants[id];
      var was = previous[id];
      if (Number(id) === self.me || !was || was.state === now.state) { return; }
      if (now.state === "admitted") { notes.push(now.name + TEXT.joined); }
      else if (now.state === "waiting" && was.state === "admitted") { notes.push(now.name + TEXT.wentBack); }
      else if (was.state === "admitted") { notes.push(now.name + TEXT.gone); }
    });
    // Who left or was removed is no longer listed at all.
    Object.keys(previous).forEach(function (id) {
      if (Number(id) !== self.me && !self.participants[id] && previous[id].state === "admitted") {
        notes.push(previous[id].name + TEXT.gone);
      }
    });
    if (notes.length) { this.say(notes.join("；") + "。"); }
  };

  Room.prototype.showPhase = function (phase) {
    this.q("room-waiting").hidden = phase !== "waiting";
    this.q("room-call").hidden = phase !== "admitted";
    this.q("room-ended").hidden = phase !== "removed" && phase !== "left" && phase !== "ended";
    if (phase === "waiting") {
      if (this.q("room-status").textContent !== TEXT.sentBack) { this.say(TEXT.waiting); }
    } else if (phase === "admitted") {
      var status = this.q("room-status").textContent;
      if (status === TEXT.connecting || status === TEXT.waiting || status === TEXT.sentBack || status === TEXT.lost) {
        this.say(TEXT.admitted);
      }
    } else if (phase === "removed" || phase === "left" || phase === "ended") {
      var text = phase === "removed" ? TEXT.removed : phase === "ended" ? TEXT.ended : TEXT.left;
      this.q("room-ended-text").textContent = text;
      this.say(text);
      this.finished = true;
      if (this.source) { this.source.close(); this.source = null; }
    }
  };

  Room.prototype.kindLabel = function (p) {
    if (p.id === this.host) { return TEXT.host; }
    return TEXT[p.kind] || p.kind;
  };

  Room.prototype.stateLabel = function (state) {
    return { waiting: TEXT.stateWaiting, admitted: TEXT.stateAdmitted, left: TEXT.stateLeft, removed: TEXT.stateRemoved }[state] || state;
  };

  Room.prototype.renderParticipants = function () {
    var self = this;
    var list = this.q("room-participants");
    var focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement : null;
    var focusKey = focused ? focused.getAttribute("data-key") : null;
    list.textContent = "";
    var isHost = this.me === this.host;
    Object.keys(this.participants).map(Number).sort(function (a, b) { return a - b; }).forEach(function (id) {
      var p = self.participants[id];
      if (p.state === "removed" || p.state === "left") { return; }
      var item = el("li", "room-participant");
      item.setAttribute("data-participant", String(id));
      var name = el("span", "room-participant-name", p.name + (id === self.me ? TEXT.you : ""));
      item.appendChild(name);
      var facts = self.kindLabel(p) + " · " + self.stateLabel(p.state) + (p.consent_recording ? " · " + TEXT.consented : "");
      item.appendChild(el("span", "room-participant-facts", facts));
      if (isHost && id !== self.me) {
        var actions = el("span", "room-participant-actions");
        var add = function (action, label) {
          var button = el("button", "button secondary", label);
          button.type = "button";
          button.setAttribute("data-key", action + ":" + id);
          button.setAttribute("aria-label", label + "：" + p.name);
          button.addEventListener("click", function () { self.hostAction(action, id, button); });
          actions.appendChild(button);
        };
        if (p.state === "waiting") { add("admit", TEXT.admit); }
        if (p.state === "admitted") { add("send_back", TEXT.sendBack); }
        add("remove", TEXT.remove);
        item.appendChild(actions);
      }
      list.appendChild(item);
    });
    if (focusKey) {
      // The button pressed may be gone (请进入 becomes 移回等候室): the same person's next button,
      // else the list's heading, never the top of the page.
      var again = list.querySelector('[data-key="' + focusKey + '"]') ||
        list.querySelector('[data-participant="' + focusKey.split(":")[1] + '"] button');
      (again || this.q("room-people-heading")).focus();
    }
  };

  Room.prototype.hostAction = function (action, id, button) {
    var self = this;
    button.disabled = true;
    post(this.roomUrl + "/" + action, { participant: id }).then(function (response) {
      button.disabled = false;
      if (!response.ok) {
        // The server says why (the 6-person limit, someone already removed).
        response.json().then(function (body) {
          self.say(body && typeof body.error === "string" ? body.error : TEXT.refused);
        }, function () { self.say(TEXT.refused); });
      }
    }, function () { button.disabled = false; self.say(TEXT.refused); });
  };

  // --------------------------------------------------------------------------- media

  Room.prototype.ensureMedia = function () {
    var self = this;
    if (this.local) { return Promise.resolve(this.local); }
    if (this.mediaPromise) { return this.mediaPromise; }
    var devices = navigator.mediaDevices;
    var ask = function (constraints) {
      return devices && devices.getUserMedia ? devices.getUserMedia(constraints) : Promise.reject(new Error("no getUserMedia"));
    };
    // No camera (or it is busy): still take part with the microphone alone.
    var media = ask({ audio: true, video: { width: 640, height: 360 } }).catch(function () { return ask({ audio: true }); });
    this.mediaPromise = media.then(function (stream) {
      return stream;
    }, function () {
      self.say(TEXT.noMedia);
      return new MediaStream();
    }).then(function (stream) {
      self.mediaPromise = null;
      if (self.myState !== "admitted") {
        // Sent back while the camera was starting: never keep it on.
        stream.getTracks().forEach(function (t) { t.stop(); });
        self.exposed.tracks = self.exposed.tracks.concat(stream.getTracks());
        return stream;
      }
      self.local = stream;
      self.exposed.tracks = self.exposed.tracks.concat(stream.getTracks());
      self.exposed.local = stream;
      stream.getAudioTracks().forEach(function (t) { t.enabled = !self.muted; });
      stream.getVideoTracks().forEach(function (t) { t.enabled = !self.cameraOff; });
      self.tile(self.me).video.srcObject = stream;
      return stream;
    });
    return this.mediaPromise;
  };

  Room.prototype.stopMedia = function () {
    if (this.screen) { this.screen.getTracks().forEach(function (t) { t.stop(); }); this.screen = null; }
    if (this.local) { this.local.getTracks().forEach(function (t) { t.stop(); }); this.local = null; }
    this.setPressed("ctl-share", false, TEXT.share);
  };

  Room.prototype.teardown = function () {
    var self = this;
    Object.keys(this.peers).forEach(function (id) { self.closePeer(Number(id)); });
    this.stopRecorder();
    this.stopMedia();
    var tiles = this.q("room-tiles");
    if (tiles) { tiles.textContent = ""; }
  };

  Room.prototype.tile = function (id) {
    var list = this.q("room-tiles");
    var existing = list.querySelector('[data-tile="' + id + '"]');
    if (existing) { return { item: existing, video: existing.querySelector("video") }; }
    var p = this.participants[id] || { name: "", kind: "" };
    var item = el("li", "room-tile");
    item.setAttribute("data-tile", String(id));
    var video = el("video", "room-video");
    video.autoplay = true;
    video.setAttribute("playsinline", "");
    if (id === this.me) { video.muted = true; }   // never hear yourself
    var label = el("p", "room-tile-name", p.name + (id === this.me ? TEXT.you : ""));
    label.id = "room-tile-name-" + id;
    video.setAttribute("aria-labelledby", label.id);
    item.appendChild(video);
    item.appendChild(label);
    if (id === this.me) { list.insertBefore(item, list.firstChild); } else { list.appendChild(item); }
    return { item: item, video: video };
  };

  Room.prototype.dropTile = function (id) {
    var item = this.q("room-tiles").querySelector('[data-tile="' + id + '"]');
    if (item) {
      var video = item.querySelector("video");
      if (video) { video.srcObject = null; }
      item.parentNode.removeChild(item);
    }
  };

  // ----------------------------------------------------------------------------- peers

  Room.prototype.makePeer = function (id, theirConn) {
    var self = this;
    var pc = new RTCPeerConnection({ iceServers: this.ice });
    var peer = { id: id, pc: pc, mine: newId(), theirs: theirConn || null, pending: [], stream: new MediaStream() };
    this.peers[id] = peer;
    this.exposed.all.push(pc);
    pc.onicecandidate = function (event) {
      if (event.candidate && self.peers[id] === peer) {
        self.send(id, "ice", { pc: peer.mine, candidate: event.candidate.toJSON ? event.candidate.toJSON() : event.candidate });
      }
    };
    pc.ontrack = function (event) {
      if (self.peers[id] !== peer) { return; }
      peer.stream.addTrack(event.track);
      var video = self.tile(id).video;
      if (video.srcObject !== peer.stream) { video.srcObject = peer.stream; }
      self.mixAudio(event.track);
    };
    pc.onconnectionstatechange = function () {
      if (pc.connectionState === "failed" && self.peers[id] === peer && self.me < id) {
        // One restart from the offering side; the other side answers a new offer as usual.
        self.closePeer(id);
        self.enqueue(function () { return self.offer(id); });
      }
    };
    return peer;
  };

  Room.prototype.addLocalTracks = function (peer) {
    var self = this;
    var stream = this.local || new MediaStream();
    var kinds = {};
    stream.getTracks().forEach(function (track) {
      var sending = track;
      if (track.kind === "video" && self.screen) { sending = self.screen.getVideoTracks()[0] || track; }
      peer.pc.addTrack(sending, stream);
      kinds[track.kind] = true;
    });
    return kinds;
  };

  Room.prototype.offer = function (id) {
    var self = this;
    if (this.myState !== "admitted" || !this.participants[id] || this.participants[id].state !== "admitted") { return null; }
    var peer = this.makePeer(id, null);
    var kinds = this.addLocalTracks(peer);
    ["audio", "video"].forEach(function (kind) {
      if (!kinds[kind]) { peer.pc.addTransceiver(kind, { direction: "recvonly" }); }
    });
    return peer.pc.createOffer().then(function (offer) {
      return peer.pc.setLocalDescription(offer);
    }).then(function () {
      return self.send(id, "offer", { pc: peer.mine, sdp: peer.pc.localDescription.sdp, type: "offer" });
    });
  };

  Room.prototype.closePeer = function (id) {
    var peer = this.peers[id];
    if (!peer) { return; }
    delete this.peers[id];
    peer.pc.onicecandidate = null;
    peer.pc.ontrack = null;
    peer.pc.onconnectionstatechange = null;
    peer.pc.close();
    peer.stream.getTracks().forEach(function (t) { t.stop(); });
    this.dropTile(id);
  };

  // Signals leave one at a time: an ICE candidate must never reach the server before its offer.
  Room.prototype.send = function (to, kind, payload) {
    var self = this;
    if (this.myState !== "admitted") { return Promise.resolve(null); }
    var url = this.root.getAttribute("data-signal");
    this.sending = this.sending.then(function () {
      if (self.myState !== "admitted") { return null; }
      return fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ to: to, kind: kind, payload: payload })
      }).catch(function () { return null; });  // a 409 or a drop: the next state tidies up
    });
    return null;  // never hold the event queue on the network
  };

  Room.prototype.onSignal = function (data) {
    var self = this;
    var from = data.from;
    var payload = data.payload || {};
    if (from === this.me || this.finished) { return null; }
    if (this.myState !== "admitted") {
      // The server routes signals only to admitted participants, so my own state is on its way.
      if (this.early.length < 200) { this.early.push(data); }
      return null;
    }
    var peer = this.peers[from];
    if (data.kind === "bye") {
      this.closePeer(from);
      if ((payload.hello || payload.reason === "rejoin") && this.me < from && this.participants[from] && this.participants[from].state === "admitted") {
        return this.ensureMedia().then(function () { return self.offer(from); });
      }
      return null;
    }
    if (data.kind === "offer") {
      if (this.me < from) { return null; }  // I am the offering side of this pair: stale offer
      return this.ensureMedia().then(function () {
        if (self.myState !== "admitted") { return null; }
        if (peer && (peer.theirs !== payload.pc || peer.pc.signalingState !== "stable")) {
          self.closePeer(from);
          peer = null;
        }
        if (!peer) { peer = self.makePeer(from, payload.pc); }
        var fresh = peer.pc.getSenders().length === 0;
        return peer.pc.setRemoteDescription({ type: "offer", sdp: payload.sdp }).then(function () {
          if (fresh) { self.addLocalTracks(peer); }
          return self.flushIce(peer);
        }).then(function () {
          return peer.pc.createAnswer();
        }).then(function (answer) {
          return peer.pc.setLocalDescription(answer);
        }).then(function () {
          return self.send(from, "answer", { pc: peer.mine, to_pc: payload.pc, sdp: peer.pc.localDescription.sdp, type: "answer" });
        });
      });
    }
    if (data.kind === "answer") {
      if (!peer || peer.pc.signalingState !== "have-local-offer" || payload.to_pc !== peer.mine) { return null; }
      peer.theirs = payload.pc;
      peer.pending = peer.pending.filter(function (c) { return c.pc === payload.pc; });
      return peer.pc.setRemoteDescription({ type: "answer", sdp: payload.sdp }).then(function () {
        return self.flushIce(peer);
      });
    }
    if (data.kind === "ice") {
      if (!peer || !payload.candidate) { return null; }
      if (peer.theirs && payload.pc !== peer.theirs) { return null; }  // from a connection now closed
      if (!peer.pc.remoteDescription) { peer.pending.push({ pc: payload.pc, candidate: payload.candidate }); return null; }
      return peer.pc.addIceCandidate(payload.candidate).catch(function () { return null; });
    }
    return null;
  };

  Room.prototype.flushIce = function (peer) {
    var pending = peer.pending;
    peer.pending = [];
    return Promise.all(pending.map(function (c) {
      return peer.pc.addIceCandidate(c.candidate).catch(function () { return null; });
    }));
  };

  // -------------------------------------------------------------------------- controls

  // The label says what the button will do next (静音 / 取消静音); no aria-pressed on top of it,
  // which would read "取消静音, pressed".
  Room.prototype.setPressed = function (id, pressed, label) {
    var button = this.q(id);
    if (!button) { return; }
    button.textContent = label;
    button.setAttribute("data-on", pressed ? "1" : "0");
  };

  Room.prototype.bindControls = function () {
    var self = this;
    var on = function (id, handler) {
      var button = self.q(id);
      if (button) { button.addEventListener("click", handler); }
    };
    on("ctl-mute", function () {
      self.muted = !self.muted;
      if (self.local) { self.local.getAudioTracks().forEach(function (t) { t.enabled = !self.muted; }); }
      self.setPressed("ctl-mute", self.muted, self.muted ? TEXT.unmute : TEXT.mute);
    });
    on("ctl-camera", function () {
      self.cameraOff = !self.cameraOff;
      if (self.local) { self.local.getVideoTracks().forEach(function (t) { t.enabled = !self.cameraOff; }); }
      self.setPressed("ctl-camera", self.cameraOff, self.cameraOff ? TEXT.cameraOn : TEXT.cameraOff);
    });
    on("ctl-share", function () { self.toggleShare(); });
    on("ctl-leave", function () { self.leave(); });
    on("ctl-record", function () { self.toggleRecording(); });
    var endForm = this.q("room-end-form");
    if (endForm) {
      endForm.addEventListener("submit", function (event) {
        // Leaving the page would cut off the recording's last chunks: save it first.
        if (!self.recorder && !self.uploading) { return; }
        event.preventDefault();
        self.wantRecording = false;
        self.stopRecorder();
        (self.finishing || Promise.resolve()).then(function () { endForm.submit(); });
      });
    }
    on("consent-yes", function () { self.consent(true); });
    on("consent-no", function () { self.consent(false); });
  };

  Room.prototype.toggleShare = function () {
    var self = this;
    if (this.screen) { this.stopShare(); return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) { return; }
    navigator.mediaDevices.getDisplayMedia({ video: true }).then(function (screen) {
      if (self.myState !== "admitted") { screen.getTracks().forEach(function (t) { t.stop(); }); return; }
      self.screen = screen;
      self.exposed.tracks = self.exposed.tracks.concat(screen.getTracks());
      var track = screen.getVideoTracks()[0];
      // Replacing the camera's track needs no renegotiation: every peer sees the screen at once.
      self.replaceVideo(track);
      track.addEventListener("ended", function () { if (self.screen === screen) { self.stopShare(); } });
      self.setPressed("ctl-share", true, TEXT.stopShare);
    }, function () { return null; });
  };

  Room.prototype.stopShare = function () {
    if (!this.screen) { return; }
    this.screen.getTracks().forEach(function (t) { t.stop(); });
    this.screen = null;
    var camera = this.local ? this.local.getVideoTracks()[0] : null;
    this.replaceVideo(camera || null);
    this.setPressed("ctl-share", false, TEXT.share);
  };

  Room.prototype.replaceVideo = function (track) {
    var self = this;
    Object.keys(this.peers).forEach(function (id) {
      self.peers[id].pc.getTransceivers().forEach(function (t) {
        if (!t.stopped && t.receiver.track && t.receiver.track.kind === "video") {
          t.sender.replaceTrack(track).catch(function () { return null; });
        }
      });
    });
  };

  Room.prototype.leave = function () {
    var self = this;
    // The server tells the others (bye) and marks me as left.
    var form = new FormData();
    form.append("_csrf_token", csrf());
    fetch(this.roomUrl + "/leave", {
      method: "POST", credentials: "same-origin", keepalive: true,
      headers: { "X-CSRFToken": csrf() }, body: form
    }).catch(function () { return null; });
    this.myState = "left";
    this.teardown();
    this.showPhase("left");
    this.q("room-ended-heading").setAttribute("tabindex", "-1");
    this.q("room-ended-heading").focus();
  };

  // ------------------------------------------------------------------------- recording

  Room.prototype.renderRecording = function () {
    var rec = this.recording || { state: "off" };
    var me = this.participants[this.me] || {};
    var line = this.q("room-recording");
    var consent = this.q("room-consent");
    var askMe = rec.state === "waiting_consent" && !me.consent_recording && this.myState === "admitted" && !this.declined;
    var opening = askMe && consent.hidden;
    consent.hidden = !askMe;
    if (opening) { this.q("consent-yes").focus(); }  // an alert dialog takes the focus to its answer
    if (rec.state !== "waiting_consent") { this.declined = false; }
    if (rec.state !== this.lastRecState && this.myState === "admitted") {
      if (rec.state === "on") { this.say(TEXT.recOn); }
      this.lastRecState = rec.state;
    }
    if (rec.state === "on") {
      line.hidden = false;
      line.textContent = TEXT.recOn;
    } else if (rec.state === "waiting_consent") {
      line.hidden = false;
      var self = this;
      var missing = Object.keys(this.participants).filter(function (id) {
        var p = self.participants[id];
        return p.state === "admitted" && !p.consent_recording;
      }).map(function (id) { return self.participants[id].name; });
      line.textContent = TEXT.recWaiting + (missing.length ? TEXT.recMissing + missing.join("、") + "。" : "");
    } else if (!this.uploading) {
      line.hidden = true;
    }
    var button = this.q("ctl-record");
    if (button) {
      var recording = rec.state === "on" || !!this.recorder;
      button.textContent = recording ? TEXT.recStop : TEXT.recStart;
    }
  };

  Room.prototype.consent = function (agree) {
    var self = this;
    if (!agree) { this.declined = true; this.q("room-consent").hidden = true; }
    post(this.roomUrl + "/recording/consent", { agree: agree }).then(function (response) {
      if (!response.ok) { self.say(TEXT.refused); }
    }, function () { self.say(TEXT.refused); });
  };

  Room.prototype.allConsented = function () {
    var self = this;
    return Object.keys(this.participants).every(function (id) {
      var p = self.participants[id];
      return p.state !== "admitted" || p.consent_recording;
    });
  };

  Room.prototype.toggleRecording = function () {
    var self = this;
    if (this.recorder || (this.recording && this.recording.state === "on")) {
      this.wantRecording = false;
      this.stopRecorder();
      post(this.roomUrl + "/recording/stop", {}).catch(function () { return null; });
      return;
    }
    // Ask everyone first (their consent dialog opens); the recording starts once all agreed.
    this.wantRecording = true;
    post(this.roomUrl + "/recording/request", {}).then(function (response) {
      if (!response.ok) { self.wantRecording = false; self.say(TEXT.refused); }
    }, function () { self.wantRecording = false; self.say(TEXT.refused); });
  };

  Room.prototype.requestStart = function () {
    var self = this;
    if (this.starting) { return; }
    this.starting = true;
    post(this.roomUrl + "/recording/start", {}).then(function (response) {
      self.starting = false;
      if (response.status === 409) { return null; }  // someone's consent is not in yet: the next state asks again
      if (!response.ok) { self.say(TEXT.refused); self.wantRecording = false; return null; }
      self.startedHere = true;
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (body && body.id) { self.recording = { id: body.id, state: "on" }; }
        self.maybeRecord();
      });
    }, function () { self.starting = false; self.say(TEXT.refused); });
  };

  // Called on every state: the host starts the recorder once the server says recording is on, and
  // asks again once everyone has consented.
  Room.prototype.maybeRecord = function () {
    if (this.me !== this.host || this.myState !== "admitted" || this.starting) { return; }
    var rec = this.recording || {};
    if (rec.state === "on" && rec.id && !this.recorder && !this.uploading && this.recordedId !== rec.id) {
      if (this.startedHere) {
        this.startRecorder(rec.id);
      } else {
        this.salvage(rec.id);  // started by this host's previous page (reloaded mid-recording)
      }
    } else if (this.wantRecording && rec.state === "waiting_consent" && this.allConsented() && !this.recorder) {
      this.requestStart();
    }
  };

  Room.prototype.mixAudio = function (track) {
    if (track.kind !== "audio" || !this.mix) { return; }
    try { this.mix.ctx.createMediaStreamSource(new MediaStream([track])).connect(this.mix.dest); } catch (e) { /* ended track */ }
  };

  // A composite of what the host sees (all tiles drawn on one canvas) and hears (every audio track
  // mixed): one file holds the citizen, the officials and the shared screen.
  Room.prototype.startRecorder = function (recId) {
    var self = this;
    if (typeof MediaRecorder !== "function") { this.say(TEXT.recFailed); return; }
    var Ctx = window.AudioContext || window.webkitAudioContext;
    var ctx = new Ctx();
    if (ctx.state === "suspended") { ctx.resume(); }  // started by a state event, not a click
    var dest = ctx.createMediaStreamDestination();
    this.mix = { ctx: ctx, dest: dest };
    if (this.local) { this.local.getAudioTracks().forEach(function (t) { self.mixAudio(t); }); }
    Object.keys(this.peers).forEach(function (id) { self.peers[id].stream.getAudioTracks().forEach(function (t) { self.mixAudio(t); }); });
    var canvas = document.createElement("canvas");
    canvas.width = 960;
    canvas.height = 540;
    var g = canvas.getContext("2d");
    var draw = function () {
      var videos = Array.prototype.slice.call(self.q("room-tiles").querySelectorAll("video"));
      var cols = videos.length > 4 ? 3 : videos.length > 1 ? 2 : 1;
      var rows = Math.max(1, Math.ceil(videos.length / cols));
      var w = canvas.width / cols;
      var h = canvas.height / rows;
      g.fillStyle = "#000";
      g.fillRect(0, 0, canvas.width, canvas.height);
      videos.forEach(function (v, i) {
        if (v.readyState >= 2) { try { g.drawImage(v, (i % cols) * w, Math.floor(i / cols) * h, w, h); } catch (e) { /* not ready */ } }
      });
    };
    this.drawTimer = window.setInterval(draw, 100);
    draw();
    var stream = new MediaStream(canvas.captureStream(10).getVideoTracks().concat(dest.stream.getAudioTracks()));
    var type = ["video/webm;codecs=vp8,opus", "video/webm"].filter(function (t) { return MediaRecorder.isTypeSupported(t); })[0];
    var recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
    this.recorder = recorder;
    this.recordedId = recId;
    this.wantRecording = false;
    var upload = { id: recId, seq: 0, sent: {}, queue: Promise.resolve(), failed: false };
    var finished;
    this.finishing = new Promise(function (resolve) { finished = resolve; });
    this.exposed.uploads.push(upload);
    recorder.ondataavailable = function (event) {
      if (!event.data || !event.data.size) { return; }
      var seq = upload.seq;
      upload.seq += 1;
      upload.sent[seq] = event.data;
      upload.queue = upload.queue.then(function () { return self.uploadChunk(upload, seq, 0); });
    };
    recorder.onstop = function () {
      stream.getTracks().forEach(function (t) { t.stop(); });
      window.clearInterval(self.drawTimer);
      ctx.close();
      self.mix = null;
      self.recorder = null;
      self.uploading = true;
      var line = self.q("room-recording");
      line.hidden = false;
      line.textContent = TEXT.recUploading;
      // The last dataavailable fires before stop: its upload is already queued.
      upload.queue = upload.queue.then(function () { return self.finishUpload(upload); }).then(finished, finished);
    };
    recorder.start(CHUNK_MS);
    this.renderRecording();
  };

  // The previous page's recorder is gone with it, and a new recorder's first chunk would be another
  // file's header: keep what arrived (the unbroken run from chunk 0 is a playable file) and stop.
  Room.prototype.salvage = function (recId) {
    var self = this;
    this.recordedId = recId;
    this.uploading = true;
    var base = this.recordingsUrl + "/" + recId;
    post(this.roomUrl + "/recording/stop", {}).then(function () {
      return fetch(base + "/chunks", { credentials: "same-origin", headers: { Accept: "application/json" } });
    }).then(function (response) {
      return response.ok ? response.json() : { received: [] };
    }).then(function (body) {
      var have = {};
      (body.received || []).forEach(function (seq) { have[seq] = true; });
      var count = 0;
      while (have[count]) { count += 1; }
      return count ? post(base + "/finish", { chunks: count }) : null;
    }).then(function (response) {
      self.uploading = false;
      self.say(response && response.ok ? TEXT.recSalvaged : TEXT.recFailed);
      self.renderRecording();
    }, function () {
      self.uploading = false;
      self.say(TEXT.recFailed);
      self.renderRecording();
    });
  };

  Room.prototype.stopRecorder = function () {
    if (this.recorder && this.recorder.state !== "inactive") { this.recorder.stop(); }
  };

  Room.prototype.uploadChunk = function (upload, seq, attempt) {
    var self = this;
    var url = this.recordingsUrl + "/" + upload.id + "/chunks/" + seq;
    return post(url, upload.sent[seq], true).then(function (response) {
      if (response.ok) { return true; }
      throw new Error("chunk " + seq + ": " + response.status);
    }).catch(function () {
      // A dropped connection: wait and try again; the server keeps one copy per seq.
      if (attempt >= RETRY_MS.length) { return false; }
      return new Promise(function (resolve) { window.setTimeout(resolve, RETRY_MS[attempt]); })
        .then(function () { return self.uploadChunk(upload, seq, attempt + 1); });
    });
  };

  Room.prototype.finishUpload = function (upload) {
    var self = this;
    var base = this.recordingsUrl + "/" + upload.id;
    var round = function (left) {
      return fetch(base + "/chunks", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
        .then(function (body) {
          var have = {};
          (Array.isArray(body) ? body : body.received || body.chunks || []).forEach(function (s) { have[s] = true; });
          var missing = [];
          for (var s = 0; s < upload.seq; s += 1) { if (!have[s]) { missing.push(s); } }
          if (!missing.length) { return true; }
          if (left <= 0) { return false; }
          return missing.reduce(function (p, s) {
            return p.then(function () { return self.uploadChunk(upload, s, 0); });
          }, Promise.resolve()).then(function () { return round(left - 1); });
        });
    };
    return round(3).then(function (complete) {
      if (!complete) { throw new Error("chunks missing"); }
      return post(base + "/finish", { chunks: upload.seq });
    }).then(function (response) {
      if (!response.ok) { throw new Error("finish " + response.status); }
      upload.done = true;
      self.uploading = false;
      self.q("room-recording").textContent = TEXT.recDone;
      self.say(TEXT.recDone);
    }).catch(function () {
      upload.failed = true;
      self.uploading = false;
      self.q("room-recording").textContent = TEXT.recFailed;
      self.say(TEXT.recFailed);
    });
  };

  // ------------------------------------------------------------------------- device check

  function DeviceCheck(root) {
    this.root = root;
    this.stream = null;
    this.ctx = null;
    this.timer = null;
  }

  DeviceCheck.prototype.start = function () {
    var self = this;
    this.root.hidden = false;
    document.getElementById("device-start").addEventListener("click", function () { self.run(); });
    document.getElementById("device-stop").addEventListener("click", function () { self.stop(); });
    window.addEventListener("pagehide", function () { self.stop(); });
    window.__deviceCheck = this;
  };

  DeviceCheck.prototype.status = function (text) {
    document.getElementById("device-status").textContent = text;
  };

  DeviceCheck.prototype.run = function () {
    var self = this;
    if (this.stream) { return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.status("此浏览器不支持视频，请换用其他浏览器或拨打下方电话。");
      return;
    }
    this.status("正在打开摄像头和麦克风…");
    navigator.mediaDevices.getUserMedia({ audio: true, video: true }).then(function (stream) {
      self.stream = stream;
      document.getElementById("device-video").srcObject = stream;
      var Ctx = window.AudioContext || window.webkitAudioContext;
      self.ctx = new Ctx();
      var analyser = self.ctx.createAnalyser();
      analyser.fftSize = 512;
      self.ctx.createMediaStreamSource(stream).connect(analyser);
      var data = new Uint8Array(analyser.fftSize);
      var meter = document.getElementById("device-level");
      self.timer = window.setInterval(function () {
        analyser.getByteTimeDomainData(data);
        var peak = 0;
        for (var i = 0; i < data.length; i += 1) { peak = Math.max(peak, Math.abs(data[i] - 128)); }
        var level = Math.min(100, Math.round(peak / 128 * 100));
        meter.value = level;
        meter.textContent = String(level);
        self.level = Math.max(self.level || 0, level);
      }, 100);
      var video = stream.getVideoTracks().length > 0;
      var audio = stream.getAudioTracks().length > 0;
      self.status(video && audio ? "摄像头和麦克风已打开。能看到画面、说话时音量条跳动，即可正常视频。" :
        "只打开了部分设备，请检查摄像头和麦克风。");
      document.getElementById("device-start").hidden = true;
      document.getElementById("device-stop").hidden = false;
    }, function () {
      self.status("无法打开摄像头或麦克风。请在浏览器中允许使用，或拨打下方电话。");
    });
  };

  DeviceCheck.prototype.stop = function () {
    if (this.timer) { window.clearInterval(this.timer); this.timer = null; }
    if (this.ctx) { this.ctx.close(); this.ctx = null; }
    if (this.stream) {
      this.stream.getTracks().forEach(function (t) { t.stop(); });
      this.stream = null;
      document.getElementById("device-video").srcObject = null;
      this.status("检查已停止。");
    }
    var start = document.getElementById("device-start");
    if (start) { start.hidden = false; document.getElementById("device-stop").hidden = true; }
  };

  function boot() {
    var room = document.getElementById("video-room");
    if (room) {
      if (typeof window.RTCPeerConnection !== "function" || typeof window.EventSource !== "function") {
        room.hidden = false;
        document.getElementById("room-status").textContent = "此浏览器不支持视频接访，请换用其他浏览器或拨打下方电话。";
        return;
      }
      new Room(room).start();
    }
    var check = document.getElementById("device-check");
    if (check) { new DeviceCheck(check).start(); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", boot);
  } else {
    boot();
  }
})();
