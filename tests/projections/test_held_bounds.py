"""Held events are bounded, against the real tables: a flood of early events
for one tenant stops at its cap (the rest quarantined, gap_timeout, bytes and
position kept), held events past the age limit move to quarantine, and a
retry applies them exactly once when their gaps have filled."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from contracts import InvoiceEvent, encode
from projections import held, positions, quarantine
from projections.batch import BatchFold, BatchResult
from projections.projector import Projector, RawRecord, incoming
from projections.store import HeldEventsChanged, ProjectionStore
from projections.verify import verify
from tests.factories import InvoiceBuilder, line
from tests.projected import TOPIC, project
from tests.projections.test_quarantine import outcome_counts

pytestmark = pytest.mark.integration

CAP = 5


async def project_capped(conn: asyncpg.Connection, events: Sequence[InvoiceEvent], cap: int = CAP) -> BatchResult:
    """tests/projected.project, through a projector with a per-tenant cap of held events."""
    start = (await positions.claim(conn, TOPIC, [0]))[0]
    records = [RawRecord(TOPIC, 0, start + i, e.subject.encode(), encode(e)) for i, e in enumerate(events)]
    return await Projector(TOPIC, held_max_per_tenant=cap).apply(conn, [incoming(r) for r in records], {0: start})


async def held_count(conn: asyncpg.Connection, tenant: str = "acme") -> int:
    return int(await conn.fetchval("SELECT count(*) FROM billing.held_events WHERE tenant_id = $1", tenant))


async def test_a_flood_of_early_events_stops_at_the_cap_and_the_rest_retry_once_their_gaps_fill(
    conn: asyncpg.Connection,
) -> None:
    invoices = [InvoiceBuilder(f"inv-{n}", lines=[line(net=1000, tax=0)]) for n in range(8)]
    created = [inv.created() for inv in invoices]
    sent = [inv.sent() for inv in invoices]

    # A publisher sends the second event of 8 invoices, never the first: 5 are held, 3 quarantined.
    await project_capped(conn, sent[:2])
    result = await project_capped(conn, sent[2:])
    assert await held_count(conn) == CAP
    assert len(result.held_added) == 3 and len(result.quarantined) == 3
    rows = await quarantine.list_events(conn, reason="gap_timeout")
    assert [r.invoice_id for r in rows] == ["inv-5", "inv-6", "inv-7"]
    for row, event, offset in zip(rows, sent[5:], (5, 6, 7), strict=True):
        assert (row.raw, row.kafka_key) == (encode(event), event.subject.encode())
        assert (row.topic, row.partition, row.kafka_offset) == (TOPIC, 0, offset)
        assert (row.tenant_id, row.sequence, row.event_id) == ("acme", 2, event.id)
        assert "BILLING_HELD_MAX_PER_TENANT=5" in row.detail
    # Another tenant holds as usual.
    other = InvoiceBuilder("inv-g", tenant="globex")
    other.created()
    await project_capped(conn, [other.sent()])
    assert await held_count(conn, "globex") == 1
    assert await outcome_counts(conn) == {"held": 6, "quarantined:gap_timeout": 3}

    # A retry while the gap is open and the tenant is at its cap changes nothing.
    reports = await quarantine.retry(conn, [rows[0].id], held_max_per_tenant=CAP)
    assert [(r.outcome, r.reason) for r in reports] == [("quarantined", "gap_timeout")]
    assert await held_count(conn) == CAP

    # The missing first events arrive: the held ones are released, the three wait in quarantine.
    await project_capped(conn, created)
    assert await held_count(conn) == 0
    assert await conn.fetchval("SELECT count(*) FROM billing_read.invoices WHERE status = 'SENT'") == 5

    reports = await quarantine.retry(conn, [r.id for r in rows], held_max_per_tenant=CAP)
    assert [r.outcome for r in reports] == ["applied"] * 3
    assert await conn.fetchval("SELECT count(*) FROM billing_read.invoices WHERE status = 'SENT'") == 8
    assert await quarantine.list_events(conn) == []
    # Once each: 16 applied; held 6 (one still, globex's), 5 released; nothing quarantined.
    assert await outcome_counts(conn) == {"held": 6, "released": 5, "applied": 16}
    assert await conn.fetchval("SELECT count(*) FROM billing.event_store") == 16
    assert await verify(conn, "proj_1") == []


async def test_a_retry_while_the_gap_is_open_holds_the_event_again_below_the_cap(conn: asyncpg.Connection) -> None:
    inv = InvoiceBuilder("inv-1")
    created, sent = inv.created(), inv.sent()
    await project_capped(conn, [sent], cap=1)
    other = InvoiceBuilder("inv-2")
    other.created()
    await project_capped(conn, [other.sent()], cap=1)
    [row] = await quarantine.list_events(conn, reason="gap_timeout")
    assert row.invoice_id == "inv-2"
    await project_capped(conn, [created], cap=1)  # inv-1's gap fills: the tenant holds nothing now
    [report] = await quarantine.retry(conn, [row.id], held_max_per_tenant=1)
    assert report.outcome == "held"
    assert await held_count(conn) == 1


async def test_held_events_past_the_age_limit_go_to_quarantine_and_a_retry_applies_them(
    conn: asyncpg.Connection,
) -> None:
    inv = InvoiceBuilder("inv-1", lines=[line(net=10000, tax=0)])
    created, sent, paid = inv.created(), inv.sent(), inv.paid("40.00")
    await project(conn, [sent])
    assert (await held.move_to_quarantine(conn, "too old", older_than=0.3)).result is None  # young yet
    await asyncio.sleep(0.5)
    moved = await held.move_to_quarantine(conn, "held longer than the limit", older_than=0.3)
    assert (moved.selected, moved.quarantined) == (1, 1)
    assert await held_count(conn) == 0
    [row] = await quarantine.list_events(conn, reason="gap_timeout")
    assert (row.raw, row.kafka_offset, row.sequence) == (encode(sent), 0, 2)
    assert row.detail.startswith("held longer than the limit: sequence 2 of invoice inv-1 waited")
    assert row.detail.endswith("for sequence 1")
    # Counted held, then released and quarantined: one record.
    assert await outcome_counts(conn) == {"held": 1, "released": 1, "quarantined:gap_timeout": 1}

    await project(conn, [paid])  # held behind the quarantined sent event
    await project(conn, [created])  # the gap before it fills
    assert await conn.fetchval("SELECT cardinality(event_ids) FROM billing_read.invoices") == 1
    [report] = await quarantine.retry(conn, [row.id])
    assert report.outcome == "applied"
    # It applied and released the payment held after it.
    assert await conn.fetchval("SELECT (cardinality(event_ids), amount_paid) FROM billing_read.invoices") == (3, 4000)
    assert await held_count(conn) == 0
    assert await outcome_counts(conn) == {"held": 2, "released": 2, "applied": 3}
    assert await verify(conn, "proj_1") == []


async def test_moving_to_quarantine_selects_by_tenant_invoice_and_sequence_and_leaves_closed_gaps(
    conn: asyncpg.Connection,
) -> None:
    a, b, c = InvoiceBuilder("inv-a"), InvoiceBuilder("inv-b"), InvoiceBuilder("inv-c", tenant="globex")
    a.created()
    await project(conn, [a.sent(), a.paid("1.00"), b.sent(sequence=2), c.sent(sequence=2)])
    moved = await held.move_to_quarantine(conn, "by hand", tenant="acme", invoice="inv-a", sequence=3)
    assert moved.result is not None
    assert [(q.invoice_id, q.sequence) for q in moved.result.quarantined] == [("inv-a", 3)]
    listed = await held.page(conn, tenant="acme")
    assert [(e.invoice_id, e.sequence, e.waiting_for) for e in listed.items] == [("inv-a", 2, 1), ("inv-b", 2, 1)]
    assert (await held.page(conn)).total == 3

    # A held event whose gap has closed (what a race between two partitions
    # leaves, stranded.py) stays for the stranded check to apply.
    d = InvoiceBuilder("inv-d")
    await project(conn, [d.created()])
    stranded = d.sent()
    await conn.execute(
        "INSERT INTO billing.held_events (tenant_id, invoice_id, sequence, event_id, topic, partition, kafka_offset,"
        " body) VALUES ('acme', 'inv-d', 2, $1, $2, 0, 99, $3)",
        stranded.id,
        TOPIC,
        encode(stranded),
    )
    moved = await held.move_to_quarantine(conn, "by hand", tenant="acme")
    assert (moved.selected, moved.quarantined) == (3, 2)  # inv-a#2 and inv-b#2
    assert [(e.tenant_id, e.invoice_id) for e in (await held.page(conn)).items] == [
        ("globex", "inv-c"),
        ("acme", "inv-d"),
    ]


async def test_a_batch_that_releases_a_held_event_moved_to_quarantine_meanwhile_rolls_back(
    database_url: str, conn: asyncpg.Connection
) -> None:
    inv = InvoiceBuilder("inv-1")
    created, sent = inv.created(), inv.sent()
    await project(conn, [sent])
    other = await asyncpg.connect(database_url)
    try:
        store = ProjectionStore("proj_1")
        with pytest.raises(HeldEventsChanged):
            async with conn.transaction():
                states, waiting = await store.load(conn, [("acme", "inv-1")])
                fold = BatchFold(states, waiting)
                fold.add(incoming(RawRecord(TOPIC, 0, 1, b"inv-1", encode(created))))
                result = fold.finish()
                assert [e.sequence for e in result.events] == [1, 2]
                # Meanwhile the age check quarantines the held event and commits.
                moved = await held.move_to_quarantine(other, "too old", older_than=0)
                assert moved.quarantined == 1
                await store.write(conn, result)
    finally:
        await other.close()
    # Nothing applied twice: the event is in quarantine, the store holds nothing.
    assert await conn.fetchval("SELECT count(*) FROM billing.event_store") == 0
    assert len(await quarantine.list_events(conn, reason="gap_timeout")) == 1
