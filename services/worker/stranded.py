"""Held events whose gap has closed without releasing them.

A held event is released by the batch that applies its predecessor. That
batch sees the held events committed before it loaded the invoice, and the
batch that held the event saw the invoice as committed when it loaded it. When
the events of one invoice are on two partitions (a publisher with another
partitioner than the contract's, contracts/README.md), two workers fold them
at the same moment and each commits without seeing the other: one holds event
n + 1 because event n is not applied yet, the other applies event n and finds
nothing held. Event n + 1 would then wait for ever, and so would every later
event of the invoice.

The worker looks for such events every few seconds (with the open-gap report):
held events whose sequence is at most the invoice's last applied one + 1. It
puts them through the fold in sequence order, which applies each one and
releases its successors exactly as the batch would have (counted ``released``,
then by their outcome); a held event whose sequence another copy of it has
applied meanwhile becomes a duplicate, or a conflict (quarantined). The
transaction takes the rows it releases with ``FOR UPDATE SKIP LOCKED``, so
workers running the check at once share the work; the event store's key makes
any other overlap fail and retry instead of applying twice.
"""

from __future__ import annotations

import asyncpg

from projections import notify, versions
from projections.batch import RELEASED, BatchFold, BatchResult, Incoming, InvoiceKey, Pending
from projections.projector import BeforeCommit
from projections.store import ProjectionStore

# Held events released by one check at most.
RELEASE_LIMIT = 1000

STRANDED = """
SELECT h.tenant_id, h.invoice_id, h.sequence
FROM billing.held_events h
JOIN {schema}.invoices i USING (tenant_id, invoice_id)
WHERE h.sequence <= cardinality(i.event_ids) + 1
ORDER BY h.tenant_id, h.invoice_id, h.sequence
LIMIT $1
FOR UPDATE OF h SKIP LOCKED
"""
DELETE = """
DELETE FROM billing.held_events h
USING unnest($1::text[], $2::text[], $3::int[]) AS k(tenant_id, invoice_id, sequence)
WHERE h.tenant_id = k.tenant_id AND h.invoice_id = k.invoice_id AND h.sequence = k.sequence
"""


async def release_stranded(
    conn: asyncpg.Connection, limit: int = RELEASE_LIMIT, before_commit: BeforeCommit | None = None
) -> BatchResult | None:
    """Apply the held events whose predecessor is applied, in one
    transaction; what the fold made of them, or None if there were none.
    ``before_commit`` gets the events it quarantines (the dead-letter copy),
    as in ``Projector.apply``."""
    async with conn.transaction():
        await versions.lock_shared(conn)
        store = ProjectionStore((await versions.active(conn)).schema_name)
        rows = await conn.fetch(STRANDED.replace("{schema}", store.schema), limit)
        if not rows:
            return None
        keys = sorted({(row["tenant_id"], row["invoice_id"]) for row in rows})
        states, held = await store.load(conn, keys)
        stranded: list[tuple[InvoiceKey, Pending]] = []
        for row in rows:
            key: InvoiceKey = (row["tenant_id"], row["invoice_id"])
            state, waiting = states.get(key), held.get(key, {})
            if state is not None and row["sequence"] <= state.last_sequence + 1 and row["sequence"] in waiting:
                # Out of the held map: it is offered to the fold as a record.
                stranded.append((key, waiting.pop(row["sequence"])))
        if not stranded:
            return None
        fold = BatchFold(states, held)
        for key, pending in stranded:
            fold.add(
                Incoming(
                    position=pending.position,
                    key=key[1].encode(),
                    value=pending.body,
                    decoded=pending.decoded,
                    body=pending.body,
                )
            )
        result = fold.finish()
        for _, pending in stranded:
            result.outcomes[(pending.position.topic, pending.position.partition, RELEASED, "")] += 1
        if before_commit is not None and result.quarantined:
            await before_commit(result.quarantined)
        await conn.execute(
            DELETE,
            [key[0] for key, _ in stranded],
            [key[1] for key, _ in stranded],
            [pending.event.sequence for _, pending in stranded],
        )
        await store.write(conn, result)
        await notify.invoices_changed(conn, result.invoices)
    return result
