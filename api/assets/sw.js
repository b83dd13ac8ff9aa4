// Ringside's service worker: shows Web Push alerts while the dashboard is closed, and opens
// the alert's page of the dashboard when the notification is clicked.
"use strict";
self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (ev) { ev.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (ev) {
  var d = {};
  try { d = ev.data ? ev.data.json() : {}; } catch (e) { d = { body: ev.data ? ev.data.text() : "" }; }
  var actions = (d.actions || []).slice(0, 2).map(function (a, i) {
    return { action: "a" + i, title: String(a.label || "Open") };
  });
  ev.waitUntil(self.registration.showNotification(String(d.title || "Ringside"), {
    body: String(d.body || ""),
    tag: d.tag || undefined,
    renotify: !!d.tag,
    requireInteraction: !!d.urgent,
    data: { url: d.url || "/", actions: (d.actions || []).slice(0, 2).map(function (a) { return a.url; }) },
    actions: actions
  }));
});

self.addEventListener("notificationclick", function (ev) {
  ev.notification.close();
  var data = ev.notification.data || {};
  var url = data.url || "/";
  if (ev.action && ev.action.charAt(0) === "a") {
    var picked = (data.actions || [])[Number(ev.action.slice(1))];
    if (picked) url = picked;
  }
  // Only this server's pages.
  try { if (new URL(url, self.location.origin).origin !== self.location.origin) url = "/"; } catch (e) { url = "/"; }
  ev.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].url === url && "focus" in list[i]) return list[i].focus();
    }
    return self.clients.openWindow(url);
  }));
});
