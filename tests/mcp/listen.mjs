// Live events through the official TypeScript SDK (revision 2025-11-25: resources/subscribe in
// the initialize session; the SDK opens the session's GET stream). For the e2e tests.
//
//     node listen.mjs URL TOKEN
//
// Subscribes to the live resources, prints `SUBSCRIBED`, waits for a visitor arriving and a
// chat message (the test makes both happen), reads the two resources, and prints one JSON line.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const [url, token] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "ringside-e2e-listen", version: "1.0.0" });
const updates = [];
let wake = () => {};
client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
  updates.push({ uri: n.params.uri, event: n.params._meta?.["io.ringside/event"] ?? null });
  wake();
});
await client.connect(transport);
for (const uri of ["ringside://visitors/live", "ringside://conversations", "ringside://calls/waiting"]) {
  await client.subscribeResource({ uri });
}
// The session's stream is opened by the SDK after initialize; give it a moment to be there.
await new Promise((r) => setTimeout(r, 500));
console.log("SUBSCRIBED");
const seen = () =>
  updates.some((u) => u.uri === "ringside://visitors/live") &&
  updates.some((u) => u.uri.startsWith("ringside://conversations/"));
const deadline = Date.now() + 60000;
while (!seen() && Date.now() < deadline) {
  await new Promise((r) => { wake = r; setTimeout(r, 1000); });
}
const chat = updates.find((u) => u.uri.startsWith("ringside://conversations/"));
const visitors = await client.readResource({ uri: "ringside://visitors/live" });
const messages = chat ? await client.readResource({ uri: chat.uri }) : null;
console.log(JSON.stringify({
  protocol: transport.protocolVersion ?? null,
  capabilities: client.getServerCapabilities(),
  updates,
  visitors: JSON.parse(visitors.contents[0].text),
  messages: messages ? JSON.parse(messages.contents[0].text) : null,
}));
await client.close();
