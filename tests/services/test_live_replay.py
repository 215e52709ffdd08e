"""Replay and promote on a live system: a publisher keeps producing, the worker
keeps consuming, clients keep reading — no failed read, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import pytest

from projections import replay, versions
from projections.verify import verify
from services import operations
from services.settings import Settings
from tests.services.workers import caught_up, clean_pass, ends, messy_stream, publish, snapshot

pytestmark = pytest.mark.integration


async def read_continuously(api_url: str, api_key: str, stop: asyncio.Event) -> list[tuple[int, float]]:
    results: list[tuple[int, float]] = []
    paths = ["/invoices/summary", "/invoices/summary?invoiceStatus=SENT", "/invoices/list-summary?limit=5"]
    async with httpx.AsyncClient(base_url=api_url, headers={"x-api-key": api_key}, timeout=30) as client:
        while not stop.is_set():
            for path in paths:
                started = time.perf_counter()
                response = await client.get(path)
                results.append((response.status_code, time.perf_counter() - started))
    return results


async def test_replay_and_promote_under_live_traffic_fail_no_read_and_lose_no_event(
    settings: Settings,
    running_worker: asyncio.Event,
    api_url: str,
    api_key: str,
    conn: asyncpg.Connection,
    database_url: str,
) -> None:
    events = messy_stream(invoices=3000, seed=11)
    half = len(events) // 2
    first = await publish(settings, events[:half])
    await caught_up(conn, settings.topic, ends(first))

    stop_reading = asyncio.Event()
    reader = asyncio.create_task(read_continuously(api_url, api_key, stop_reading))
    publishing = asyncio.create_task(publish(settings, events[half:], chunk=200, pause=0.05))
    read_conn = await asyncpg.connect(database_url)
    try:
        account = await operations.rebuild(read_conn, conn, promote=True)
    finally:
        await read_conn.close()
    rest = await publishing
    await caught_up(conn, settings.topic, ends(first + rest))
    await asyncio.sleep(0.2)
    stop_reading.set()
    reads = await reader

    assert account.startswith("version 2 is active"), account
    assert (await versions.active(conn)).schema_name == "proj_2"
    failed = [status for status, _ in reads if status != 200]
    assert len(reads) > 50 and failed == []
    assert await verify(conn, "proj_2") == []
    # Nothing lost or doubled: every record has exactly one final outcome.
    outcomes = {
        (r["outcome"], r["reason"]): r["n"]
        for r in await conn.fetch(
            "SELECT outcome, reason, sum(count)::bigint AS n FROM billing.event_outcomes GROUP BY 1, 2"
        )
    }
    final = sum(n for (o, _), n in outcomes.items() if o in ("duplicate", "quarantined"))
    direct = outcomes[("applied", "")] - outcomes.get(("released", ""), 0)
    assert final + direct + outcomes.get(("held", ""), 0) == len(events)
    assert await conn.fetchval("SELECT count(*) FROM billing.event_store") == outcomes[("applied", "")]
    # Every applied event is in the new version: invoice histories account for all of them.
    assert (
        await conn.fetchval("SELECT sum(cardinality(event_ids)) FROM billing_read.invoices")
        == outcomes[("applied", "")]
    )


async def test_a_database_that_lost_its_events_is_rebuilt_from_kafka(
    settings: Settings, conn: asyncpg.Connection, make_database: Callable[[], Awaitable[str]]
) -> None:
    events = messy_stream(invoices=400, seed=17)
    positions = await publish(settings, events)
    account = await operations.rebuild_from_kafka(conn, settings, promote=True)
    assert account.startswith("version 2 is active (rebuilt from Kafka)"), account
    assert await verify(conn, "proj_2") == []
    assert await snapshot(conn) == await clean_pass(settings, make_database, ends(positions))
    with pytest.raises(replay.ReplayError, match="event store has events"):
        await operations.rebuild_from_kafka(conn, settings, promote=False)
