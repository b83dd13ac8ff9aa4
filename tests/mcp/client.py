"""An MCP client made with the official Python SDK (`mcp` on PyPI), for the e2e tests.

    python client.py URL TOKEN WIDGET_ID VISITOR_ID

Connects over Streamable HTTP with the bearer token (the SDK picks the revision: it probes
`server/discover` for the stateless one and falls back to `initialize`), lists the tools,
calls ringside_list_widgets and ringside_send_visitor_message, and prints one JSON line:
{"protocol": ..., "tools": [...], "widgets": [...], "sent": {...}, "denied": "..."}.
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def main() -> None:
    url, token, widget, visitor = sys.argv[1:5]
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            tools = await client.list_tools()
            listed = await client.call_tool("ringside_list_widgets", {})
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
                    }
                )
            )


asyncio.run(main())
