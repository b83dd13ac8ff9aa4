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
 * .operatorTyping (the team is typing a reply); .historyLoaded (the visitor's chat so far,
 * from /api/widgets/{id}/messages, is shown: after a reload or a dropped socket too);
 * .offline ("outside_hours" or "no_operator": the offline form shows instead of the chat,
 * sent to /widget/lead), .leadSent. The callback form takes an optional recorded voice note;
 * a "Video call" button shows when the widget's call settings allow video. */
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
  // Every request names the visitor in its query too: an HTTP edge in front of several
  // Ringside nodes keeps one visitor's socket and requests on one node by it.
  var q = "?key=" + encodeURIComponent(widgetKey) + "&visitorId=" + encodeURIComponent(visitorId);

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
  var shown = {};
  var rows = {};
  // Answers streaming in (assistant.delta), by stream id: their line and text so far.
  var streams = {};
  function streamDelta(id, text) {
    if (!ui || !id || typeof text !== "string") return;
    var s = streams[id];
    if (!s) {
      if (ui.greeting) { ui.greeting.remove(); ui.greeting = null; }
      s = streams[id] = { row: el("div", { "class": "rs-msg rs-assistant rs-streaming" }, ""), text: "" };
      ui.list.appendChild(s.row);
    }
    s.text += text;
    s.row.firstChild ? (s.row.firstChild.textContent = s.text) : s.row.appendChild(document.createTextNode(s.text));
    ui.list.scrollTop = ui.list.scrollHeight;
  }
  // The stored answer replaces its streamed text (same line, final words, sources).
  function streamDone(streamId, id, text, sources) {
    var s = streamId && streams[streamId];
    if (!s) return false;
    s.row.firstChild.textContent = text;
    s.row.classList.remove("rs-streaming");
    if (id) { shown[id] = true; rows[id] = s.row; }
    addSources(s.row, sources);
    delete streams[streamId];
    return true;
  }
  // Where an assistant's answer came from, under its line (http(s) links only).
  function addSources(row, sources) {
    if (!row || !sources || !sources.length || row.querySelector(".rs-sources")) return;
    var box = el("div", { "class": "rs-sources" }, "Sources: ");
    sources.forEach(function (src, i) {
      if (i) box.appendChild(document.createTextNode(" \u00b7 "));
      if (src.url && /^https?:\/\//i.test(src.url)) box.appendChild(el("a", { href: src.url, target: "_blank", rel: "noopener" }, src.title || src.url));
      else box.appendChild(el("span", null, src.title || ""));
    });
    row.appendChild(box);
  }
  // One chat line; `id` (a stored message's) keeps it from showing twice.
  function addMessage(who, text, id, file, sources) {
    if (!ui) return;
    if (id) { if (shown[id]) { addSources(rows[id], sources); return; } shown[id] = true; }
    if (ui.greeting && who !== "system") { ui.greeting.remove(); ui.greeting = null; }
    var row = el("div", { "class": "rs-msg rs-" + who }, text);
    if (file && file.url) {
      row.appendChild(document.createElement("br"));
      row.appendChild(el("a", { href: base + file.url + "&key=" + encodeURIComponent(widgetKey), download: file.fileName || "", rel: "noopener" }, "Download"));
    }
    if (id) rows[id] = row;
    addSources(row, sources);
    ui.list.appendChild(row);
    ui.list.scrollTop = ui.list.scrollHeight;
  }
  function senderClass(sender) { return sender === "visitor" ? "visitor" : sender === "assistant" ? "assistant" : "operator"; }
  // The visitor's chat so far (after a reload, or what arrived while the socket was down).
  function loadHistory() {
    return fetch(base + "/api/widgets/" + encodeURIComponent(widgetId) + "/messages" + q, { mode: "cors", credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        (j && j.messages || []).forEach(function (m) { addMessage(senderClass(m.sender), m.body, m.id, m.attachment); });
        window.Ringside.historyLoaded = true;
      }).catch(function () {});
  }
  function field(f) {
    var id = "rs-f-" + f.name;
    var box = el("label", { "class": "rs-field", "for": id }, (f.label || f.name) + (f.required ? " *" : ""));
    var input = el(f.type === "textarea" ? "textarea" : "input", { id: id, name: f.name, maxlength: f.type === "textarea" ? "4000" : "320" });
    if (f.type !== "textarea") input.setAttribute("type", f.type === "email" || f.type === "tel" ? f.type : "text");
    if (f.required) input.required = true;
    return [box, input];
  }
  function when(ms) {
    try { return new Date(ms).toLocaleString([], { weekday: "long", hour: "2-digit", minute: "2-digit" }); } catch (e) { return new Date(ms).toString(); }
  }
  function lum(hex) {
    var c = [1, 3, 5].map(function (i) {
      var v = parseInt(hex.substr(i, 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  function contrast(a, b) { var x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
  function darker(hex) {
    return "#" + [1, 3, 5].map(function (i) { return ("0" + Math.floor(parseInt(hex.substr(i, 2), 16) * 0.85).toString(16)).slice(-2); }).join("");
  }
  function build(cfg) {
    var w = (cfg && cfg.widget) || {};
    var avail = (cfg && cfg.availability) || { online: true };
    var off = (cfg && cfg.offlineForm) || {};
    var color = /^#[0-9a-fA-F]{6}$/.test(w.primaryColor || "") ? w.primaryColor : "#3B82F6";
    // Readable whatever the colour: text on it is white or near-black, whichever contrasts
    // more; the colour as text on white is darkened until it reads (WCAG AA, 4.5:1).
    var on = contrast(color, "#ffffff") >= contrast(color, "#111111") ? "#fff" : "#111";
    var ink = color;
    for (var k = 0; k < 24 && contrast(ink, "#ffffff") < 4.5; k++) ink = darker(ink);
    var side = w.position === "bottom-left" ? "left" : "right";
    var host = el("div", { id: "ringside-widget" });
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var style = el("style", {}, ":host{all:initial}" +
      ".rs-bubble{position:fixed;bottom:20px;" + side + ":20px;width:56px;height:56px;border-radius:50%;border:0;background:" + color + ";color:" + on + ";font:24px sans-serif;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.3);z-index:2147483646}" +
      ".rs-panel{position:fixed;bottom:88px;" + side + ":20px;width:320px;max-width:calc(100vw - 40px);height:460px;max-height:calc(100vh - 110px);background:#fff;border-radius:12px;box-shadow:0 4px 16px rgba(0,0,0,.25);display:none;flex-direction:column;font:14px/1.4 sans-serif;color:#111;z-index:2147483647;overflow:hidden}" +
      ".rs-open .rs-panel{display:flex}.rs-head{background:" + color + ";color:" + on + ";padding:10px 12px;display:flex;gap:8px;align-items:center;flex-wrap:wrap}" +
      ".rs-who{flex:1;min-width:0}.rs-name{font-weight:bold}.rs-title{font-size:12px}.rs-avatar{width:32px;height:32px;border-radius:50%;object-fit:cover;background:#fff}.rs-logo{max-height:24px;max-width:80px}" +
      ".rs-list{flex:1;overflow-y:auto;padding:8px}.rs-msg{margin:4px 0;padding:6px 10px;border-radius:10px;max-width:80%;white-space:pre-wrap;word-wrap:break-word}" +
      ".rs-visitor{background:" + color + ";color:" + on + ";margin-left:auto}.rs-operator,.rs-assistant,.rs-system{background:#f1f1f1}.rs-sources{font-size:12px;margin-top:4px;opacity:.8}.rs-sources a{color:inherit}" +
      ".rs-form{display:flex;border-top:1px solid #ddd}.rs-form input{flex:1;border:0;padding:10px;font:inherit}.rs-form button{border:0;background:none;color:" + ink + ";padding:0 12px;cursor:pointer;font:inherit}" +
      ".rs-call{border:1px solid " + on + ";border-radius:12px;background:none;color:" + on + ";cursor:pointer;font:12px sans-serif;padding:2px 8px}.rs-call-status{flex-basis:100%;font-size:12px}" +
      ".rs-typing{font-size:12px;color:#555;padding:0 10px;min-height:16px}.rs-cb{border:0;background:none;color:" + ink + ";cursor:pointer;padding:4px 8px;font:12px sans-serif;text-align:left}" +
      ".rs-sheet{padding:8px 12px;border-top:1px solid #ddd;overflow-y:auto;max-height:60%}.rs-sheet p{margin:0 0 6px}.rs-field{display:block;font-size:12px;margin:6px 0 2px;color:#333}" +
      ".rs-sheet input,.rs-sheet textarea{width:100%;box-sizing:border-box;border:1px solid #888;border-radius:6px;padding:6px;font:inherit}.rs-sheet textarea{height:56px}" +
      ".rs-act{margin-top:8px;display:flex;gap:8px;flex-wrap:wrap}.rs-act button{border:0;border-radius:6px;background:" + color + ";color:" + on + ";padding:6px 12px;cursor:pointer;font:inherit}.rs-act .rs-alt{background:#fff;color:#333;border:1px solid #888}" +
      ".rs-msg a{color:inherit;text-decoration:underline;font-weight:bold}[hidden]{display:none!important}");
    var wrap = el("div", { "class": "rs" });
    var bubble = el("button", { "class": "rs-bubble", "aria-label": "Chat with us", type: "button" }, "\u2709");
    var panel = el("div", { "class": "rs-panel", role: "dialog", "aria-label": "Chat" });
    var head = el("div", { "class": "rs-head" });
    if (/^https:\/\//.test(w.avatarUrl || "")) head.appendChild(el("img", { "class": "rs-avatar", src: w.avatarUrl, alt: "" }));
    var who = el("div", { "class": "rs-who" });
    who.appendChild(el("div", { "class": "rs-name" }, w.agentName || cfg.name || "Chat"));
    if (w.agentTitle) who.appendChild(el("div", { "class": "rs-title" }, w.agentTitle));
    head.appendChild(who);
    var logo = cfg.branding && cfg.branding.logo;
    if (/^https:\/\//.test(logo || "")) head.appendChild(el("img", { "class": "rs-logo", src: logo, alt: cfg.name || "" }));
    var list = el("div", { "class": "rs-list", "role": "log", "aria-live": "polite", "aria-label": "Chat messages", "tabindex": "0" });
    var typing = el("div", { "class": "rs-typing", "aria-live": "polite" });
    var form = el("form", { "class": "rs-form" });
    var input = el("input", { type: "text", maxlength: "4000", placeholder: w.inputPlaceholder || "Type your message...", "aria-label": "Message" });
    var send = el("button", { type: "submit" }, "Send");
    var attach = el("button", { type: "button", "aria-label": "Attach a file", title: "Attach a file" }, "\uD83D\uDCCE");
    var picker = el("input", { type: "file", hidden: "hidden", accept: ".png,.jpg,.jpeg,.gif,.webp,.pdf,.txt,.csv,.docx,.xlsx,.odt,.ods", "aria-label": "File" });
    attach.addEventListener("click", function () { picker.click(); });
    picker.addEventListener("change", function () {
      var f = picker.files && picker.files[0];
      if (!f) return;
      var fd = new FormData(); fd.append("visitorId", visitorId); fd.append("file", f, f.name);
      fetch(base + "/api/widgets/" + encodeURIComponent(widgetId) + "/attachments" + q, { method: "POST", mode: "cors", credentials: "omit", body: fd })
        .then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); })
        .then(function (x) {
          if (x[0] === 201) addMessage("visitor", "\uD83D\uDCCE " + x[1].fileName, x[1].messageId, x[1]);
          else addMessage("system", (x[1].error && x[1].error.message) || "File not sent.");
        }).catch(function () { addMessage("system", "File not sent."); });
      picker.value = "";
    });
    var cbLink = el("button", { "class": "rs-cb", type: "button" }, "Prefer a call back? Leave your number");
    var mailLink = el("button", { "class": "rs-cb rs-mail", type: "button" }, "Email me this chat");
    var callBtn = el("button", { "class": "rs-call", type: "button" }, "\u260E Call us");
    var videoBtn = el("button", { "class": "rs-call", type: "button" }, "Video call");
    var callStatus = el("span", { "class": "rs-call-status", "aria-live": "polite" });
    head.appendChild(callBtn);
    if (cfg.calls && cfg.calls.video) head.appendChild(videoBtn);
    head.appendChild(callStatus);
    form.appendChild(input); form.appendChild(send); form.appendChild(attach); form.appendChild(picker);
    panel.appendChild(head); panel.appendChild(list); panel.appendChild(typing); panel.appendChild(cbLink); panel.appendChild(mailLink); panel.appendChild(form);
    wrap.appendChild(bubble); wrap.appendChild(panel);
    root.appendChild(style); root.appendChild(wrap);
    document.body.appendChild(host);
    ui = { wrap: wrap, list: list, input: input, callBtn: callBtn, callStatus: callStatus, typing: typing, root: root };
    callBtn.addEventListener("click", function () {
      if (call) window.Ringside.hangup();
      else if (window.Ringside.incomingCall) window.Ringside.answer({}).catch(function () {});
      else startCall({}).catch(function () {});
    });
    videoBtn.addEventListener("click", function () { if (!call) startCall({ video: true }).catch(function () {}); });
    if (w.greeting) { ui.greeting = el("div", { "class": "rs-msg rs-operator" }, w.greeting); list.appendChild(ui.greeting); }
    bubble.addEventListener("click", function () { wrap.classList.toggle("rs-open"); if (wrap.classList.contains("rs-open")) { (ui.focus || input).focus(); track("widget_opened"); } });
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
        .then(function (r) {
          if (r.messageId) shown[r.messageId] = true;
          if (r.__status >= 400) addMessage("system", (r.error && r.error.message) || "Message not sent.");
          else if (r.reply) {
            showTyping(false);
            if (!streamDone(r.reply.streamId, r.reply.id, r.reply.body, r.reply.sources)) addMessage("assistant", r.reply.body, r.reply.id, null, r.reply.sources);
          }
        })
        .catch(function () { addMessage("system", "Message not sent."); });
    });

    // A form sheet under the chat: the offline form, or the callback form.
    function sheet(intro, fields, submitLabel, onSubmit, withVoice) {
      var box = el("form", { "class": "rs-sheet" });
      box.appendChild(el("p", {}, intro));
      fields.forEach(function (f) { field(f).forEach(function (n) { box.appendChild(n); }); });
      var voice = null, rec = null, chunks = [], started = 0;
      var act = el("div", { "class": "rs-act" });
      act.appendChild(el("button", { type: "submit" }, submitLabel));
      if (withVoice && window.MediaRecorder && navigator.mediaDevices) {
        var vb = el("button", { type: "button", "class": "rs-alt" }, "Record a voice note");
        var vs = el("span", { "aria-live": "polite" });
        vb.addEventListener("click", function () {
          if (rec) { rec.stop(); return; }
          navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
            chunks = []; rec = new MediaRecorder(stream); started = Date.now();
            rec.ondataavailable = function (e) { if (e.data && e.data.size) chunks.push(e.data); };
            rec.onstop = function () {
              stream.getTracks().forEach(function (t) { t.stop(); });
              voice = new Blob(chunks, { type: rec.mimeType || "audio/webm" }); rec = null;
              vb.textContent = "Record again";
              vs.textContent = "Voice note: " + Math.round((Date.now() - started) / 1000) + " s";
            };
            rec.start(); vb.textContent = "Stop recording"; vs.textContent = "Recording\u2026";
            setTimeout(function () { if (rec) rec.stop(); }, 60000);
          }).catch(function () { vs.textContent = "No microphone"; });
        });
        act.appendChild(vb); act.appendChild(vs);
      }
      box.appendChild(act);
      box.addEventListener("submit", function (e) {
        e.preventDefault();
        var data = {};
        fields.forEach(function (f) { var el = box.elements[f.name]; var v = el && el.value ? el.value.trim() : ""; if (v) data[f.name] = v; });
        onSubmit(data, voice, box);
      });
      return box;
    }
    var offlineFields = off.enabled && off.fields && off.fields.length ? off.fields : [
      { name: "name", label: "Name", type: "text" },
      { name: "email", label: "Email", type: "email", required: true },
      { name: "message", label: "Message", type: "textarea" }];
    function showOffline() {
      var intro = off.message || (avail.reason === "outside_hours"
        ? "We are away right now." + (avail.backAt ? " We are back " + when(avail.backAt) + "." : "") + " Leave your details and we will get back to you."
        : "No one is available right now. Leave your details and we will get back to you.");
      var s = sheet(intro, offlineFields, "Send", function (data, _v, box) {
        data.clientId = widgetId; data.widgetKey = widgetKey; data.domain = location.hostname; data.visitorId = visitorId;
        if (data.message) data.originalQuestion = data.message;
        post("/widget/lead", data).then(function (r) {
          if (r.__status < 300) { box.remove(); addMessage("system", r.message || "Thanks, we will get back to you."); window.Ringside.leadSent = true; }
          else addMessage("system", (r.error && r.error.message) || "Not sent.");
        }).catch(function () { addMessage("system", "Not sent."); });
      }, false);
      form.hidden = true; cbLink.hidden = true; callBtn.hidden = true; videoBtn.hidden = true;
      panel.appendChild(s);
      ui.focus = s.querySelector("input,textarea");
      window.Ringside.offline = avail.reason || "offline";
    }
    if (!avail.online) showOffline();
    cbLink.addEventListener("click", function () {
      if (ui.callback) { ui.callback.remove(); ui.callback = null; return; }
      var s = ui.callback = sheet("Leave your number and we will call you back.", [
        { name: "name", label: "Name", type: "text" },
        { name: "phone", label: "Phone", type: "tel", required: true },
        { name: "email", label: "Email", type: "email" },
        { name: "message", label: "What is it about?", type: "textarea" }], "Call me back", function (data, voice, box) {
        var fd = new FormData();
        Object.keys(data).forEach(function (k) { fd.append(k, data[k]); });
        fd.append("visitorId", visitorId);
        if (voice) fd.append("voiceNote", voice, "voice-note." + (/ogg/.test(voice.type) ? "ogg" : "webm"));
        fetch(base + "/api/widgets/" + encodeURIComponent(widgetId) + "/callbacks" + q, { method: "POST", mode: "cors", credentials: "omit", body: fd })
          .then(function (r) {
            if (r.ok) { box.remove(); ui.callback = null; addMessage("system", "Thanks, we will call you back."); }
            else return r.json().then(function (j) { addMessage("system", (j.error && j.error.message) || "Not sent."); });
          }).catch(function () { addMessage("system", "Not sent."); });
      }, true);
      panel.insertBefore(s, form);
      var first = s.querySelector("input"); if (first) first.focus();
    });
    // A copy of the chat by email.
    mailLink.addEventListener("click", function () {
      if (ui.transcript) { ui.transcript.remove(); ui.transcript = null; return; }
      var s = ui.transcript = sheet("We will email you a copy of this chat.", [
        { name: "email", label: "Email", type: "email", required: true }], "Send", function (data, _v, box) {
        post("/api/widgets/" + encodeURIComponent(widgetId) + "/transcript", { visitorId: visitorId, email: data.email || "" }).then(function (r) {
          if (r.__status < 300) { box.remove(); ui.transcript = null; addMessage("system", "A copy of this chat is on its way to " + data.email + "."); }
          else addMessage("system", (r.error && r.error.message) || "Not sent.");
        }).catch(function () { addMessage("system", "Not sent."); });
      }, false);
      panel.insertBefore(s, form);
      var first = s.querySelector("input"); if (first) first.focus();
    });
    loadHistory();
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
  var backoff = 1000, dropped = false, leaving = false, opening = null;
  function connect() {
    if (!window.WebSocket || leaving) return;
    var url = base.replace(/^http/, "ws") + "/api/widgets/" + encodeURIComponent(widgetId) + "/ws" + q;
    var ws;
    try { ws = opening = new WebSocket(url); } catch (e) { return; }
    ws.onopen = function () { backoff = 1000; sock = ws; window.Ringside.connected = true; if (dropped) loadHistory(); };
    ws.onmessage = function (e) {
      var m; try { m = JSON.parse(e.data); } catch (x) { return; }
      if (m.type === "ready") { iceServers = Array.isArray(m.iceServers) ? m.iceServers : []; window.Ringside.channelNumber = m.channelNumber; }
      else if (m.type === "assistant.delta") { showTyping(false); streamDelta(m.streamId, m.text); }
      else if (m.type === "message" && m.data) {
        showTyping(false);
        if (m.data.streamId && streamDone(m.data.streamId, m.data.id, m.data.body)) { if (ui) ui.wrap.classList.add("rs-open"); return; }
        var att = m.data.attachment;
        addMessage(senderClass(m.data.sender), m.data.body, m.data.id, att && { fileName: att.fileName,
          url: "/api/widgets/" + encodeURIComponent(widgetId) + "/attachments/" + encodeURIComponent(att.id) + "?visitorId=" + encodeURIComponent(visitorId) });
        if (ui) ui.wrap.classList.add("rs-open");
      }
      else if (m.type === "typing") showTyping(m.typing !== false);
      else if (m.type === "navigate") command(m);
      else if (typeof m.type === "string" && m.type.indexOf("call.") === 0) callMessage(m);
    };
    ws.onclose = function () {
      window.Ringside.connected = false; dropped = true;
      sock = null;
      // The server hangs up a call whose socket closes.
      endCall("failed");
      if (opening === ws) opening = null;
      if (leaving) return;
      setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 60000);
    };
  }
  // A page left for another closes its socket: kept in the back-forward cache it would stay
  // open, frozen, and take the operator's commands (direct-navigate) without running them.
  // Shown again from that cache, it connects again.
  window.addEventListener("pagehide", function () {
    leaving = true;
    if (opening) opening.close();
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted && leaving) { leaving = false; backoff = 1000; connect(); }
  });

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
