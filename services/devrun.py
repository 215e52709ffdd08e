"""``billing demo``: the whole service in one process for a first look — migrate,
worker and API side by side, a demo stream published, a ready curl line."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from services import db, kafka, keys
from services.api.freshness import read_positions
from services.api.server import server
from services.demo import demo_stream
from services.settings import Settings
from services.topics import ensure_topics
from services.worker.consumer import Worker

DEMO_TENANT = "demo"


async def run_demo(settings: Settings, invoices: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    conn = await db.connect(settings.database_url)
    try:
        await db.migrate(conn)
        _, key = await keys.create(conn, DEMO_TENANT, "demo")
    finally:
        await conn.close()
    await ensure_topics(settings)

    api = server(settings)
    worker_task = asyncio.create_task(Worker(settings).run(stop))
    api_task = asyncio.create_task(api.serve())

    async with kafka.publisher(settings) as publisher:
        sent = await publisher.publish_many(demo_stream(tenants=1, invoices=invoices))
    wanted: dict[int, int] = {}
    for position in sent:
        wanted[position.partition] = max(wanted.get(position.partition, -1), position.offset)
    pool = await db.create_pool(settings.database_url, 1, 1)
    try:
        for _ in range(300):
            if (await read_positions(pool, settings.topic)).reached(wanted):
                break
            await asyncio.sleep(0.1)
    finally:
        await pool.close()

    base = f"http://{settings.api_host}:{settings.api_port}"
    print(
        f"\nPublished {len(sent)} demo events for tenant '{DEMO_TENANT}'.\n"
        f"  Dashboard: {base}/dashboard  (enter the API key)\n"
        f"  API:       {base}\n"
        f"  API docs:  {base}/schema\n"
        f"  API key:   {key}\n\n"
        f"Try:\n  curl -s -H 'Authorization: Bearer {key}' {base}/invoices/summary\n\n"
        "Ctrl-C stops everything.",
        flush=True,
    )
    await stop.wait()
    api.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(worker_task, api_task)
    return 0
