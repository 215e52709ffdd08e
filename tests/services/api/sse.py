"""A Server-Sent Events client for the stream tests: reads ``/v1/stream`` in
the background and queues what it parses."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec


class Event(msgspec.Struct):
    event: str
    id: str | None
    data: dict[str, Any]


class SseClient:
    def __init__(self) -> None:
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.comments: list[str] = []
        self.status: int | None = None
        self.headers: httpx.Headers | None = None
        self.body: str = ""

    async def next(self, seconds: float = 10.0) -> Event:
        async with asyncio.timeout(seconds):
            return await self.events.get()

    async def next_of(self, kind: str, seconds: float = 10.0) -> Event:
        async with asyncio.timeout(seconds):
            while True:
                event = await self.events.get()
                if event.event == kind:
                    return event

    async def quiet(self, seconds: float) -> list[Event]:
        """The events received within ``seconds``."""
        await asyncio.sleep(seconds)
        found = []
        while not self.events.empty():
            found.append(self.events.get_nowait())
        return found

    async def read(self, response: httpx.Response) -> None:
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line == "":
                if "event" in fields:
                    await self.events.put(Event(fields["event"], fields.get("id"), json.loads(fields["data"])))
                fields = {}
            elif line.startswith(":"):
                self.comments.append(line)
            else:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")


@contextlib.asynccontextmanager
async def subscribed(
    base_url: str, headers: dict[str, str] | None = None, params: dict[str, str] | None = None
) -> AsyncIterator[SseClient]:
    """A client of /v1/stream until the block ends (its first event, ``ready``,
    is left in the queue; a refused request leaves ``status`` and ``body``)."""
    client = SseClient()
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10, read=None)) as http,
        http.stream("GET", "/v1/stream", headers=headers, params=params) as response,
    ):
        client.status, client.headers = response.status_code, response.headers
        if response.status_code != 200:
            client.body = (await response.aread()).decode()
        task = asyncio.create_task(client.read(response))
        try:
            yield client
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await task
