"""The read API served over HTTP on a loopback port, in the test's own process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.api.server import server
from services.settings import Settings


@contextlib.asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[str]:
    """The API of ``settings`` on ``settings.api_port``; yields its base URL."""
    api = server(settings)
    task = asyncio.create_task(api.serve())
    for _ in range(250):
        if api.started or task.done():
            break
        await asyncio.sleep(0.02)
    if task.done():
        task.result()  # it failed to start: say why
    try:
        yield f"http://127.0.0.1:{settings.api_port}"
    finally:
        api.should_exit = True
        await asyncio.wait_for(task, 10)
