"""The ingest baseline: a projector written the common way, one transaction
per event.

This is what most hand-written consumers look like: for each record, begin;
read the invoice row (FOR UPDATE); skip a duplicate, park an early event,
or apply it: update the invoice row and the per-currency and per-customer
counters; release parked successors; store the partition's next offset;
commit. It is correct (exactly once, in order) but pays a round trip per
statement and a commit per event. The benchmark runs it on the same stream,
database server and Kafka broker as ``billing worker`` and compares the rates.
It lives here, not in the product.

Run: ``python -m bench.baseline_projector`` with BILLING_DATABASE_URL,
BILLING_KAFKA_BOOTSTRAP and BILLING_TOPIC; it stops by itself once it has
reached the end offsets the topic had when it started.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from typing import assert_never

import asyncpg
from aiokafka import TopicPartition

from contracts import (
    ContractError,
    InvoiceCreated,
    InvoicePaid,
    InvoiceSent,
    InvoiceVoided,
    Reason,
    decode,
    to_minor,
)
from services import kafka
from services.settings import Settings

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS baseline;
CREATE TABLE IF NOT EXISTS baseline.invoices (
    tenant_id text, invoice_id text, customer_id text NOT NULL, currency text NOT NULL,
    due_date date NOT NULL, status text NOT NULL, gross bigint NOT NULL, paid bigint NOT NULL,
    last_sequence int NOT NULL, updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id)
);
CREATE TABLE IF NOT EXISTS baseline.currency_totals (
    tenant_id text, currency text,
    invoice_count bigint NOT NULL DEFAULT 0, gross_total numeric NOT NULL DEFAULT 0,
    sent_count bigint NOT NULL DEFAULT 0, sent_gross numeric NOT NULL DEFAULT 0,
    receivable_count bigint NOT NULL DEFAULT 0, receivable_balance numeric NOT NULL DEFAULT 0,
    collected numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, currency)
);
CREATE TABLE IF NOT EXISTS baseline.customer_totals (
    tenant_id text, customer_id text, currency text,
    invoice_count bigint NOT NULL DEFAULT 0, gross_total numeric NOT NULL DEFAULT 0,
    sent_count bigint NOT NULL DEFAULT 0, sent_gross numeric NOT NULL DEFAULT 0,
    receivable_count bigint NOT NULL DEFAULT 0, receivable_balance numeric NOT NULL DEFAULT 0,
    collected numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, customer_id, currency)
);
CREATE TABLE IF NOT EXISTS baseline.held (
    tenant_id text, invoice_id text, sequence int, body bytea NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, sequence)
);
CREATE TABLE IF NOT EXISTS baseline.rejected (
    topic text, partition int, kafka_offset bigint, reason text NOT NULL,
    PRIMARY KEY (topic, partition, kafka_offset)
);
CREATE TABLE IF NOT EXISTS baseline.offsets (
    topic text, partition int, next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""

READ_INVOICE = """
SELECT customer_id, currency, due_date, status, gross, paid, last_sequence
FROM baseline.invoices WHERE tenant_id = $1 AND invoice_id = $2 FOR UPDATE
"""
INSERT_INVOICE = """
INSERT INTO baseline.invoices (tenant_id, invoice_id, customer_id, currency, due_date, status, gross, paid,
                               last_sequence, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""
UPDATE_INVOICE = """
UPDATE baseline.invoices SET status = $3, paid = $4, last_sequence = $5, updated_at = $6
WHERE tenant_id = $1 AND invoice_id = $2
"""
FIGURES = (
    "invoice_count",
    "gross_total",
    "sent_count",
    "sent_gross",
    "receivable_count",
    "receivable_balance",
    "collected",
)
_ADD = ", ".join(f"{f} = t.{f} + excluded.{f}" for f in FIGURES)
ADD_CURRENCY = f"""
INSERT INTO baseline.currency_totals AS t (tenant_id, currency, {", ".join(FIGURES)})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (tenant_id, currency) DO UPDATE SET {_ADD}
"""
ADD_CUSTOMER = f"""
INSERT INTO baseline.customer_totals AS t (tenant_id, customer_id, currency, {", ".join(FIGURES)})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (tenant_id, customer_id, currency) DO UPDATE SET {_ADD}
"""
HOLD = "INSERT INTO baseline.held VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
TAKE_HELD = "DELETE FROM baseline.held WHERE tenant_id = $1 AND invoice_id = $2 AND sequence = $3 RETURNING body"
REJECT = "INSERT INTO baseline.rejected VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
STORE_OFFSET = """
INSERT INTO baseline.offsets AS o VALUES ($1, $2, $3)
ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset
"""


class Invoice:
    """The row a hand-written consumer keeps per invoice."""

    __slots__ = ("customer_id", "currency", "due_date", "status", "gross", "paid", "last_sequence")

    def __init__(
        self, customer_id: str, currency: str, due_date: dt.date, status: str, gross: int, paid: int, last_sequence: int
    ) -> None:
        self.customer_id, self.currency, self.due_date = customer_id, currency, due_date
        self.status, self.gross, self.paid, self.last_sequence = status, gross, paid, last_sequence

    def figures(self) -> tuple[int, ...]:
        sent = self.status == "SENT"
        balance = max(self.gross - self.paid, 0) if sent else 0
        return (
            1,
            self.gross,
            int(sent),
            self.gross if sent else 0,
            int(balance > 0),
            balance,
            0 if self.status == "VOIDED" else self.paid,
        )


async def apply_event(conn: asyncpg.Connection, body: bytes) -> str:
    """Apply one decoded event inside the caller's transaction; its outcome."""
    event = decode(body).event
    tenant, invoice_id = event.tenantid, event.subject
    row = await conn.fetchrow(READ_INVOICE, tenant, invoice_id)
    invoice = None if row is None else Invoice(*row.values())
    last = 0 if invoice is None else invoice.last_sequence
    if event.sequence <= last:
        return "duplicate"
    if event.sequence > last + 1:
        await conn.execute(HOLD, tenant, invoice_id, event.sequence, body)
        return "held"
    before = (0,) * len(FIGURES) if invoice is None else invoice.figures()
    match event:
        case InvoiceCreated():
            data = event.data
            invoice = Invoice(
                data.customer_id, data.currency, data.due_date, "DRAFT", to_minor(data.gross_total, data.currency), 0, 1
            )
            await conn.execute(
                INSERT_INVOICE,
                tenant,
                invoice_id,
                invoice.customer_id,
                invoice.currency,
                invoice.due_date,
                invoice.status,
                invoice.gross,
                0,
                1,
                event.time,
            )
        case InvoiceSent() | InvoicePaid() | InvoiceVoided():
            if invoice is None:
                raise ContractError(Reason.INVALID_SEQUENCE, "the first event of an invoice must be invoice.created")
            match event:
                case InvoiceSent():
                    invoice.status = "SENT"
                case InvoicePaid():
                    invoice.paid += to_minor(event.data.amount, invoice.currency)
                case InvoiceVoided():
                    invoice.status = "VOIDED"
                case _:
                    assert_never(event)
            invoice.last_sequence = event.sequence
            await conn.execute(
                UPDATE_INVOICE, tenant, invoice_id, invoice.status, invoice.paid, invoice.last_sequence, event.time
            )
        case _:
            assert_never(event)
    delta = [a - b for a, b in zip(invoice.figures(), before, strict=True)]
    await conn.execute(ADD_CURRENCY, tenant, invoice.currency, *delta)
    await conn.execute(ADD_CUSTOMER, tenant, invoice.customer_id, invoice.currency, *delta)
    # A successor that arrived early is applied now, in the same transaction.
    held = await conn.fetchval(TAKE_HELD, tenant, invoice_id, event.sequence + 1)
    if held is not None:
        await apply_event(conn, bytes(held))
    return "applied"


async def run(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.database_url)
    await conn.execute(SCHEMA)
    consumer = kafka.consumer(
        settings,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    processed = 0
    try:
        partitions = sorted(consumer.partitions_for_topic(settings.topic) or [])
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh client may not know it yet
            partitions = sorted(consumer.partitions_for_topic(settings.topic) or [])
        tps = [TopicPartition(settings.topic, p) for p in partitions]
        consumer.assign(tps)
        stored = {
            r["partition"]: r["next_offset"]
            for r in await conn.fetch(
                "SELECT partition, next_offset FROM baseline.offsets WHERE topic = $1", settings.topic
            )
        }
        for tp in tps:
            consumer.seek(tp, stored.get(tp.partition, 0))
        ends = {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
        position = {p: stored.get(p, 0) for p in partitions}
        while any(position[p] < ends[p] for p in partitions):
            fetched = await consumer.getmany(timeout_ms=200, max_records=500)
            for tp, records in fetched.items():
                for record in records:
                    if record.offset >= ends[tp.partition]:
                        continue
                    async with conn.transaction():
                        try:
                            await apply_event(conn, record.value or b"")
                        except ContractError as error:
                            await conn.execute(REJECT, tp.topic, tp.partition, record.offset, str(error))
                        await conn.execute(STORE_OFFSET, tp.topic, tp.partition, record.offset + 1)
                    position[tp.partition] = record.offset + 1
                    processed += 1
    finally:
        await consumer.stop()
        await conn.close()
    print(f"baseline projector: {processed} records", file=sys.stderr)
    return 0


def main() -> None:
    sys.exit(asyncio.run(run(Settings.from_env())))


if __name__ == "__main__":
    main()
