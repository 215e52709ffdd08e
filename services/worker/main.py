"""Run the projection worker until SIGTERM/SIGINT: the batch in flight commits,
then the consumer leaves its group cleanly."""

from __future__ import annotations

import asyncio
import signal

from prometheus_client import start_http_server

from services.settings import Settings
from services.worker.consumer import Worker


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr="127.0.0.1")
    await Worker(settings).run(stop)
