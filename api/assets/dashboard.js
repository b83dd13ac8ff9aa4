// Ringside dashboard: keeps pages live over the realtime socket and makes this browser a
// phone for visitors' calls. Loaded after account.js (forms and buttons) on signed-in pages.
//
// - Regions marked data-live="event event ..." are re-read from the server (this page's URL)
//   when one of those events arrives (data-live-visitor limits it to one visitor's events);
//   regions marked data-poll are re-read every 2 seconds while the server keeps the mark.
// - The console socket (/api/ws/console, the session cookie) makes the user available while
//   the "Available for calls" box is ticked (remembered in this browser): offered calls ring
//   (sound, and a notification when allowed), and are answered with audio or video; the call
//   bar holds, resumes and hangs up. Page API (also used by the tests): RingsideConsole.connect(),
//   .answer(callId, {video}), .hangup(), .hold(), .resume(), .stats(), .offers, .state,
//   .remoteStream, .callId.
// - The chat page marks the chat read, sends on Enter and shows the visitor typing.
(function () {
  "use strict";
  var A = window.RingsideAccount;
  var note = document.getElementById("live-note");
  function announce(text) { if (note) note.textContent = text; }

  // ------------------------------------------------------------------ live regions
  var pending = {}, timer = null;
  function refresh(ids) {
    ids.forEach(function (id) { pending[id] = true; });
    if (timer) return;
    timer = setTimeout(function () {
      var want = Object.keys(pending); pending = {}; timer = null;
      fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          var busy = [];
          want.forEach(function (id) {
            var fresh = doc.getElementById(id), old = document.getElementById(id);
            if (!fresh || !old) return;
            // Never under the user's hands: a region with the focus, an open fold-out or a
            // form being filled in waits until they are done.
            if (old.contains(document.activeElement) || old.querySelector("details[open]")) { busy.push(id); return; }
            old.replaceWith(fresh);
          });
          if (busy.length) setTimeout(function () { refresh(busy); }, 3000);
          scrollChat();
          // New messages shown in an open chat are read.
          if (want.indexOf("conv-live") >= 0) markRead();
        }).catch(function () {});
    }, 250);
  }
  var D = window.RingsideDashboard = { refresh: function (id) { refresh([id]); }, connected: false, seen: {} };

  // Regions marked data-poll (a crawl under way) are re-read every 2 seconds until the page
  // comes back without the mark.
  setInterval(function () {
    var ids = [];
    Array.prototype.forEach.call(document.querySelectorAll("[data-poll]"), function (el) { if (el.id) ids.push(el.id); });
    if (ids.length) refresh(ids);
  }, 2000);

  function regionsFor(ev) {
    var out = [];
    Array.prototype.forEach.call(document.querySelectorAll("[data-live]"), function (el) {
      var kinds = el.getAttribute("data-live").split(/\s+/);
      if (kinds.indexOf(ev.type) < 0) return;
      var only = el.getAttribute("data-live-visitor");
      var vid = ev.data && (ev.data.visitorId || (ev.data.visitor && ev.data.visitor.visitorId));
      if (only && vid && only !== vid) return;
      if (el.id) out.push(el.id);
    });
    return out;
  }

  var typingTimer = null;
  function showTyping(ev) {
    var typingBox = document.getElementById("typing");
    if (!typingBox) return;
    var form = document.querySelector("form[data-typing]");
    if (!form) return;
    var parts = form.getAttribute("data-typing").split(" ");
    if (ev.data.widgetId !== parts[0] || ev.data.visitorId !== parts[1]) return;
    typingBox.textContent = ev.data.typing ? "The visitor is typing…" : "";
    clearTimeout(typingTimer);
    if (ev.data.typing) typingTimer = setTimeout(function () { typingBox.textContent = ""; }, 6000);
  }

  var live = null, liveDelay = 1000;
  function connectLive() {
    live = new WebSocket(location.origin.replace(/^http/, "ws") + "/api/ws/tenant");
    live.onopen = function () { live.send(JSON.stringify({ type: "auth" })); };
    live.onmessage = function (e) {
      var ev; try { ev = JSON.parse(e.data); } catch (x) { return; }
      D.seen[ev.type] = (D.seen[ev.type] || 0) + 1;
      if (ev.type === "auth:ok") { liveDelay = 1000; D.connected = true; return; }
      if (ev.type === "ping") { live.send(JSON.stringify({ type: "pong" })); return; }
      if (ev.type === "visitor:typing") { showTyping(ev); return; }
      if (ev.type === "message:new" && ev.data && ev.data.sender === "visitor") {
        announce("New message from a visitor");
        var tb = document.getElementById("typing");
        if (tb) tb.textContent = "";
      }
      var ids = regionsFor(ev);
      if (ids.length) refresh(ids);
    };
    live.onclose = function () {
      D.connected = false;
      setTimeout(connectLive, liveDelay);
      liveDelay = Math.min(liveDelay * 2, 30000);
    };
  }
  connectLive();

  // ------------------------------------------------------------------ the chat page
  function scrollChat() {
    var chat = document.querySelector("ol.chat");
    if (chat) chat.scrollTop = chat.scrollHeight;
  }
  scrollChat();
  var split = document.querySelector("[data-read-url]");
  function markRead() {
    if (split && split.getAttribute("data-read-url") && A && !document.hidden) {
      A.api("POST", split.getAttribute("data-read-url")).catch(function () {});
    }
  }
  markRead();
  var reply = document.querySelector("form[data-typing]");
  if (reply) {
    var area = reply.querySelector("textarea");
    var parts = reply.getAttribute("data-typing").split(" ");
    var lastSent = 0;
    area.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); reply.requestSubmit(); }
    });
    area.addEventListener("input", function () {
      var now = Date.now();
      if (now - lastSent < 2000 || !live || live.readyState !== 1) return;
      lastSent = now;
      live.send(JSON.stringify({ type: "typing", widgetId: parts[0], visitorId: parts[1], typing: area.value.length > 0 }));
    });
  }

  // Saved replies: picked from the list, or "/shortcut" then Tab in the reply box.
  document.addEventListener("change", function (ev) {
    var sel = ev.target.closest && ev.target.closest("select[data-insert]");
    if (!sel || !sel.value) return;
    var box = document.getElementById(sel.getAttribute("data-insert"));
    box.value = box.value ? box.value.replace(/\s*$/, " ") + sel.value : sel.value;
    sel.value = "";
    box.focus();
  });
  if (reply) {
    reply.querySelector("textarea").addEventListener("keydown", function (e) {
      if (e.key !== "Tab" || e.shiftKey) return;
      var area = e.target, m = /(^|\s)\/([a-z0-9_-]{1,32})$/.exec(area.value);
      if (!m) return;
      var opt = document.querySelector('#canned option[data-shortcut="' + m[2] + '"]');
      if (!opt) return;
      e.preventDefault();
      area.value = area.value.slice(0, area.value.length - m[2].length - 1) + opt.value;
    });
  }

  // ------------------------------------------------------------------ copy buttons
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-copy]");
    if (!b) return;
    var src = document.querySelector(b.getAttribute("data-copy"));
    if (!src) return;
    var text = src.textContent;
    var label = b.getAttribute("data-label") || b.textContent;
    b.setAttribute("data-label", label);
    var done = function () { b.textContent = "Copied"; announce("Copied to the clipboard"); setTimeout(function () { b.textContent = label; }, 2000); };
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, function () { select(src); });
    else select(src);
  });
  function select(el) {
    var r = document.createRange(); r.selectNodeContents(el);
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
    announce("Selected: press Ctrl+C to copy");
  }

  // ------------------------------------------------------------------ the phone
  var C = window.RingsideConsole = { state: "offline", offers: {}, callId: null, remoteStream: null };
  var ws = null, pc = null, stream = null, iceServers = [], ring = null, onHold = false;
  var box = document.getElementById("available");
  var ringing = document.getElementById("ringing");
  var bar = document.getElementById("callbar");
  function send(m) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(m)); }
  function setState(s) {
    C.state = s;
    var el = document.getElementById("call-state");
    if (el) el.textContent = s === "on call" ? "On a call" : s === "connecting" ? "Connecting…" : s === "on hold" ? "On hold" : "";
    if (bar) bar.hidden = !(s === "on call" || s === "connecting" || s === "on hold");
  }

  // The call lists on the page, once the call core has stored the change.
  function later() { setTimeout(function () { refresh(["calls-waiting", "home-stats", "call-live"]); }, 600); }

  function startRing() {
    if (ring) return;
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var gain = ctx.createGain(); gain.gain.value = 0; gain.connect(ctx.destination);
      var osc = ctx.createOscillator(); osc.frequency.value = 440; osc.connect(gain); osc.start();
      var osc2 = ctx.createOscillator(); osc2.frequency.value = 480; osc2.connect(gain); osc2.start();
      var on = false;
      var t = setInterval(function () { on = !on; gain.gain.value = on ? 0.08 : 0; }, 1000);
      ring = { stop: function () { clearInterval(t); try { ctx.close(); } catch (x) { /* closed */ } } };
    } catch (x) { ring = { stop: function () {} }; }
  }
  function stopRing() { if (ring) { ring.stop(); ring = null; } }

  function renderOffers() {
    var ids = Object.keys(C.offers);
    if (!ringing) return;
    ringing.textContent = "";
    ringing.hidden = ids.length === 0 || !!pc;
    if (ringing.hidden) { stopRing(); return; }
    ids.forEach(function (id) {
      var o = C.offers[id];
      var row = document.createElement("div");
      var who = o.visitorId ? "A visitor" : ("A caller " + (o.from || ""));
      var text = document.createElement("span");
      text.textContent = who + " is calling" + (o.widgetName ? " on " + o.widgetName : "") + ".";
      row.appendChild(text);
      [["Answer", false], ["Answer with video", true]].forEach(function (p) {
        var b = document.createElement("button");
        b.type = "button"; b.textContent = p[0];
        b.className = p[1] ? "secondary" : "";
        b.setAttribute("data-answer", id); if (p[1]) b.setAttribute("data-video", "");
        row.appendChild(b);
      });
      var open = document.createElement("a");
      open.href = "/calls/" + encodeURIComponent(id); open.textContent = "Details";
      row.appendChild(open);
      ringing.appendChild(row);
    });
    startRing();
  }

  function notify(o) {
    if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
    try {
      var n = new Notification("Incoming call", { body: o.visitorId ? "A visitor is calling from your site" : "A call is waiting", tag: o.callId });
      n.onclick = function () { window.focus(); n.close(); };
    } catch (x) { /* not allowed here */ }
  }

  function teardown(reason) {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    if (pc) pc.close();
    pc = null; stream = null; onHold = false;
    var v = document.getElementById("remote"); if (v) { v.srcObject = null; v.hidden = true; }
    C.endReason = reason;
    setState(ws && ws.readyState === 1 ? "available" : "offline");
    renderOffers();
    if (reason) announce("The call ended");
  }

  C.connect = function (widgetIds) {
    return new Promise(function (resolve, reject) {
      if (ws && ws.readyState <= 1) { resolve(); return; }
      ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/api/ws/console");
      ws.onopen = function () { ws.send(JSON.stringify({ type: "auth", widgetIds: widgetIds || [] })); };
      ws.onclose = function () {
        ws = null; C.offers = {}; renderOffers();
        if (!pc) setState("offline");
        reject(new Error("closed"));
        if (box && box.checked) setTimeout(function () { if (box.checked) C.connect().catch(function () {}); }, 3000);
      };
      ws.onmessage = function (e) {
        var m; try { m = JSON.parse(e.data); } catch (x) { return; }
        if (m.type === "auth:ok") { iceServers = m.iceServers || []; if (!pc) setState("available"); resolve(); }
        else if (m.type === "call.offered") { C.offers[m.callId] = m; renderOffers(); notify(m); announce("Incoming call"); later(); }
        else if (m.type === "call.offer.stopped") { delete C.offers[m.callId]; renderOffers(); later(); }
        else if (m.type === "call.answer" && pc) pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
        else if (m.type === "call.started") C.callId = m.callId;
        else if (m.type === "call.answered") { setState("on call"); announce("Call connected"); }
        else if (m.type === "call.ended" || m.type === "call.error") { C.error = m.error; teardown(m.reason || "failed"); }
      };
    });
  };
  C.disconnect = function () { if (ws) { var s = ws; ws = null; s.onclose = null; s.close(); } C.offers = {}; renderOffers(); if (!pc) setState("offline"); };

  C.answer = function (callId, opts) {
    opts = opts || {};
    if (pc) return Promise.reject(new Error("already on a call"));
    if (!ws || ws.readyState !== 1) return Promise.reject(new Error("not available: tick Available for calls"));
    setState("connecting");
    delete C.offers[callId]; stopRing(); renderOffers();
    return navigator.mediaDevices.getUserMedia({ audio: true, video: !!opts.video }).then(function (s) {
      stream = s;
      pc = new RTCPeerConnection({ iceServers: iceServers });
      s.getTracks().forEach(function (t) { pc.addTrack(t, s); });
      var audio = C.audioElement = new Audio(); audio.autoplay = true;
      pc.ontrack = function (e) {
        C.remoteStream = e.streams[0] || new MediaStream([e.track]);
        if (e.track.kind === "video") {
          var v = document.getElementById("remote"); v.srcObject = C.remoteStream; v.hidden = false; v.play().catch(function () {});
        } else { audio.srcObject = C.remoteStream; audio.play().catch(function () {}); }
      };
      pc.onconnectionstatechange = function () { C.media = pc && pc.connectionState; };
      return pc.createOffer().then(function (o) { return pc.setLocalDescription(o); }).then(function () {
        send({ type: "call.accept", callId: callId, sdp: pc.localDescription.sdp });
      });
    }).catch(function (e) { teardown(null); throw e; });
  };
  C.stats = function () { return pc ? pc.getStats().then(function (r) { var a = []; r.forEach(function (v) { a.push(v); }); return a; }) : Promise.resolve([]); };
  C.hangup = function () { if (pc) { send({ type: "call.hangup" }); teardown("hangup"); } };
  C.hold = function () { send({ type: "call.hold" }); onHold = true; setState("on hold"); toggleHold(); };
  C.resume = function () { send({ type: "call.resume" }); onHold = false; setState("on call"); toggleHold(); };
  function toggleHold() {
    var h = document.getElementById("call-hold"), r = document.getElementById("call-resume");
    if (h) h.hidden = onHold; if (r) r.hidden = !onHold;
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-answer]");
    if (!b) return;
    C.answer(b.getAttribute("data-answer"), { video: b.hasAttribute("data-video") }).catch(function (e) {
      var out = document.getElementById("status");
      if (A) A.say(out, "Could not answer: " + e.message);
    });
  });
  var hold = document.getElementById("call-hold"), resume = document.getElementById("call-resume"), hang = document.getElementById("call-hangup");
  if (hold) hold.addEventListener("click", C.hold);
  if (resume) resume.addEventListener("click", C.resume);
  if (hang) hang.addEventListener("click", C.hangup);
  window.addEventListener("beforeunload", function (e) { if (pc) { e.preventDefault(); e.returnValue = ""; } });

  if (box) {
    var saved = localStorage.getItem("ringside.available");
    box.checked = saved === null ? true : saved === "1";
    box.addEventListener("change", function () {
      localStorage.setItem("ringside.available", box.checked ? "1" : "0");
      if (box.checked) {
        if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(function () {});
        C.connect().catch(function () {});
      } else C.disconnect();
    });
    if (box.checked) C.connect().catch(function () {});
  }
})();
