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
        location.assign("/");
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
    api(b.getAttribute("data-method"), b.getAttribute("data-url")).then(function () {
      var to = b.getAttribute("data-then");
      if (to) location.assign(to); else location.reload();
    }).catch(function (e) { say(out, e.message); b.disabled = false; });
  });

  function formBody(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled) return;
      if (el.type === "checkbox") {
        if (!body[el.name]) body[el.name] = [];
        if (el.checked) body[el.name].push(el.value);
      } else if (el.type === "radio") {
        if (el.checked) body[el.name] = el.value;
      } else {
        body[el.name] = el.value;
      }
    });
    return body;
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-url]"), function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = formBody(form);
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
        location.reload();
      }).catch(function (e) { say(out, e.message); busy(form, false); });
    });
  });

  // Scope checkboxes only matter for a custom token.
  Array.prototype.forEach.call(document.querySelectorAll('input[name="preset"]'), function (r) {
    r.addEventListener("change", function () {
      var custom = document.getElementById("custom-scopes");
      if (custom) custom.hidden = !(document.querySelector('input[name="preset"]:checked').value === "custom");
    });
  });

  // Role selects change at once.
  Array.prototype.forEach.call(document.querySelectorAll("select[data-url]"), function (s) {
    s.addEventListener("change", function () {
      s.disabled = true;
      api("PATCH", s.getAttribute("data-url"), { role: s.value }).then(function () {
        location.reload();
      }).catch(function (e) { say(out, e.message); s.disabled = false; });
    });
  });
})();
