"""One invoice's events on two partitions (a publisher with another
partitioner than the contract's murmur2): nothing is lost, an event whose
predecessor is on the other partition is held, then released, and the figures
end as if the events had come in order on one partition. Two workers folding
such an invoice at the same moment may leave a held event behind; the
workers' periodic check releases it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import msgspec
import pytest

from contracts import InvoiceEvent, encode
from projections import positions
from projections.batch import Quarantined
from projections.projector import Projector, RawRecord, incoming
from projections.verify import verify
from services.settings import Settings
from services.worker.consumer import Worker
from services.worker.stranded import release_stranded
from tests.factories import InvoiceBuilder, line
from tests.projected import project
from tests.services.workers import caught_up, snapshot

pytestmark = pytest.mark.integration

SIDE_TOPIC = "invoice-events-side"


def history() -> list[InvoiceEvent]:
    """created, sent, paid 20.00, paid 30.00 of a 120.00 EUR invoice."""
    invoice = InvoiceBuilder("inv-split", tenant="acme", lines=[line(net=10000, tax=2000)])
    return [
        invoice.created(event_id="evt-split-1"),
        invoice.sent(event_id="evt-split-2"),
        invoice.paid("20.00", payment_id="pay-1", event_id="evt-split-3"),
        invoice.paid("30.00", payment_id="pay-2", event_id="evt-split-4"),
    ]


async def figures(conn: asyncpg.Connection) -> dict[str, Any]:
    """What the read API serves: the invoice's figures and the summaries (shards summed)."""
    tables = await snapshot(conn)
    schema = await conn.fetchval("SELECT schema_name FROM billing.projection_versions WHERE status = 'active'")
    invoice = await conn.fetchrow(
        f"SELECT status, amount_paid, payment_count, balance, payment_status, event_ids FROM {schema}.invoices"
    )
    assert invoice is not None
    summaries = ("currency_totals", "customer_totals", "currency_receivable", "customer_receivable")
    return {"invoice": dict(invoice.items()), **{name: tables[name] for name in summaries}}


async def in_order(make_database: Callable[[], Awaitable[str]], events: int = 4) -> dict[str, Any]:
    """The figures of the history's first ``events`` in order on one partition."""
    conn = await asyncpg.connect(await make_database())
    try:
        await project(conn, history()[:events])
        return await figures(conn)
    finally:
        await conn.close()


async def outcomes(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT outcome, sum(count)::int AS n FROM billing.event_outcomes GROUP BY outcome")
    return {r["outcome"]: r["n"] for r in rows}


async def held(conn: asyncpg.Connection) -> list[int]:
    return [r["sequence"] for r in await conn.fetch("SELECT sequence FROM billing.held_events ORDER BY sequence")]


async def test_an_invoice_split_across_two_partitions_out_of_order_is_held_then_released(
    settings: Settings,
    running_worker: asyncio.Event,
    conn: asyncpg.Connection,
    make_database: Callable[[], Awaitable[str]],
) -> None:
    from aiokafka import AIOKafkaProducer

    created, sent, paid, paid_again = history()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True)
    await producer.start()

    async def publish(partition: int, events: Sequence[InvoiceEvent]) -> dict[int, int]:
        sends = [
            await producer.send(settings.topic, encode(e), key=e.subject.encode(), partition=partition) for e in events
        ]
        return {partition: max(m.offset for m in await asyncio.gather(*sends))}

    try:
        # The payments publisher's partitioner put these on partition 1, and
        # they arrive before the invoice exists.
        await caught_up(conn, settings.topic, await publish(1, [sent, paid]))
        assert await held(conn) == [2, 3]
        # The invoicing publisher's events, on partition 0.
        await caught_up(conn, settings.topic, await publish(0, [created, paid_again]))
    finally:
        await producer.stop()
    assert await held(conn) == []
    assert await outcomes(conn) == {"applied": 4, "held": 2, "released": 2}
    assert await figures(conn) == await in_order(make_database)
    assert await verify(conn, "proj_1") == []


async def strand(url: str) -> None:
    """Two partitions' batches folded at the same moment: partition 0's applies
    `created` while partition 1's holds `sent` and `paid`; neither sees the
    other's rows, so nothing releases the held events."""
    created, sent, paid, _ = history()
    first, second = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        await positions.claim(first, SIDE_TOPIC, [0, 1])
        loaded, resumed = asyncio.Event(), asyncio.Event()

        async def pause(_: Sequence[Quarantined]) -> None:
            # Called after the fold, before the writes: the batch has read
            # the held events already. The other batch may block on it (a
            # fold that serialises invoices): then it resumes after a while.
            loaded.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(resumed.wait(), 2)

        records = [
            RawRecord(SIDE_TOPIC, 0, 0, b"inv-split", encode(created)),
            RawRecord(SIDE_TOPIC, 0, 1, b"poison", b"not json"),  # makes the batch call before_commit
        ]
        applying = asyncio.create_task(
            Projector(SIDE_TOPIC).apply(first, [incoming(r) for r in records], {0: 0}, before_commit=pause)
        )
        await loaded.wait()
        held_records = [RawRecord(SIDE_TOPIC, 1, i, b"inv-split", encode(e)) for i, e in enumerate((sent, paid))]
        await Projector(SIDE_TOPIC).apply(second, [incoming(r) for r in held_records], {1: 0})
        resumed.set()
        await applying
    finally:
        await first.close()
        await second.close()


async def test_a_race_between_two_partitions_leaves_held_events_that_the_check_releases(
    conn: asyncpg.Connection, database_url: str, make_database: Callable[[], Awaitable[str]]
) -> None:
    await strand(database_url)
    assert await held(conn) == [2, 3], "the race no longer strands held events: the check below is a safety net"
    result = await release_stranded(conn)
    assert result is not None and len(result.events) == 2
    assert await held(conn) == []
    assert await outcomes(conn) == {"applied": 3, "held": 2, "released": 2, "quarantined": 1}
    assert await figures(conn) == await in_order(make_database, events=3)
    assert await verify(conn, "proj_1") == []
    assert await release_stranded(conn) is None


async def test_a_stranded_held_event_whose_sequence_another_copy_applied_becomes_a_duplicate(
    conn: asyncpg.Connection, database_url: str
) -> None:
    await strand(database_url)
    _, sent, _, _ = history()
    # The same `sent` published again, on partition 0: it applies there (and
    # releases `paid`), leaving its held copy at a sequence already applied.
    await project(conn, [sent], topic=SIDE_TOPIC, partition=0)
    assert await held(conn) == [2]
    result = await release_stranded(conn)
    assert result is not None
    assert {(outcome, reason): n for (_, _, outcome, reason), n in result.outcomes.items()} == {
        ("released", ""): 1,
        ("duplicate", ""): 1,
    }
    assert await held(conn) == []
    assert await verify(conn, "proj_1") == []


async def test_a_running_worker_releases_held_events_a_race_left_behind(
    settings: Settings, conn: asyncpg.Connection, database_url: str
) -> None:
    await strand(database_url)
    quick = msgspec.structs.replace(settings, gap_alert_seconds=2.0)  # checks every 0.5 s
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(quick).run(stop))
    try:
        deadline = time.monotonic() + 30
        while await held(conn):
            assert time.monotonic() < deadline, "the worker did not release the stranded held events"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert await outcomes(conn) == {"applied": 3, "held": 2, "released": 2, "quarantined": 1}
    assert await verify(conn, "proj_1") == []
