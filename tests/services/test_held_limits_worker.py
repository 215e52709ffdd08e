"""A running worker bounds held events: over Kafka, a tenant's early events
beyond BILLING_HELD_MAX_PER_TENANT are quarantined by the batch and copied to
the dead-letter topic, held events older than BILLING_HELD_MAX_AGE_SECONDS are
quarantined by the periodic check, and the gauges say how full the largest
tenant is."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import msgspec
import pytest
from aiokafka import AIOKafkaConsumer

from contracts import encode
from projections.held import page
from services import metrics
from services.settings import Settings
from services.worker.consumer import Worker
from services.worker.open_gaps import OpenGapReport
from tests.factories import InvoiceBuilder
from tests.projected import project
from tests.services.workers import caught_up, ends, publish

pytestmark = pytest.mark.integration


async def until(conn: asyncpg.Connection, query: str, expected: object, timeout: float = 30) -> None:  # noqa: ASYNC109
    started = time.monotonic()
    while (value := await conn.fetchval(query)) != expected:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{query!r} is {value!r}, not {expected!r}")
        await asyncio.sleep(0.1)


async def test_a_worker_caps_held_events_per_tenant_and_quarantines_the_old_ones(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    # The periodic check runs every half second (a quarter of the gap alert limit).
    limited = msgspec.structs.replace(settings, held_max_per_tenant=3, held_max_age_seconds=4.0, gap_alert_seconds=2.0)
    invoices = [InvoiceBuilder(f"inv-{n}") for n in range(4)]
    for inv in invoices:
        inv.created()
    early = [inv.sent() for inv in invoices]
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(limited).run(stop))
    try:
        for event in early:  # one at a time: the cap sees them in this order
            await caught_up(conn, settings.topic, ends(await publish(settings, [event])))
        assert await conn.fetchval("SELECT count(*) FROM billing.held_events") == 3
        rows = await conn.fetch("SELECT invoice_id, reason, raw FROM billing.quarantine")
        assert [(r["invoice_id"], r["reason"], bytes(r["raw"])) for r in rows] == [
            ("inv-3", "gap_timeout", encode(early[3]))
        ]
        # After 4 s the periodic check moves the held ones to the quarantine too.
        await until(conn, "SELECT count(*) FROM billing.held_events", 0)
        await until(conn, "SELECT count(*) FROM billing.quarantine WHERE reason = 'gap_timeout'", 4)
        details = [r["detail"] for r in await conn.fetch("SELECT detail FROM billing.quarantine ORDER BY id")]
        assert all("BILLING_HELD_MAX_AGE_SECONDS (4 s)" in d for d in details[1:]), details
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    counts = {
        (r["outcome"], r["reason"]): r["n"]
        for r in await conn.fetch(
            "SELECT outcome, reason, sum(count)::int AS n FROM billing.event_outcomes GROUP BY 1, 2"
        )
    }
    assert counts == {("held", ""): 3, ("released", ""): 3, ("quarantined", "gap_timeout"): 4}
    dlq = AIOKafkaConsumer(settings.dlq_topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest")
    await dlq.start()
    try:
        copies: list[bytes] = []
        deadline = time.monotonic() + 15
        while len(copies) < 4 and time.monotonic() < deadline:
            batches = await dlq.getmany(timeout_ms=1000)
            copies += [r.value for batch in batches.values() for r in batch]
    finally:
        await dlq.stop()
    assert sorted(copies) == sorted(encode(e) for e in early)


async def test_the_gap_report_sets_the_held_gauges_against_the_cap(conn: asyncpg.Connection) -> None:
    invoices = [InvoiceBuilder(f"inv-{n}") for n in range(4)]
    for inv in invoices:
        inv.created()
    other = InvoiceBuilder("inv-g", tenant="globex")
    other.created()
    await project(conn, [inv.sent() for inv in invoices] + [other.sent()])
    assert (await page(conn)).total == 5
    report = OpenGapReport(3600, held_max_per_tenant=5)
    report.publish(await report.read(conn))
    assert metrics.HELD_EVENTS._value.get() == 5
    assert metrics.HELD_MAX_TENANT_RATIO._value.get() == pytest.approx(0.8)  # acme: 4 of 5
