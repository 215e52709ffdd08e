"""Nothing lost, nothing doubled: workers killed mid-batch, and several workers
sharing partitions that move between them, end with the tables of one clean pass."""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from projections.verify import verify
from services.settings import Settings
from tests.services.workers import (
    caught_up,
    clean_pass,
    ends,
    messy_stream,
    publish,
    snapshot,
    spawn_worker,
    stop_worker,
)

pytestmark = pytest.mark.integration


async def test_a_worker_killed_mid_batch_again_and_again_loses_and_doubles_nothing(
    settings: Settings, conn: asyncpg.Connection, make_database: Callable[[], Awaitable[str]]
) -> None:
    rng = random.Random(3)
    events = messy_stream(invoices=2500, seed=3)
    # Small batches and a fixed instance id: kills land mid-batch, restarts rejoin at once.
    worker_settings = {"batch_max_records": 150, "group_instance_id": "worker-a", "session_timeout_ms": 6000}
    # The last tenth is published after the kills, so the last worker has work too.
    tail = len(events) // 10
    publishing = asyncio.create_task(publish(settings, events[:-tail], chunk=300, pause=0.3))
    applied_at_kill = []
    for _ in range(8):
        worker = spawn_worker(settings, **worker_settings)
        await asyncio.sleep(rng.uniform(1.0, 2.2))
        stop_worker(worker, signal.SIGKILL)
        applied_at_kill.append(await conn.fetchval("SELECT count(*) FROM billing.event_store"))
    positions = await publishing + await publish(settings, events[-tail:])
    worker = spawn_worker(settings, **worker_settings)
    try:
        await caught_up(conn, settings.topic, ends(positions))
    finally:
        assert stop_worker(worker) == 0  # SIGTERM: a clean stop
    progress = [b - a for a, b in zip([0, *applied_at_kill], applied_at_kill, strict=False)]
    assert sum(1 for p in progress if p > 0) >= 4, f"the kills should hit working workers: {progress}"
    assert await verify(conn, "proj_1") == []
    killed = await snapshot(conn)
    assert killed == await clean_pass(settings, make_database, ends(positions))
    # Every record has exactly one final outcome (or is still held).
    outcomes = killed["outcomes"]
    final = sum(n for (o, _), n in outcomes.items() if o in ("duplicate", "quarantined"))
    applied_directly = outcomes[("applied", "")] - outcomes.get(("released", ""), 0)
    assert final + applied_directly + outcomes.get(("held", ""), 0) == len(events)


async def test_workers_sharing_and_trading_partitions_end_identical_to_one_clean_pass(
    settings: Settings, conn: asyncpg.Connection, make_database: Callable[[], Awaitable[str]]
) -> None:
    events = messy_stream(invoices=2500, seed=5)
    options = {"batch_max_records": 200, "session_timeout_ms": 6000}
    publishing = asyncio.create_task(publish(settings, events, chunk=300, pause=0.2))
    first = spawn_worker(settings, **options)
    await asyncio.sleep(1.5)
    second, third = spawn_worker(settings, **options), spawn_worker(settings, **options)  # 1 -> 3
    await asyncio.sleep(2.5)
    stop_worker(second, signal.SIGKILL)  # a crash: its partitions move after the session times out
    await asyncio.sleep(1.0)
    assert stop_worker(third) == 0  # a clean leave: its partitions move at once  (3 -> 1)
    fourth = spawn_worker(settings, **options)  # and 1 -> 2
    positions = await publishing
    try:
        await caught_up(conn, settings.topic, ends(positions))
    finally:
        assert stop_worker(first) == 0
        assert stop_worker(fourth) == 0
    assert await verify(conn, "proj_1") == []
    assert await snapshot(conn) == await clean_pass(settings, make_database, ends(positions))
