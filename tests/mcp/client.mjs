// An MCP client made with the official TypeScript SDK (npm @modelcontextprotocol/sdk), for
// the e2e tests.
//
//     node client.mjs URL TOKEN WIDGET_ID VISITOR_ID
//
// Connects over Streamable HTTP with the bearer token (initialize, then the negotiated
// revision), lists the tools, calls ringside_list_widgets and ringside_send_visitor_message,
// and prints one JSON line: {"protocol", "sessionId", "tools", "widgets", "sent", ...}.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, widget, visitor] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "ringside-e2e", version: "1.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const listed = await client.callTool({ name: "ringside_list_widgets", arguments: {} });
const sent = await client.callTool({
  name: "ringside_send_visitor_message",
  arguments: { widgetId: widget, visitorId: visitor, body: "Hello from TypeScript" },
});
const bad = await client.callTool({ name: "ringside_get_install_snippet", arguments: { widgetId: 5 } });
console.log(JSON.stringify({
  protocol: transport.protocolVersion ?? null,
  sessionId: transport.sessionId ?? null,
  server: client.getServerVersion(),
  tools: tools.tools.map((t) => t.name),
  widgets: listed.structuredContent ?? null,
  listedError: listed.isError ?? false,
  sent: sent.structuredContent ?? null,
  sentError: sent.isError ?? false,
  badError: bad.isError ?? false,
  badText: bad.content?.[0]?.text ?? "",
}));
await client.close();
