// Ringside account pages: sign-in by emailed code, and the settings forms. Every call goes to
// the documented /api/v1 endpoints with the session cookie and the page's CSRF token.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  function api(method, url, body) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (csrf && method !== "GET") headers["X-CSRF-Token"] = csrf;
    return fetch(url, {
      method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (!r.ok) {
          var msg = data && data.error ? data.error.message : ("request failed (" + r.status + ")");
          if (r.status === 429) {
            var wait = r.headers.get("Retry-After");
            if (wait) msg += " (try again in " + wait + " s)";
          }
          var err = new Error(msg); err.status = r.status; throw err;
        }
        return data;
      });
    });
  }

  function say(box, text, ok) {
    if (!box) return;
    box.className = "alert " + (ok ? "ok" : "error");
    box.textContent = text;
    if (!ok) box.focus();
  }

  function busy(form, on) {
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = on; });
  }
  // base64url to bytes (a VAPID public key for pushManager.subscribe).
  function b64u(s) {
    var p = String(s).replace(/-/g, "+").replace(/_/g, "/");
    while (p.length % 4) p += "=";
    var raw = atob(p), a = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) a[i] = raw.charCodeAt(i);
    return a;
  }

  // This browser's push subscription for the server's key (the service worker registered
  // at the root, so it shows alerts for every page).
  function subscribePush(key) {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      return Promise.reject(new Error("this browser has no Web Push (or the page is not on HTTPS)"));
    }
    return navigator.serviceWorker.register("/sw.js").then(function () { return navigator.serviceWorker.ready; })
      .then(function (reg) { return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64u(key) }); });
  }
  window.RingsideAccount = { api: api, say: say, subscribePush: subscribePush };

  // After a change: re-read a region of this page ("#id"), go to a page, or reload.
  function after(then) {
    if (then && then.charAt(0) === "#" && window.RingsideDashboard) window.RingsideDashboard.refresh(then.slice(1));
    else if (then) location.assign(then);
    else location.reload();
  }

  // Sign in / sign up.
  var emailForm = document.getElementById("email-form");
  var codeForm = document.getElementById("code-form");
  if (emailForm && codeForm) {
    var status = document.getElementById("status");
    var params = new URLSearchParams(location.search);
    var invite = params.get("invite");
    var emailInput = document.getElementById("email");
    if (invite) {
      api("POST", "/api/v1/auth/invite", { invite: invite }).then(function (inv) {
        emailInput.value = inv.email;
        emailInput.readOnly = true;
        var note = document.getElementById("invite-note");
        note.textContent = "You are invited to join a team as " + inv.role + ". Sign in with the code we mail to " + inv.email + ".";
        note.hidden = false;
      }).catch(function (e) { say(status, "This invitation link does not work: " + e.message); invite = null; });
    }
    emailForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      busy(emailForm, true);
      api("POST", "/api/v1/auth/email-code", { email: emailInput.value }).then(function () {
        document.getElementById("code-email").textContent = emailInput.value;
        codeForm.hidden = false;
        say(status, "We sent a 6-digit code to " + emailInput.value + ". It works for 10 minutes.", true);
        document.getElementById("code").focus();
      }).catch(function (e) { say(status, e.message); })
        .then(function () { busy(emailForm, false); });
    });
    codeForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      busy(codeForm, true);
      var body = { email: emailInput.value, code: document.getElementById("code").value.trim() };
      if (invite) body.invite = invite;
      api("POST", "/api/v1/auth/session", body).then(function () {
        // Back to the page that sent here (a path on this server only), else the dashboard.
        var next = new URLSearchParams(location.search).get("next");
        location.assign(next && /^\/(?![\/\\])[^\\]*$/.test(next) ? next : "/");
      }).catch(function (e) { say(status, e.message); busy(codeForm, false); });
    });
  }

  // Settings: buttons and forms marked with data-* attributes.
  var out = document.getElementById("status");
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-method]");
    if (!b) return;
    var question = b.getAttribute("data-confirm");
    if (question && !window.confirm(question)) return;
    b.disabled = true;
    var raw = b.getAttribute("data-body");
    api(b.getAttribute("data-method"), b.getAttribute("data-url"), raw ? JSON.parse(raw) : undefined).then(function (r) {
      if (b.hasAttribute("data-report")) {
        // A test's answer (the AI provider's): said, the page stays.
        var ok = !!(r && r.ok);
        say(out, ok ? "It answered in " + r.latencyMs + " ms." : "It did not answer: " + ((r && r.error) || "no reason given"), ok);
        b.disabled = false;
        return;
      }
      after(b.getAttribute("data-then"));
    }).catch(function (e) { say(out, e.message); b.disabled = false; });
  });

  // A form's fields as JSON: checkboxes as lists (data-bool: true/false), number inputs as
  // numbers, data-list text as a list of its lines or words; with data-null-empty (all fields,
  // or the names it lists) an empty field is null.
  function formBody(form) {
    var body = {};
    var nullable = form.hasAttribute("data-null-empty") ? form.getAttribute("data-null-empty").split(/\s+/).filter(Boolean) : null;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.type === "file") return;
      if (el.type === "checkbox" && el.hasAttribute("data-bool")) {
        body[el.name] = el.checked;
      } else if (el.type === "checkbox") {
        if (!body[el.name]) body[el.name] = [];
        if (el.checked) body[el.name].push(el.value);
      } else if (el.type === "radio") {
        if (el.checked) body[el.name] = el.value;
      } else if (el.hasAttribute("data-list")) {
        body[el.name] = el.value.split(/[\s,]+/).filter(Boolean);
      } else if (el.type === "number") {
        body[el.name] = el.value === "" ? null : Number(el.value);
      } else if (nullable && el.value.trim() === "" && (nullable.length === 0 || nullable.indexOf(el.name) >= 0)) {
        body[el.name] = null;
      } else {
        body[el.name] = el.value;
      }
    });
    return body;
  }

  // A file as the raw body of a PUT (prompt uploads).
  function upload(form) {
    var input = form.querySelector("input[type=file]");
    var file = input && input.files[0];
    if (!file) return Promise.reject(new Error("choose a file first"));
    return fetch(form.getAttribute("data-url"), {
      method: form.getAttribute("data-method") || "PUT", credentials: "same-origin",
      headers: { "Content-Type": file.type || "audio/wav", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: file
    }).then(function (r) {
      if (r.ok) return null;
      return r.json().catch(function () { return null; }).then(function (d) {
        throw new Error(d && d.error ? d.error.message : "upload failed (" + r.status + ")");
      });
    });
  }

  // Delegated, so forms in regions the dashboard re-reads keep working.
  document.addEventListener("submit", function (ev) {
    var form = ev.target.closest && ev.target.closest("form[data-url]");
    if (!form) return;
    (function () {
      ev.preventDefault();
      var body = formBody(form);
      var kind = form.getAttribute("data-kind");
      if (kind === "push") {
        // Alerts in this browser: the service worker, a push subscription with the server's
        // VAPID key, then a rule whose channel is that subscription.
        busy(form, true);
        subscribePush(form.getAttribute("data-key")).then(function (sub) {
          var j = sub.toJSON();
          return api("POST", form.getAttribute("data-url"), {
            name: body.name, events: body.events || [],
            channel: { type: "webpush", subscription: { endpoint: j.endpoint, keys: j.keys } }
          });
        }).then(function () { after(form.getAttribute("data-then")); })
          .catch(function (e) { say(out, "Alerts in this browser could not be set up: " + e.message); busy(form, false); });
        return;
      }
      if (kind === "attach") {
        busy(form, true);
        fetch(form.getAttribute("data-url"), {
          method: "POST", credentials: "same-origin", body: new FormData(form),
          headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }
        }).then(function (r) {
          if (r.ok) { form.reset(); busy(form, false); after(form.getAttribute("data-then")); return; }
          return r.json().catch(function () { return null; }).then(function (d) {
            throw new Error(d && d.error ? d.error.message : "upload failed (" + r.status + ")");
          });
        }).catch(function (e) { say(out, e.message); busy(form, false); });
        return;
      }
      if (kind === "upload") {
        busy(form, true);
        upload(form).then(function () { say(out, "Uploaded.", true); busy(form, false); })
          .catch(function (e) { say(out, e.message); busy(form, false); });
        return;
      }
      if (kind === "snooze") body = { state: "snoozed", snoozedUntil: Date.now() + Number(body["for"]) * 1000 };
      if (kind === "hours") {
        body.intervals = [];
        Array.prototype.forEach.call(form.querySelectorAll("[data-day]"), function (row) {
          if (!row.querySelector("[data-open]").checked) return;
          body.intervals.push({ day: row.getAttribute("data-day"), open: row.querySelector("[data-from]").value,
            close: row.querySelector("[data-to]").value === "00:00" ? "24:00" : row.querySelector("[data-to]").value });
        });
      }
      if (kind === "assistant") {
        // "every" (null) or the ids ticked.
        body = {
          name: body.name, tone: body.tone, enabled: body.enabled, useModel: body.useModel,
          useLookups: body.useLookups,
          handover: { onRequest: body.onRequest, lowConfidence: body.lowConfidence, duringHoursOnly: body.duringHoursOnly },
          sourceIds: body.sourceIdsScope === "all" ? null : (body.sourceIds || []),
          integrationIds: body.integrationIdsScope === "all" ? null : (body.integrationIds || [])
        };
      }
      if (kind === "alert") {
        // A new ntfy alert: the channel, quiet hours and visitor filter nested; blanks left out.
        body = {
          name: body.name, events: body.events || [], groupSecs: body.groupSecs,
          widgetIds: body.scope === "some" ? (body.widgetIds || []) : null,
          channel: { type: "ntfy", url: body.url || undefined, topic: body.topic,
            token: body.token || undefined, priority: body.priority ? Number(body.priority) : undefined },
          quietHours: body.quietFrom && body.quietTo ? { from: body.quietFrom, to: body.quietTo, timeZone: body.timeZone || "UTC" } : null,
          visitorFilter: body.pageContains || body.campaign ? { pageContains: body.pageContains || undefined, campaign: body.campaign || undefined } : null
        };
      }
      if (kind === "email-alert") {
        // A new email alert: each alert, or one summary a day at a time in a zone.
        var digest = body.often === "digest";
        body = {
          name: body.name, events: body.events || [],
          channel: digest
            ? { type: "email", address: body.address, digest: true, digestAt: body.digestAt || "08:00", timeZone: body.timeZone || "UTC" }
            : { type: "email", address: body.address }
        };
      }
      if (kind === "provider" && body.apiKey === "") delete body.apiKey; // kept as stored
      if (kind === "integration") {
        // "path = Label" lines.
        body.fieldMap = String(body.fieldMap || "").split("\n").map(function (line) {
          var at = line.indexOf("=");
          var path = (at < 0 ? line : line.slice(0, at)).trim();
          return { path: path, label: at < 0 ? path : line.slice(at + 1).trim() };
        }).filter(function (f) { return f.path; });
      }
      if (form.getAttribute("data-kind") === "widgets") {
        body = { widgetIds: body.scope === "all" ? null : (body.widgetIds || []) };
      }
      if (form.getAttribute("data-kind") === "token") {
        var preset = body.preset; delete body.preset;
        if (preset !== "custom") body.scopes = (form.getAttribute("data-" + preset) || "").split(" ").filter(Boolean);
      }
      busy(form, true);
      api(form.getAttribute("data-method") || "POST", form.getAttribute("data-url"), body).then(function (r) {
        if (form.getAttribute("data-kind") === "token" && r && r.token) {
          var shown = document.getElementById("new-token");
          shown.hidden = false;
          document.getElementById("new-token-value").textContent = r.token;
          say(out, "Token created. Copy it now: it is not shown again.", true);
          document.getElementById("new-token-value").focus();
          busy(form, false);
          return;
        }
        if (kind === "secret" && r && r.secret) {
          // A webhook's signing secret (create, rotate): shown once in the data-show region.
          var box = document.querySelector(form.getAttribute("data-show"));
          var value = box.querySelector(".secret");
          value.textContent = r.secret; box.hidden = false;
          say(out, "Copy the signing secret now: it is not shown again.", true);
          form.reset(); busy(form, false); value.focus(); return;
        }
        if (kind === "new-widget" && r && r.id) { location.assign("/widgets/" + encodeURIComponent(r.id)); return; }
        if (kind === "link" && r && r.url) {
          var o = form.querySelector("output"); o.textContent = r.url; o.hidden = false;
          say(out, "Link made: it works for 24 hours.", true); busy(form, false); return;
        }
        if (kind === "navigate") { say(out, "Sent: the visitor's page follows within seconds.", true); form.reset(); busy(form, false); return; }
        var then = form.getAttribute("data-then");
        if (then && then.charAt(0) === "#") { form.reset(); busy(form, false); after(then); return; }
        if (then === "stay") { say(out, "Saved.", true); busy(form, false); return; }
        after(then);
      }).catch(function (e) { say(out, e.message); busy(form, false); });
    })();
  });

  // Time zone fields start as this browser's zone.
  Array.prototype.forEach.call(document.querySelectorAll("input[data-local-tz]"), function (i) {
    try { if (!i.value) i.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { i.value = "UTC"; }
  });

  // Scope checkboxes only matter for a custom token.
  Array.prototype.forEach.call(document.querySelectorAll('input[name="preset"]'), function (r) {
    r.addEventListener("change", function () {
      var custom = document.getElementById("custom-scopes");
      if (custom) custom.hidden = !(document.querySelector('input[name="preset"]:checked').value === "custom");
    });
  });

  // Selects that change at once (a user's role, a chat's assignee); "" is null.
  document.addEventListener("change", function (ev) {
    var s = ev.target.closest && ev.target.closest("select[data-url]");
    if (!s) return;
    s.disabled = true;
    var body = {}; body[s.getAttribute("data-field") || "role"] = s.value === "" ? null : s.value;
    api(s.getAttribute("data-method") || "PATCH", s.getAttribute("data-url"), body).then(function () {
      location.reload();
    }).catch(function (e) { say(out, e.message); s.disabled = false; });
  });
})();
