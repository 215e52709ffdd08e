"""Serve the API with uvicorn until SIGTERM/SIGINT."""

from __future__ import annotations

import uvicorn

from services.api.app import create_app
from services.settings import Settings


def server(settings: Settings, port: int | None = None) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port if port is None else port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    return uvicorn.Server(config)


async def serve(settings: Settings) -> None:
    await server(settings).serve()
