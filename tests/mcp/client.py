"""An MCP client made with the official Python SDK (`mcp` on PyPI), for the e2e tests.

    python client.py URL TOKEN WIDGET_ID VISITOR_ID
    python client.py URL oauth WIDGET_ID VISITOR_ID

Connects over Streamable HTTP (the SDK picks the revision: it probes `server/discover` for the
stateless one and falls back to `initialize`), lists the tools, calls ringside_list_widgets and
ringside_send_visitor_message, and prints one JSON line:
{"protocol": ..., "tools": [...], "widgets": [...], "sent": {...}, ...}.

With `oauth` instead of a token it authenticates as a remote MCP client does, through the SDK's
OAuthClientProvider: discovery, registration, PKCE; it prints `AUTHORIZE <url>` and reads the
callback URL (where the browser was sent back) from stdin, the test playing the user. Then it
lets the access token run out (as far as the SDK knows) so that the next request refreshes it.
"""

import asyncio
import json
import sys
import time
from urllib.parse import parse_qs, urlparse

from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

CALLBACK = "http://127.0.0.1:8766/callback"


class Memory:
    def __init__(self) -> None:
        self.tokens = None
        self.client = None
        self.saved = 0

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens) -> None:
        self.tokens = tokens
        self.saved += 1

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, info) -> None:
        self.client = info


async def authorize(url: str) -> None:
    print(f"AUTHORIZE {url}", flush=True)


async def callback() -> AuthorizationCodeResult:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    q = parse_qs(urlparse(line.strip()).query)
    if "error" in q:
        raise RuntimeError(f"refused: {q}")
    return AuthorizationCodeResult(
        code=q["code"][0], state=q.get("state", [None])[0], iss=q.get("iss", [None])[0]
    )


async def main() -> None:
    url, token, widget, visitor = sys.argv[1:5]
    provider = None
    if token == "oauth":
        storage = Memory()
        provider = OAuthClientProvider(
            server_url=url,
            client_metadata=OAuthClientMetadata(
                client_name="Ringside e2e (Python SDK)",
                redirect_uris=[CALLBACK],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                scope="mcp:read widgets:read messages:read messages:write",
            ),
            storage=storage,
            redirect_handler=authorize,
            callback_handler=callback,
        )
        http = create_mcp_http_client(auth=provider)
    else:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            tools = await client.list_tools()
            listed = await client.call_tool("ringside_list_widgets", {})
            refreshed = None
            if provider is not None:
                before = storage.saved
                old = storage.tokens.access_token
                provider.context.token_expiry_time = time.time() - 1
                await client.list_tools()
                refreshed = storage.saved > before and storage.tokens.access_token != old
            sent = await client.call_tool(
                "ringside_send_visitor_message",
                {"widgetId": widget, "visitorId": visitor, "body": "Hello from Python"},
            )
            bad = await client.call_tool("ringside_get_install_snippet", {"widgetId": 5})
            session = client.session if hasattr(client, "session") else None
            protocol = None
            for attr in ("discover_result", "initialize_result"):
                r = getattr(session, attr, None) if session else None
                if r is not None:
                    protocol = getattr(r, "protocol_version", None) or getattr(
                        r, "supported_versions", [None]
                    )[0]
            print(
                json.dumps(
                    {
                        "protocol": protocol,
                        "tools": [t.name for t in tools.tools],
                        "widgets": listed.structured_content,
                        "listedError": listed.is_error,
                        "sent": sent.structured_content,
                        "sentError": sent.is_error,
                        "badError": bad.is_error,
                        "badText": bad.content[0].text if bad.content else "",
                        "refreshed": refreshed,
                    }
                )
            )


asyncio.run(main())
