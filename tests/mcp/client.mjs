// An MCP client made with the official TypeScript SDK (npm @modelcontextprotocol/sdk), for
// the e2e tests.
//
//     node client.mjs URL TOKEN WIDGET_ID VISITOR_ID
//     node client.mjs URL oauth WIDGET_ID VISITOR_ID
//
// Connects over Streamable HTTP (initialize, then the negotiated revision), lists the tools,
// calls ringside_list_widgets and ringside_send_visitor_message, and prints one JSON line:
// {"protocol", "sessionId", "tools", "widgets", "sent", ...}.
//
// With `oauth` instead of a token it connects as a remote MCP client does: the SDK meets the
// 401, discovers the authorization server, registers, and sends the user to authorize. This
// script prints `AUTHORIZE <url>` and reads the callback URL (what the browser was redirected
// to) from stdin — the test plays the user. Then it reconnects with the tokens, and, to see
// the refresh work, spoils its access token so that the next call meets a 401 and the SDK
// refreshes.
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const [url, token, widget, visitor] = process.argv.slice(2);
const CALLBACK = "http://127.0.0.1:8765/callback";

class Provider {
  constructor() { this.saved = 0; }
  get redirectUrl() { return CALLBACK; }
  get clientMetadata() {
    return {
      client_name: "Ringside e2e (TypeScript SDK)",
      redirect_uris: [CALLBACK],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      scope: "mcp:read widgets:read messages:read messages:write",
    };
  }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.saved_tokens; }
  saveTokens(t) { this.saved_tokens = t; this.saved += 1; }
  redirectToAuthorization(u) { this.authUrl = u; }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
}

async function readLine() {
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) { rl.close(); return line.trim(); }
  throw new Error("no callback URL on stdin");
}

let provider = null;
let transport;
const client = new Client({ name: "ringside-e2e", version: "1.0.0" });
if (token === "oauth") {
  provider = new Provider();
  transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  try {
    await client.connect(transport);
    throw new Error("connected without authorizing");
  } catch (e) {
    if (!(e instanceof UnauthorizedError) || !provider.authUrl) throw e;
  }
  console.log(`AUTHORIZE ${provider.authUrl.href}`);
  const back = new URL(await readLine());
  if (back.searchParams.get("error")) throw new Error(`refused: ${back.search}`);
  await transport.finishAuth(back.searchParams.get("code"));
  transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
} else {
  transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
}
await client.connect(transport);
const tools = await client.listTools();
const listed = await client.callTool({ name: "ringside_list_widgets", arguments: {} });
let refreshed = null;
if (provider) {
  // A spoiled access token: the server answers 401, the SDK refreshes and retries.
  const before = provider.saved;
  provider.saved_tokens = { ...provider.saved_tokens, access_token: "ringside_oat_" + "x".repeat(43) };
  await client.listTools();
  refreshed = provider.saved > before && provider.saved_tokens.access_token !== "ringside_oat_" + "x".repeat(43);
}
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
  refreshed,
  clientId: provider?.client?.client_id ?? null,
}));
await client.close();
