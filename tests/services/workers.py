"""Worker processes, test streams and table snapshots for the recovery tests."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec

from contracts import InvoiceEvent, Position, encode
from projections.figures import TOTALS
from projections.store import INVOICE_COLUMNS, TIMELINE_SUM_TABLES
from projections.verify import SUMMARY_TABLES, summary_queries, verify
from services.api.freshness import read_positions
from services.demo import demo_stream
from services.settings import Settings
from services.worker.consumer import Worker

POISON = [b"not json", b'{"specversion": "1.0"}', b"\xff\xfe", b'{"type": "invoice.refunded"}']


def spawn_worker(settings: Settings, **overrides: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.to_env(), "BILLING_LOG_FORMAT": "json", "BILLING_LOG_LEVEL": "warning"}
    env.update({f"BILLING_{k.upper()}": str(v) for k, v in overrides.items()})
    # BILLING_TEST_WORKER_LOG=<file> keeps the workers' logs (for debugging a test).
    log_path = os.environ.get("BILLING_TEST_WORKER_LOG")
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker"],
        env=env,
        stdout=output,
        stderr=output,
    )


def stop_worker(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    process.send_signal(sig)
    return process.wait(timeout)


def messy_stream(invoices: int, seed: int) -> list[InvoiceEvent | bytes]:
    """Valid histories with what real logs carry: ~3% duplicates redelivered
    later, ~2% of invoices with two events swapped (late), and poison records."""
    rng = random.Random(seed)
    events: list[InvoiceEvent | bytes] = list(demo_stream(tenants=3, customers=20, invoices=invoices, seed=seed))
    for index in range(len(events) - 1):
        a, b = events[index], events[index + 1]
        if not isinstance(a, bytes) and not isinstance(b, bytes) and a.subject == b.subject and rng.random() < 0.02:
            events[index], events[index + 1] = b, a
    for event in rng.sample(events, len(events) // 33):
        events.insert(rng.randrange(events.index(event), len(events) + 1), event)
    for poison in POISON:
        events.insert(rng.randrange(len(events)), poison)
    return events


async def publish(
    settings: Settings, events: list[InvoiceEvent | bytes], chunk: int = 0, pause: float = 0.0
) -> list[Position]:
    """Publish in order (poison as raw bytes); in chunks with pauses if asked."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True, acks="all", linger_ms=5
    )
    await producer.start()
    positions: list[Position] = []
    try:
        step = chunk or len(events)
        for start in range(0, len(events), step):
            futures = []
            for event in events[start : start + step]:
                if isinstance(event, bytes):
                    futures.append(await producer.send(settings.topic, event, key=b"poison"))
                else:
                    futures.append(await producer.send(settings.topic, encode(event), key=event.subject.encode()))
            for meta in await asyncio.gather(*futures):
                positions.append(Position(meta.topic, meta.partition, meta.offset))
            if pause:
                await asyncio.sleep(pause)
    finally:
        await producer.stop()
    return positions


def ends(positions: list[Position]) -> dict[int, int]:
    wanted: dict[int, int] = {}
    for p in positions:
        wanted[p.partition] = max(wanted.get(p.partition, -1), p.offset)
    return wanted


# A polling deadline, not a cancellation scope.
async def caught_up(
    conn: asyncpg.Connection,
    topic: str,
    wanted: dict[int, int],
    timeout: float = 120,  # noqa: ASYNC109
) -> float:
    started = time.monotonic()
    while not (await read_positions(conn, topic)).reached(wanted):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"projections did not reach {wanted} within {timeout}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    """Everything the projections produced, in a comparable form (shards summed)."""
    schema = await conn.fetchval("SELECT schema_name FROM billing.projection_versions WHERE status = 'active'")
    tables: dict[str, Any] = {
        "invoices": [
            tuple(r.values())
            for r in await conn.fetch(
                f"SELECT {', '.join(c for c in INVOICE_COLUMNS if not c.endswith('_recorded_at'))}"
                f" FROM {schema}.invoices ORDER BY tenant_id, invoice_id"
            )
        ],
        "event_store": [
            tuple(r.values())
            for r in await conn.fetch(
                "SELECT tenant_id, invoice_id, sequence, event_id, partition, kafka_offset FROM billing.event_store"
                " ORDER BY tenant_id, invoice_id, sequence"
            )
        ],
        "held": [
            tuple(r.values())
            for r in await conn.fetch(
                "SELECT tenant_id, invoice_id, sequence, event_id FROM billing.held_events ORDER BY 1, 2, 3"
            )
        ],
        "quarantine": [
            tuple(r.values())
            for r in await conn.fetch("SELECT partition, kafka_offset, reason FROM billing.quarantine ORDER BY 1, 2")
        ],
        "outcomes": {
            (r["outcome"], r["reason"]): r["n"]
            for r in await conn.fetch(
                "SELECT outcome, reason, sum(count)::bigint AS n FROM billing.event_outcomes GROUP BY 1, 2"
            )
        },
    }
    for table, keys, figures in SUMMARY_TABLES:
        live_sql, _ = summary_queries(schema, table, keys, figures)
        tables[table] = sorted(tuple(r.values()) for r in await conn.fetch(live_sql) if any(r[f] for f in figures))
    # The timelines, whatever batches and record times wrote them.
    for table, (keys, figures) in {**TIMELINE_SUM_TABLES, "invoice_changes": (INVOICE_DAY, TOTALS)}.items():
        names = [name for name, _ in keys if name != "partition"]
        sums = ", ".join(f"sum({f})" for f in figures)
        rows = [
            tuple(r.values())
            for r in await conn.fetch(
                f"SELECT {', '.join(names)}, {sums} FROM {schema}.{table} GROUP BY {', '.join(names)}"
            )
        ]
        tables[table] = sorted(row for row in rows if any(row[len(names) :]))
    return tables


INVOICE_DAY = (("tenant_id", "text"), ("invoice_id", "text"), ("day", "date"), ("partition", "int"))


async def clean_pass(settings: Settings, make_database: Callable[[], Awaitable[str]], wanted: dict[int, int]):  # type: ignore[no-untyped-def]
    """The same topic read once by one undisturbed worker into a fresh database."""
    url = await make_database()
    clean = msgspec.structs.replace(settings, database_url=url, consumer_group=settings.consumer_group + "-clean")
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(clean).run(stop))
    conn = await asyncpg.connect(url)
    try:
        await caught_up(conn, clean.topic, wanted)
        stop.set()
        await task
        assert await verify(conn, "proj_1") == []
        return await snapshot(conn)
    finally:
        await conn.close()
