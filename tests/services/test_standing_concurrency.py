"""Customer standing under concurrent workers (projections/standing.py): one
customer's invoices are keyed to different partitions, so several workers
change the same standing rows at once. They must end exact (equal to a
recompute from scratch, and to verify's definition over the invoice rows) and
never deadlock."""

from __future__ import annotations

import asyncio
import datetime as dt
import random

import asyncpg
import pytest

from contracts import InvoiceEvent, encode
from projections import positions, standing, versions
from projections.projector import Projector, RawRecord, incoming
from projections.verify import verify
from services.settings import Settings
from tests.factories import InvoiceBuilder, line
from tests.services.workers import caught_up, ends, publish, spawn_worker, stop_worker

pytestmark = pytest.mark.integration

TOPIC = "invoice-events-standing"
CUSTOMERS = ("cus-1", "cus-2", "cus-3", "cus-4", "cus-5")
TODAY = dt.datetime.now(dt.UTC).date()

# Every customer of a version with figures.
EVERY_KEY = "SELECT DISTINCT tenant_id, currency, customer_id FROM {schema}.customer_totals"


def histories(invoices: int, seed: int) -> list[list[InvoiceEvent]]:
    """Each invoice's events, for a handful of customers in two currencies:
    sent, paid in part or in full, voided, left as drafts; due in the past
    and in the future."""
    rng = random.Random(seed)
    out: list[list[InvoiceEvent]] = []
    for _ in range(invoices):
        due = TODAY + dt.timedelta(days=rng.randint(-60, 20))
        gross = rng.randint(1, 500)  # major units
        b = InvoiceBuilder(
            tenant=rng.choice(("acme", "globex")),
            customer=rng.choice(CUSTOMERS),
            currency=rng.choice(("EUR", "EUR", "USD")),
            lines=[line(net=gross * 100, tax=0)],
            issue_date=due - dt.timedelta(days=30),
            due_date=due,
        )
        events: list[InvoiceEvent] = [b.created()]
        kind = rng.random()
        paid = rng.randint(1, gross)
        if kind > 0.15:
            events.append(b.sent())
            if kind > 0.5:
                events.append(b.paid(f"{paid}.00"))
            if kind > 0.9 and paid < gross:  # a fully paid invoice cannot be voided
                events.append(b.voided())
        out.append(events)
    return out


async def rows(conn: asyncpg.Connection) -> list[tuple[object, ...]]:
    schema = (await versions.active(conn)).schema_name
    return [
        tuple(r.values())
        for r in await conn.fetch(
            f"SELECT tenant_id, currency, customer_id, {', '.join(standing.FIGURE_COLUMNS)}, as_of_day, stale_from"
            f" FROM {schema}.customer_standing ORDER BY 1, 2, 3"
        )
    ]


async def recomputed(conn: asyncpg.Connection) -> list[tuple[object, ...]]:
    """The standing of every customer computed again, in one statement."""
    schema = (await versions.active(conn)).schema_name
    query = standing.COMPUTED.replace("{keys}", EVERY_KEY).replace("{schema}", schema)
    return [tuple(r.values()) for r in await conn.fetch(query.replace("{day}", "$1") + " ORDER BY 1, 2, 3", TODAY)]


async def deadlocks(conn: asyncpg.Connection) -> int:
    """Deadlocks PostgreSQL detected in this test's database (its statistics
    are flushed within a second of a transaction's end)."""
    await asyncio.sleep(1.5)
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    found: int = await conn.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    return found


async def test_four_partitions_folded_at_once_leave_exact_rows_without_deadlock(
    conn: asyncpg.Connection, database_url: str
) -> None:
    """Four connections, one partition each, start every batch together
    (a barrier) on invoices of the same five customers: each batch changes
    rows the others are changing. A deadlock would fail a batch (PostgreSQL
    aborts one of the transactions); none may."""
    partitions = 4
    by_partition: list[list[InvoiceEvent]] = [[] for _ in range(partitions)]
    for index, events in enumerate(histories(240, seed=7)):
        by_partition[index % partitions].extend(events)
    connections = [await asyncpg.connect(database_url) for _ in range(partitions)]
    await positions.claim(conn, TOPIC, list(range(partitions)))
    rounds = 12
    barrier = asyncio.Barrier(partitions)

    async def worker(partition: int) -> None:
        events = by_partition[partition]
        size = -(-len(events) // rounds)
        offset = 0
        for start in range(0, size * rounds, size):
            chunk = events[start : start + size]
            await barrier.wait()
            if not chunk:
                continue
            records = [
                RawRecord(TOPIC, partition, offset + i, e.subject.encode(), encode(e)) for i, e in enumerate(chunk)
            ]
            await Projector(TOPIC).apply(connections[partition], [incoming(r) for r in records], {partition: offset})
            offset += len(chunk)

    try:
        await asyncio.gather(*(worker(p) for p in range(partitions)))
    finally:
        for c in connections:
            await c.close()
    assert len(await rows(conn)) == 2 * 2 * len(CUSTOMERS)  # every tenant, currency and customer
    assert await rows(conn) == await recomputed(conn)
    assert await verify(conn, (await versions.active(conn)).schema_name) == []
    assert await conn.fetchval("SELECT count(*) FROM billing.quarantine") == 0
    assert await deadlocks(conn) == 0


async def test_two_worker_processes_on_the_same_customers(settings: Settings, conn: asyncpg.Connection) -> None:
    """The real thing: two worker processes of one group share the topic's
    partitions while invoices of the same customers arrive on all of them."""
    assert settings.topic_partitions >= 2
    events: list[InvoiceEvent | bytes] = [e for history in histories(300, seed=11) for e in history]
    workers = [spawn_worker(settings), spawn_worker(settings)]
    try:
        written = await publish(settings, events, chunk=50, pause=0.05)
        assert len({p.partition for p in written}) >= 2
        await caught_up(conn, settings.topic, ends(written))
    finally:
        codes = [stop_worker(w) for w in workers]
    assert codes == [0, 0]
    assert await rows(conn) == await recomputed(conn)
    assert await verify(conn, (await versions.active(conn)).schema_name) == []
    assert await conn.fetchval("SELECT count(*) FROM billing.quarantine") == 0
    assert await deadlocks(conn) == 0
