"""The projector against the real PostgreSQL: what a batch writes."""

from __future__ import annotations

import asyncpg
import pytest

from projections import positions
from projections.projector import Projector, RawRecord, incoming
from tests.factories import InvoiceBuilder, line
from tests.projected import TOPIC, project

pytestmark = pytest.mark.integration


async def test_a_batch_writes_invoice_rows_summaries_buckets_and_the_event_store(
    conn: asyncpg.Connection,
) -> None:
    inv = InvoiceBuilder(lines=[line("usage", "one_time", 10000, 2000)])
    await project(conn, [inv.created(), inv.sent(), inv.paid("20.00")])
    row = await conn.fetchrow("SELECT * FROM billing_read.invoices")
    assert (row["status"], row["payment_status"], row["balance"], row["balance_usage"]) == (
        "SENT",
        "PARTIALLY_PAID",
        10000,
        10000,
    )
    assert len(row["event_ids"]) == 3
    totals = await conn.fetchrow("SELECT * FROM billing_read.currency_totals")
    assert (totals["sent_gross"], totals["collected"], totals["receivable_balance"]) == (12000, 2000, 10000)
    bucket = await conn.fetchrow("SELECT * FROM billing_read.customer_receivable")
    assert (bucket["due_date"], bucket["receivable_balance"]) == (inv.due_date, 10000)
    assert await conn.fetchval("SELECT count(*) FROM billing.event_store") == 3
    assert await conn.fetchval("SELECT next_offset FROM billing.partition_positions WHERE topic = $1", TOPIC) == 3


async def test_held_events_survive_between_batches_and_release_in_order(conn: asyncpg.Connection) -> None:
    inv = InvoiceBuilder()
    created, sent, paid = inv.created(), inv.sent(), inv.paid("10.00")
    await project(conn, [paid, sent])
    assert await conn.fetchval("SELECT count(*) FROM billing.held_events") == 2
    await project(conn, [created])
    assert await conn.fetchval("SELECT count(*) FROM billing.held_events") == 0
    sequences = await conn.fetch("SELECT sequence FROM billing.event_store ORDER BY seq")
    assert [r["sequence"] for r in sequences] == [1, 2, 3]
    outcomes = {
        r["outcome"]: r["count"]
        for r in await conn.fetch(
            "SELECT outcome, sum(count)::int AS count FROM billing.event_outcomes GROUP BY outcome"
        )
    }
    assert outcomes == {"held": 2, "released": 2, "applied": 3}


async def test_a_poison_record_is_quarantined_with_raw_bytes_and_position(conn: asyncpg.Connection) -> None:
    await project(conn, [b"\x00not json"], partition=2)
    row = await conn.fetchrow("SELECT * FROM billing.quarantine")
    assert (bytes(row["raw"]), row["reason"], row["partition"], row["kafka_offset"]) == (
        b"\x00not json",
        "malformed",
        2,
        0,
    )


async def test_a_stale_owner_cannot_commit_over_a_newer_position(conn: asyncpg.Connection) -> None:
    inv = InvoiceBuilder()
    await project(conn, [inv.created()])  # position 0 -> 1
    stale = RawRecord(TOPIC, 0, 0, inv.invoice_id.encode(), b"{}")
    with pytest.raises(positions.StalePosition):
        await Projector(TOPIC).apply(conn, [incoming(stale)], {0: 0})
    assert await conn.fetchval("SELECT count(*) FROM billing.quarantine") == 0
