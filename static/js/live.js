/* Live alerts for signed-in staff: new in-app messages appear at the top of the open page.
   The server side is portal/notify/live.py (GET /live, server-sent events). Without this script
   nothing is lost: /messages lists every message. */
(function () {
  "use strict";
  var MAX_SHOWN = 5;       // older alerts give way; all of them are in /messages
  var MAX_REOPENS = 8;     // after a refused connection (restart, 503), then give up until the next page
  var region, source, lastId = 0, reopens = 0, stopped = false, timer = null;
  var shown = {};

  function safeLink(link) {
    // The server accepts only paths on this site; checked again so a bad row can never become a
    // javascript: or off-site link.
    return typeof link === "string" && link.charAt(0) === "/" && link.charAt(1) !== "/" &&
      link.indexOf("\\") === -1 ? link : "";
  }

  function updateNav(unread) {
    if (typeof unread !== "number") { return; }
    var link = document.querySelector('.service-nav a[href="/messages"]');
    if (!link) { return; }
    link.textContent = unread > 0
      ? region.getAttribute("data-label-unread").replace("{n}", String(unread))
      : region.getAttribute("data-label-none");
  }

  function close(box) {
    var next = box.nextElementSibling || box.previousElementSibling;
    var hadFocus = box.contains(document.activeElement);
    box.parentNode.removeChild(box);
    if (hadFocus) {
      var target = next ? next.querySelector("button") : document.getElementById("main");
      if (target) { target.focus({ preventScroll: !next }); }
    }
  }

  function show(message) {
    if (!message || typeof message.id !== "number" || shown[message.id]) { return; }
    shown[message.id] = true;
    var box = document.createElement("div");
    box.className = "live-alert";
    var text = document.createElement("p");
    text.className = "live-alert-body";
    // Several alerts each have a 查看 and a 关闭; the description says which alert they belong to
    // (not hidden text in the name, which the alert's announcement would read out again).
    text.id = "live-alert-" + message.id;
    text.textContent = message.body;
    box.appendChild(text);
    if (message.created_at) {
      var when = document.createElement("p");
      when.className = "live-alert-when";
      when.textContent = message.created_at;
      box.appendChild(when);
    }
    var actions = document.createElement("p");
    actions.className = "live-alert-actions";
    var link = safeLink(message.link);
    if (link) {
      var a = document.createElement("a");
      a.href = link;
      a.textContent = region.getAttribute("data-label-view");
      a.setAttribute("aria-describedby", text.id);
      actions.appendChild(a);
    }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "link-button live-alert-close";
    button.textContent = region.getAttribute("data-label-close");
    button.setAttribute("aria-describedby", text.id);
    button.addEventListener("click", function () { close(box); });
    actions.appendChild(button);
    box.appendChild(actions);
    region.appendChild(box);
    while (region.children.length > MAX_SHOWN) { region.removeChild(region.firstElementChild); }
    updateNav(message.unread);
  }

  function onMessage(event) {
    var message;
    try { message = JSON.parse(event.data); } catch (e) { return; }
    if (typeof message.id === "number" && message.id > lastId) { lastId = message.id; }
    show(message);
  }

  function open() {
    timer = null;
    if (stopped || source) { return; }
    source = new EventSource(lastId ? "/live?after=" + lastId : "/live");
    source.addEventListener("open", function () { reopens = 0; });
    source.addEventListener("message", onMessage);
    source.addEventListener("signed-out", function () { stopped = true; shut(); });
    source.addEventListener("error", function () {
      // EventSource reconnects by itself after a dropped stream; it gives up (CLOSED) only when an
      // answer was not a stream (a restart's 503, a sign-in page): try again a few times, slower.
      if (source && source.readyState === EventSource.CLOSED) {
        shut();
        if (!stopped && reopens < MAX_REOPENS) {
          reopens += 1;
          timer = window.setTimeout(open, Math.min(60000, 2000 * Math.pow(2, reopens)));
        }
      }
    });
  }

  function shut() {
    if (source) { source.close(); source = null; }
    if (timer) { window.clearTimeout(timer); timer = null; }
  }

  function start() {
    region = document.getElementById("live-alerts");
    if (!region || typeof window.EventSource !== "function") { return; }
    open();
    // Leaving the page frees the connection at once (browsers allow few per server over HTTP/1.1).
    window.addEventListener("pagehide", shut);
    window.addEventListener("pageshow", function (event) { if (event.persisted) { open(); } });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
