"""One stream through the real broker, worker, database and HTTP API."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import msgspec
import pytest

from contracts import InvoiceEventPublisher
from services.settings import Settings
from tests.factories import InvoiceBuilder, line, value
from tests.services.workers import caught_up, ends

pytestmark = pytest.mark.integration


def min_position(positions) -> str:  # type: ignore[no-untyped-def]
    wanted: dict[int, int] = {}
    for p in positions:
        wanted[p.partition] = max(wanted.get(p.partition, -1), p.offset)
    return ",".join(f"{p}:{o}" for p, o in sorted(wanted.items()))


async def test_published_events_show_up_in_the_summary_with_exact_totals(
    settings: Settings, running_worker: asyncio.Event, api_url: str, api_key: str
) -> None:
    eur = InvoiceBuilder(tenant="acme", currency="EUR", lines=[line(net=100050, tax=21010)])
    eur2 = InvoiceBuilder(tenant="acme", currency="EUR", lines=[line(net=1, tax=0)])
    jpy = InvoiceBuilder(tenant="acme", currency="JPY", lines=[line(net=1250, tax=125)])
    other = InvoiceBuilder(tenant="globex", currency="EUR", lines=[line(net=999, tax=0)])
    events = [
        eur.created(),
        eur.sent(),
        eur.paid("100.00"),
        eur2.created(),
        jpy.created(),
        jpy.sent(),
        other.created(),
    ]
    async with InvoiceEventPublisher(settings.kafka_bootstrap, settings.topic) as publisher:
        positions = await publisher.publish_many(events)

    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        response = await client.get(
            "/invoices/summary",
            params={"minPosition": min_position(positions)},
            headers={"Authorization": f"Bearer {api_key}"},
        )
    assert response.status_code == 200, response.text
    # Exact decimal text: 1210.60 + 0.01 = 1210.61 EUR; JPY has no decimals.
    assert response.text == (
        '{"totalsByCurrency":[{"currency":"EUR","invoiceCount":2,"grossTotal":1210.61},'
        '{"currency":"JPY","invoiceCount":1,"grossTotal":1375}]}'
    )
    assert response.headers["X-Projection-Position"].startswith(settings.topic + ":")
    assert "X-Projection-Event-Time" in response.headers


async def test_requests_without_a_valid_key_get_a_401_problem(settings: Settings, api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        missing = await client.get("/invoices/summary")
        wrong = await client.get("/invoices/summary", headers={"x-api-key": "bk_nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 401


async def test_a_poison_event_does_not_stop_its_partition_and_lands_in_quarantine_and_the_dead_letter_topic(
    settings: Settings, running_worker: asyncio.Event, conn: asyncpg.Connection
) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    inv = InvoiceBuilder(tenant="acme")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        # Same key, so the same partition: the good event after the poison must still apply.
        key = inv.invoice_id.encode()
        poison = await producer.send_and_wait(settings.topic, b'{"specversion":"1.0","type":"invoice.created"', key=key)
        wrong = await producer.send_and_wait(
            settings.topic, b'{"specversion":"1.0","id":"x","type":"invoice.sent"}', key=key
        )
        good = await producer.send_and_wait(settings.topic, value(inv.created()), key=key)
    finally:
        await producer.stop()
    assert poison.partition == good.partition
    await caught_up(conn, settings.topic, {good.partition: good.offset})
    assert await conn.fetchval("SELECT count(*) FROM billing.event_store") == 1
    rows = await conn.fetch("SELECT raw, reason, partition, kafka_offset FROM billing.quarantine ORDER BY kafka_offset")
    assert [(bytes(r["raw"])[:15], r["reason"], r["kafka_offset"]) for r in rows] == [
        (b'{"specversion":', "malformed", poison.offset),
        (b'{"specversion":', "schema_violation", wrong.offset),
    ]

    dlq = AIOKafkaConsumer(settings.dlq_topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest")
    await dlq.start()
    try:
        copies = await dlq.getmany(timeout_ms=10_000)
        records = [r for batch in copies.values() for r in batch]
    finally:
        await dlq.stop()
    assert [r.value for r in records] == [
        b'{"specversion":"1.0","type":"invoice.created"',
        b'{"specversion":"1.0","id":"x","type":"invoice.sent"}',
    ]
    headers = dict(records[0].headers)
    assert headers["dlq_reason"] == b"malformed"
    assert headers["dlq_source"] == f"{settings.topic}:{poison.partition}:{poison.offset}".encode()


async def test_binary_mode_events_apply_like_structured_ones(
    settings: Settings, running_worker: asyncio.Event, conn: asyncpg.Connection
) -> None:
    inv = InvoiceBuilder(tenant="acme", lines=[line(net=5000, tax=0)])
    async with InvoiceEventPublisher(settings.kafka_bootstrap, settings.topic, binary_mode=True) as publisher:
        positions = await publisher.publish_many([inv.created(), inv.sent(), inv.paid("20.00")])
    await caught_up(conn, settings.topic, ends(positions))
    row = await conn.fetchrow("SELECT status, balance FROM billing_read.invoices")
    assert (row["status"], row["balance"]) == ("SENT", 3000)


async def test_a_gap_left_open_too_long_is_reported(settings: Settings, conn: asyncpg.Connection) -> None:
    from services import metrics
    from services.worker.consumer import Worker

    inv = InvoiceBuilder(tenant="acme")
    inv.created()  # never published: the sent event waits for it
    async with InvoiceEventPublisher(settings.kafka_bootstrap, settings.topic) as publisher:
        positions = await publisher.publish_many([inv.sent()])
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(msgspec.structs.replace(settings, gap_alert_seconds=0.5)).run(stop))
    try:
        await caught_up(conn, settings.topic, ends(positions))
        assert await conn.fetchval("SELECT count(*) FROM billing.held_events") == 1
        for _ in range(100):
            if metrics.HELD_OVERDUE._value.get() == 1:
                break
            await asyncio.sleep(0.05)
        assert metrics.HELD_OVERDUE._value.get() == 1
    finally:
        stop.set()
        await worker
