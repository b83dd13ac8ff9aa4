"""Live events through the official Python SDK (revision 2026-07-28: `subscriptions/listen`).
For the e2e tests.

    python listen.py URL TOKEN [calls]

Opens a listen stream on the live resources, prints `SUBSCRIBED` once it is acknowledged, waits
for a visitor arriving and a chat message (the test makes both happen), reads the resources,
and prints one JSON line. With `calls`, it waits for a call to ring instead (the test has a PBX
dial a widget's queue) and reads the waiting calls, as the resource and through the tool.
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

ROOTS = ["ringside://visitors/live", "ringside://conversations", "ringside://calls/waiting"]


async def main() -> None:
    url, token = sys.argv[1:3]
    calls = sys.argv[3:4] == ["calls"]
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    updates: list[str] = []
    async with http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            async with client.listen(resource_subscriptions=ROOTS) as sub:
                honored = list(sub.honored.resource_subscriptions or [])
                print("SUBSCRIBED", flush=True)

                async def collect() -> None:
                    async for event in sub:
                        updates.append(event.uri)
                        if calls and ROOTS[2] in updates:
                            return
                        if any(u == ROOTS[0] for u in updates) and any(
                            u.startswith(ROOTS[1] + "/") for u in updates
                        ):
                            return

                await asyncio.wait_for(collect(), 60)
            if calls:
                waiting = await client.read_resource(ROOTS[2])
                tool = await client.call_tool("ringside_get_waiting_calls", {})
                print(
                    json.dumps(
                        {
                            "honored": honored,
                            "updates": updates,
                            "waiting": json.loads(waiting.contents[0].text),
                            "tool": tool.structured_content,
                            "toolError": tool.is_error,
                        }
                    )
                )
                return
            chat = next(u for u in updates if u.startswith(ROOTS[1] + "/"))
            visitors = await client.read_resource(ROOTS[0])
            messages = await client.read_resource(chat)
            print(
                json.dumps(
                    {
                        "honored": honored,
                        "updates": updates,
                        "visitors": json.loads(visitors.contents[0].text),
                        "messages": json.loads(messages.contents[0].text),
                    }
                )
            )


asyncio.run(main())
