"""Apply events straight to the database through the real projector (no Kafka):
for tests about what the tables and the API make of events. Tests about the
Kafka path publish for real instead."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from contracts import InvoiceEvent, encode
from projections import positions
from projections.batch import BatchResult
from projections.projector import Projector, RawRecord, incoming

TOPIC = "invoice-events"


async def project(
    conn: asyncpg.Connection,
    events: Sequence[InvoiceEvent | bytes],
    topic: str = TOPIC,
    partition: int = 0,
) -> BatchResult:
    """Apply ``events`` as the next records of ``partition``, in one batch."""
    stored = await positions.claim(conn, topic, [partition])
    start = stored[partition]
    records = [
        RawRecord(
            topic,
            partition,
            start + i,
            None if isinstance(e, bytes) else e.subject.encode(),
            e if isinstance(e, bytes) else encode(e),
        )
        for i, e in enumerate(events)
    ]
    return await Projector(topic).apply(conn, [incoming(r) for r in records], {partition: start})
