"""Run the projection worker until SIGTERM/SIGINT: the batch in flight commits,
then the consumer leaves its group cleanly.

Before it consumes, the worker makes sure its topics exist
(``services.topics.prepare_for_worker``): missing ones are created as
``billing topics ensure`` would when ``BILLING_TOPIC_AUTO_CREATE`` is on;
with it off, the worker refuses to start (``TopicError``: ``billing worker``
prints one line and exits 5)."""

from __future__ import annotations

import asyncio
import signal

import msgspec
from prometheus_client import start_http_server

from services.settings import Settings, SettingsError
from services.topics import prepare_for_worker
from services.worker.consumer import Worker


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await prepare_for_worker(settings)
    if settings.worker_metrics_port:
        try:
            start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
        except OSError as error:
            raise SettingsError(
                f"the worker's metrics cannot listen on {settings.worker_metrics_host}:{settings.worker_metrics_port}"
                f" (BILLING_WORKER_METRICS_HOST, BILLING_WORKER_METRICS_PORT; 0 turns them off): {error}"
            ) from None
    async with asyncio.TaskGroup() as consumers:
        for index in range(settings.worker_consumers):
            consumers.create_task(Worker(consumer_settings(settings, index)).run(stop))


def consumer_settings(settings: Settings, index: int) -> Settings:
    """One consumer's settings: with static membership, an instance id of its
    own (the group refuses two members with one id)."""
    if settings.group_instance_id is None or settings.worker_consumers == 1:
        return settings
    return msgspec.structs.replace(settings, group_instance_id=f"{settings.group_instance_id}-{index}")
