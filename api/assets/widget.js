/*! Ringside website widget. Served by Ringside at /widget.js; loaded by the one script tag
 * of the install snippet:
 *   <script src="https://calls.example.com/widget.js" data-widget-id="..." data-widget-key="wk_..." async></script>
 * It tracks page views and interactions (heartbeats keep the visitor live), shows a chat
 * bubble, sends chat messages and callback requests, and listens on the widget socket for
 * operator replies and direct-navigate commands. Plain ES2017, no dependencies.
 * Page API: window.Ringside.open(), .close(), .identify({key: value}), .visitorId,
 * .connected (the widget socket is open), .call({name, audio}) (a browser call over WebRTC,
 * signalled on the widget socket; resolves once the offer is sent), .hangup(), .callState
 * ("idle", "connecting", "ringing", "answered", "unavailable", "ended"), .callEndReason,
 * .callId, .remoteStream (what the answering side sends); calls to the visitor (a PBX
 * dialling its .channelNumber): .incomingCall ({callId, from}, callState "incoming"),
 * .answer({audio}), .decline(); .hold() / .resume() (the other side hears hold music);
 * .operatorTyping (the team is typing a reply). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.Ringside) return;
  var widgetId = script.getAttribute("data-widget-id");
  var widgetKey = script.getAttribute("data-widget-key");
  if (!widgetId || !widgetKey) return;
  var base = new URL(script.src, location.href).origin;
  var HEARTBEAT_MS = 15000;

  function store(kind, name, make) {
    try {
      var s = window[kind], v = s.getItem(name);
      if (!v) { v = make(); s.setItem(name, v); }
      return v;
    } catch (e) { return make(); }
  }
  function randomId(prefix) {
    var a = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return prefix + Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  var visitorId = store("localStorage", "ringside_vid_" + widgetId, function () { return randomId("v_"); });
  var sessionId = store("sessionStorage", "ringside_sid_" + widgetId, function () { return randomId("s_"); });
  var metadata = null;
  var q = "?key=" + encodeURIComponent(widgetKey);

  // A JSON POST without a CORS preflight (text/plain; Ringside reads the body as JSON).
  function post(path, body, keepalive) {
    return fetch(base + path + q, {
      method: "POST", mode: "cors", credentials: "omit", keepalive: !!keepalive,
      headers: { "Content-Type": "text/plain;charset=UTF-8" }, body: JSON.stringify(body)
    }).then(function (r) { return r.json().catch(function () { return {}; }).then(function (j) { j.__status = r.status; return j; }); });
  }

  // ---------------------------------------------------------------- tracking
  var lastUrl = location.href;
  function track(event, extra, keepalive) {
    var body = { visitorId: visitorId, sessionId: sessionId, event: event, url: location.href,
                 title: document.title, referrer: document.referrer || undefined,
                 timestamp: new Date().toISOString() };
    if (metadata) { body.metadata = metadata; metadata = null; }
    if (extra) for (var k in extra) body[k] = extra[k];
    return post("/api/widgets/" + encodeURIComponent(widgetId) + "/track", body, keepalive)
      .then(function (r) { (r.commands || []).forEach(command); return r; })
      .catch(function () {});
  }
  function throttle(fn, ms) {
    var last = 0;
    return function () { var now = Date.now(); if (now - last >= ms) { last = now; fn(); } };
  }
  function pageChanged() {
    if (location.href !== lastUrl) { lastUrl = location.href; track("page_change"); }
  }
  ["pushState", "replaceState"].forEach(function (m) {
    var orig = history[m];
    history[m] = function () { var r = orig.apply(this, arguments); setTimeout(pageChanged, 0); return r; };
  });
  window.addEventListener("popstate", pageChanged);
  document.addEventListener("click", throttle(function () { track("click"); }, 1000), true);
  window.addEventListener("scroll", throttle(function () { track("scroll"); }, 5000), { passive: true });
  document.addEventListener("change", throttle(function () { track("form_change"); }, 2000), true);
  setInterval(function () { if (!document.hidden) track("heartbeat"); }, HEARTBEAT_MS);

  function command(c) {
    if (c && c.type === "navigate" && typeof c.url === "string") {
      var target = new URL(c.url, location.href);
      if (target.protocol === "https:" || target.protocol === "http:") location.assign(target.href);
    }
  }

  // ---------------------------------------------------------------- UI
  var ui = null, config = null;
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }
  function addMessage(who, text) {
    if (!ui) return;
    var row = el("div", { "class": "rs-msg rs-" + who }, text);
    ui.list.appendChild(row);
    ui.list.scrollTop = ui.list.scrollHeight;
    try {
      var h = JSON.parse(sessionStorage.getItem("ringside_log_" + widgetId) || "[]");
      h.push([who, text]); sessionStorage.setItem("ringside_log_" + widgetId, JSON.stringify(h.slice(-50)));
    } catch (e) {}
  }
  function build(cfg) {
    var w = (cfg && cfg.widget) || {};
    var color = /^#[0-9a-fA-F]{6}$/.test(w.primaryColor || "") ? w.primaryColor : "#3B82F6";
    var side = w.position === "bottom-left" ? "left" : "right";
    var host = el("div", { id: "ringside-widget" });
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var style = el("style", {}, ":host{all:initial}" +
      ".rs-bubble{position:fixed;bottom:20px;" + side + ":20px;width:56px;height:56px;border-radius:50%;border:0;background:" + color + ";color:#fff;font:24px sans-serif;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.3);z-index:2147483646}" +
      ".rs-panel{position:fixed;bottom:88px;" + side + ":20px;width:320px;max-width:calc(100vw - 40px);height:420px;background:#fff;border-radius:12px;box-shadow:0 4px 16px rgba(0,0,0,.25);display:none;flex-direction:column;font:14px/1.4 sans-serif;color:#111;z-index:2147483647;overflow:hidden}" +
      ".rs-open .rs-panel{display:flex}.rs-head{background:" + color + ";color:#fff;padding:12px}" +
      ".rs-list{flex:1;overflow-y:auto;padding:8px}.rs-msg{margin:4px 0;padding:6px 10px;border-radius:10px;max-width:80%;white-space:pre-wrap;word-wrap:break-word}" +
      ".rs-visitor{background:" + color + ";color:#fff;margin-left:auto}.rs-operator,.rs-system{background:#f1f1f1}" +
      ".rs-form{display:flex;border-top:1px solid #ddd}.rs-form input{flex:1;border:0;padding:10px;font:inherit}.rs-form button{border:0;background:none;color:" + color + ";padding:0 12px;cursor:pointer;font:inherit}" +
      ".rs-call{float:right;border:1px solid #fff;border-radius:12px;background:none;color:#fff;cursor:pointer;font:12px sans-serif;padding:2px 8px}.rs-call-status{display:block;font-size:12px;opacity:.9}" +
      ".rs-typing{font-size:12px;color:#555;padding:0 10px;min-height:16px}.rs-cb{border:0;background:none;color:" + color + ";cursor:pointer;padding:4px 8px;font:12px sans-serif;text-align:left}");
    var wrap = el("div", { "class": "rs" });
    var bubble = el("button", { "class": "rs-bubble", "aria-label": "Chat with us", type: "button" }, "\u2709");
    var panel = el("div", { "class": "rs-panel", role: "dialog", "aria-label": "Chat" });
    var head = el("div", { "class": "rs-head" }, w.agentName || cfg.name || "Chat");
    var list = el("div", { "class": "rs-list", "aria-live": "polite" });
    var typing = el("div", { "class": "rs-typing", "aria-live": "polite" });
    var form = el("form", { "class": "rs-form" });
    var input = el("input", { type: "text", maxlength: "4000", placeholder: w.inputPlaceholder || "Type your message...", "aria-label": "Message" });
    var send = el("button", { type: "submit" }, "Send");
    var cbLink = el("button", { "class": "rs-cb", type: "button" }, "Prefer a call back? Leave your number");
    var callBtn = el("button", { "class": "rs-call", type: "button" }, "\u260E Call us");
    var callStatus = el("span", { "class": "rs-call-status", "aria-live": "polite" });
    head.appendChild(callBtn); head.appendChild(callStatus);
    form.appendChild(input); form.appendChild(send);
    panel.appendChild(head); panel.appendChild(list); panel.appendChild(typing); panel.appendChild(cbLink); panel.appendChild(form);
    wrap.appendChild(bubble); wrap.appendChild(panel);
    root.appendChild(style); root.appendChild(wrap);
    document.body.appendChild(host);
    ui = { wrap: wrap, list: list, input: input, callBtn: callBtn, callStatus: callStatus, typing: typing };
    callBtn.addEventListener("click", function () {
      if (call) window.Ringside.hangup();
      else if (window.Ringside.incomingCall) window.Ringside.answer({}).catch(function () {});
      else startCall({}).catch(function () {});
    });
    var seen = false;
    try { JSON.parse(sessionStorage.getItem("ringside_log_" + widgetId) || "[]").forEach(function (m) {
      seen = true; var row = el("div", { "class": "rs-msg rs-" + m[0] }, m[1]); list.appendChild(row); }); } catch (e) {}
    if (!seen && w.greeting) list.appendChild(el("div", { "class": "rs-msg rs-operator" }, w.greeting));
    bubble.addEventListener("click", function () { wrap.classList.toggle("rs-open"); if (wrap.classList.contains("rs-open")) { input.focus(); track("widget_opened"); } });
    var typedAt = 0;
    input.addEventListener("input", function () {
      var now = Date.now();
      if (now - typedAt < 2000) return;
      typedAt = now;
      sendSock({ type: "typing", typing: input.value.length > 0 });
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      input.value = ""; typedAt = 0;
      addMessage("visitor", text);
      post("/api/widgets/" + encodeURIComponent(widgetId) + "/chat", { sessionId: visitorId, visitorId: visitorId, message: text })
        .then(function (r) { if (r.__status >= 400) addMessage("system", (r.error && r.error.message) || "Message not sent."); })
        .catch(function () { addMessage("system", "Message not sent."); });
    });
    cbLink.addEventListener("click", function () {
      var phone = window.prompt("Your phone number (we will call you back):");
      if (!phone) return;
      post("/api/widgets/" + encodeURIComponent(widgetId) + "/callbacks", { visitorId: visitorId, phone: phone, message: "Callback requested from " + location.href })
        .then(function (r) { addMessage("system", r.__status < 300 ? "Thanks, we will call you back." : ((r.error && r.error.message) || "Not sent.")); });
    });
  }

  // ---------------------------------------------------------------- calls (WebRTC)
  var sock = null, iceServers = [], call = null;
  function sendSock(m) { if (sock && sock.readyState === 1) sock.send(JSON.stringify(m)); }
  function setCall(state, reason) {
    window.Ringside.callState = state;
    if (reason !== undefined) window.Ringside.callEndReason = reason;
    if (ui && ui.callBtn) {
      var live = state === "connecting" || state === "ringing" || state === "answered" || state === "unavailable";
      ui.callBtn.textContent = state === "incoming" ? "Answer" : live ? "Hang up" : "\u260E Call us";
      ui.callStatus.textContent = { incoming: "Incoming call", connecting: "Connecting\u2026", ringing: "Ringing\u2026", answered: "On call", unavailable: "No one is available", ended: "Call ended" }[state] || "";
    }
  }
  function endCall(reason) {
    if (!call) return;
    try { call.stream.getTracks().forEach(function (t) { t.stop(); }); } catch (e) {}
    try { call.pc.close(); } catch (e) {}
    var v = window.Ringside.remoteVideo;
    if (v) { v.srcObject = null; if (v.parentNode) v.parentNode.removeChild(v); window.Ringside.remoteVideo = null; }
    call = null;
    setCall("ended", reason);
  }
  function startCall(opts, acceptId) {
    opts = opts || {};
    if (call) return Promise.reject(new Error("a call is in progress"));
    if (!sock || sock.readyState !== 1) return Promise.reject(new Error("not connected"));
    if (!navigator.mediaDevices || !window.RTCPeerConnection) return Promise.reject(new Error("calls need WebRTC"));
    setCall("connecting", null);
    // Video (opts.video) is seen by a console operator who answers with video; phones and
    // PSTN numbers get the audio only.
    return navigator.mediaDevices.getUserMedia({ audio: opts.audio || true, video: opts.video || false }).then(function (stream) {
      var pc = new RTCPeerConnection({ iceServers: iceServers });
      call = { pc: pc, stream: stream, audio: new Audio() };
      call.audio.autoplay = true;
      stream.getTracks().forEach(function (t) { pc.addTrack(t, stream); });
      preferVideoCodec(pc, opts.videoCodec);
      pc.ontrack = function (e) {
        var rs = (e.streams && e.streams[0]) || new MediaStream([e.track]);
        window.Ringside.remoteStream = rs;
        if (!call) return;
        if (e.track.kind === "video") showVideo(rs);
        else { call.audio.srcObject = rs; call.audio.play().catch(function () {}); }
      };
      pc.onicecandidate = function (e) {
        if (e.candidate && e.candidate.candidate) sendSock({ type: "call.candidate", candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex });
      };
      pc.onconnectionstatechange = function () { window.Ringside.callMedia = pc.connectionState; };
      return pc.createOffer().then(function (o) { return pc.setLocalDescription(o); }).then(function () {
        if (acceptId) sendSock({ type: "call.accept", callId: acceptId, sdp: pc.localDescription.sdp });
        else sendSock({ type: "call.start", sdp: pc.localDescription.sdp, name: String(opts.name || "") });
      });
    }).catch(function (e) { endCall("failed"); throw e; });
  }
  // Put one video codec ("VP8", "H264") first in the offer, when the browser has it.
  function preferVideoCodec(pc, name) {
    if (!name || !window.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) return;
    var caps = RTCRtpReceiver.getCapabilities("video");
    if (!caps) return;
    var want = "video/" + String(name).toLowerCase();
    var first = caps.codecs.filter(function (c) { return c.mimeType.toLowerCase() === want; });
    if (!first.length) return;
    var rest = caps.codecs.filter(function (c) { return c.mimeType.toLowerCase() !== want; });
    pc.getTransceivers().forEach(function (t) {
      if (t.sender && t.sender.track && t.sender.track.kind === "video" && t.setCodecPreferences) t.setCodecPreferences(first.concat(rest));
    });
  }
  function showVideo(rs) {
    var v = window.Ringside.remoteVideo;
    if (!v) {
      v = window.Ringside.remoteVideo = document.createElement("video");
      v.autoplay = true; v.playsInline = true; v.muted = true;
      v.setAttribute("style", "width:100%;max-height:240px;background:#000;border-radius:6px;margin-top:6px");
      if (ui && ui.callStatus && ui.callStatus.parentNode) ui.callStatus.parentNode.appendChild(v);
    }
    v.srcObject = rs;
    v.play().catch(function () {});
  }
  function callMessage(m) {
    if (m.type === "call.answer" && call) call.pc.setRemoteDescription({ type: "answer", sdp: m.sdp }).catch(function () { sendSock({ type: "call.hangup" }); endCall("failed"); });
    else if (m.type === "call.started") window.Ringside.callId = m.callId;
    else if (m.type === "call.ringing") { if (window.Ringside.callState === "connecting") setCall("ringing"); }
    else if (m.type === "call.answered") setCall("answered");
    else if (m.type === "call.unavailable") setCall("unavailable");
    else if (m.type === "call.incoming") {
      window.Ringside.incomingCall = { callId: m.callId, from: m.from };
      if (!call) setCall("incoming");
    }
    else if (m.type === "call.incoming.stopped") {
      // A call ringing this page stopped (answered here or in another tab, or gone).
      var inc = window.Ringside.incomingCall;
      if (inc && inc.callId === m.callId) window.Ringside.incomingCall = null;
      if (!call && window.Ringside.callState === "incoming") setCall("ended", m.reason);
    }
    else if (m.type === "call.ended") endCall(m.reason);
    else if (m.type === "call.error") { window.Ringside.callError = m.error; endCall("failed"); }
  }

  // ---------------------------------------------------------------- widget socket
  var backoff = 1000;
  function connect() {
    if (!window.WebSocket) return;
    var url = base.replace(/^http/, "ws") + "/api/widgets/" + encodeURIComponent(widgetId) + "/ws" + q + "&visitorId=" + encodeURIComponent(visitorId);
    var ws;
    try { ws = new WebSocket(url); } catch (e) { return; }
    ws.onopen = function () { backoff = 1000; sock = ws; window.Ringside.connected = true; };
    ws.onmessage = function (e) {
      var m; try { m = JSON.parse(e.data); } catch (x) { return; }
      if (m.type === "ready") { iceServers = Array.isArray(m.iceServers) ? m.iceServers : []; window.Ringside.channelNumber = m.channelNumber; }
      else if (m.type === "message" && m.data) { showTyping(false); addMessage("operator", m.data.body); if (ui) ui.wrap.classList.add("rs-open"); }
      else if (m.type === "typing") showTyping(m.typing !== false);
      else if (m.type === "navigate") command(m);
      else if (typeof m.type === "string" && m.type.indexOf("call.") === 0) callMessage(m);
    };
    ws.onclose = function () {
      window.Ringside.connected = false;
      sock = null;
      // The server hangs up a call whose socket closes.
      endCall("failed");
      setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 60000);
    };
  }

  var typingTimer = null;
  function showTyping(on) {
    window.Ringside.operatorTyping = on;
    if (ui) ui.typing.textContent = on ? "Typing\u2026" : "";
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { showTyping(false); }, 6000);
  }

  window.Ringside = {
    visitorId: visitorId,
    operatorTyping: false,
    connected: false,
    open: function () { if (ui) ui.wrap.classList.add("rs-open"); },
    close: function () { if (ui) ui.wrap.classList.remove("rs-open"); },
    identify: function (meta) { if (meta && typeof meta === "object") { metadata = meta; track("identify"); } },
    callState: "idle",
    call: startCall,
    // The call's WebRTC statistics (RTCStatsReport values), for diagnostics.
    stats: function () { return call ? call.pc.getStats().then(function (r) { var a = []; r.forEach(function (v) { a.push(v); }); return a; }) : Promise.resolve([]); },
    hangup: function () { if (call) { sendSock({ type: "call.hangup" }); endCall("hangup"); } },
    hold: function () { if (call) { call.stream.getTracks().forEach(function (t) { t.enabled = false; }); sendSock({ type: "call.hold" }); window.Ringside.onHold = true; } },
    resume: function () { if (call) { call.stream.getTracks().forEach(function (t) { t.enabled = true; }); sendSock({ type: "call.resume" }); window.Ringside.onHold = false; } },
    answer: function (opts) {
      var inc = window.Ringside.incomingCall;
      if (!inc) return Promise.reject(new Error("no call is ringing"));
      window.Ringside.incomingCall = null;
      return startCall(opts, inc.callId);
    },
    decline: function () {
      var inc = window.Ringside.incomingCall;
      if (!inc) return;
      window.Ringside.incomingCall = null;
      sendSock({ type: "call.decline", callId: inc.callId });
      setCall("ended", "declined");
    }
  };

  function start() {
    track("page_view");
    fetch(base + "/api/widgets/" + encodeURIComponent(widgetId) + "/config" + q, { mode: "cors", credentials: "omit" })
      .then(function (r) { return r.json(); })
      .then(function (j) { config = j.config || {}; build(config); connect(); })
      .catch(function () {});
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
