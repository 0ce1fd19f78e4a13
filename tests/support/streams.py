"""A client of roomtimer's event streams (GET /api/rooms/{shareToken}/events)."""

import asyncio
import json
from typing import Any

import aiohttp

TIMEOUT = 10.0


class EventStream:
    """A client of one event stream: each event as (name, data), comments counted."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments = 0

    async def next(self, timeout: float = TIMEOUT) -> tuple[str, Any] | None:
        """The next event, or None when the server ended the stream."""
        name, data = "message", []
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    return None
                line = raw.decode().rstrip("\n")
                if line == "" and data:
                    return name, json.loads("\n".join(data))
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    data.append(line[len("data: ") :])

    async def until(self, wanted: str) -> Any:
        """The data of the next `wanted` event (others are skipped)."""
        while (event := await self.next()) is not None:
            if event[0] == wanted:
                return event[1]
        raise AssertionError(f"the stream ended before {wanted}")


async def open_stream(session: aiohttp.ClientSession, url: str, token: str) -> EventStream:
    response = await session.get(f"{url}/api/rooms/{token}/events")
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return EventStream(response)
