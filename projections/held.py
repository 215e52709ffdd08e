"""Held events for operators and the periodic check: list them a page at a
time, show one, and move those whose gap stays open to the quarantine.

A held event waits in ``billing.held_events`` for the event before it (batch.py).
``move_to_quarantine`` takes held events (by tenant, invoice, sequence, age)
whose gap is still open and quarantines them with reason ``gap_timeout``,
their stored body and Kafka position kept, so ``billing quarantine retry``
applies them once the gap has filled. It runs in one transaction under the
shared switch lock, like a batch; the rows it takes are locked ``FOR UPDATE
SKIP LOCKED`` (workers running the check at once share the work), and a batch
that loaded one of them before it moved fails its delete of the released rows
(store.HeldEventsChanged) and is retried, so no event is both applied and
quarantined.
"""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

from projections import versions
from projections.batch import BatchFold, BatchResult, InvoiceKey
from projections.projector import BeforeCommit
from projections.store import ProjectionStore

# Held events moved to the quarantine by one transaction at most.
MOVE_LIMIT = 1000

_FILTERS = """
WHERE ($1::text IS NULL OR h.tenant_id = $1)
  AND ($2::text IS NULL OR h.invoice_id = $2)
  AND ($3::int IS NULL OR h.sequence = $3)
  AND ($4::float8 IS NULL OR h.held_at < now() - make_interval(secs => $4))
"""
COUNT = "SELECT count(*) FROM billing.held_events h" + _FILTERS
PAGE = (
    """
SELECT h.tenant_id, h.invoice_id, h.sequence, h.event_id, h.topic, h.partition, h.kafka_offset, h.held_at,
       extract(epoch FROM now() - h.held_at)::float8 AS age_seconds,
       coalesce(cardinality(i.event_ids), 0) + 1 AS waiting_for
FROM billing.held_events h
LEFT JOIN {schema}.invoices i USING (tenant_id, invoice_id)
"""
    + _FILTERS
    + """
ORDER BY h.held_at, h.tenant_id, h.invoice_id, h.sequence
LIMIT $5 OFFSET $6
"""
)
BODY = "SELECT body FROM billing.held_events WHERE tenant_id = $1 AND invoice_id = $2 AND sequence = $3"
TAKE = (
    """
SELECT h.tenant_id, h.invoice_id, h.sequence, extract(epoch FROM now() - h.held_at)::float8 AS age_seconds
FROM billing.held_events h
"""
    + _FILTERS
    + """
ORDER BY h.held_at, h.tenant_id, h.invoice_id, h.sequence
LIMIT $5
FOR UPDATE OF h SKIP LOCKED
"""
)


class HeldEvent(msgspec.Struct, frozen=True):
    tenant_id: str
    invoice_id: str
    sequence: int
    event_id: str
    topic: str
    partition: int
    kafka_offset: int
    held_at: dt.datetime
    age_seconds: float
    # The sequence the invoice needs next (1: no event of it applied yet).
    waiting_for: int


class HeldPage(msgspec.Struct, frozen=True):
    total: int
    offset: int
    limit: int
    items: list[HeldEvent]


class Moved(msgspec.Struct, frozen=True):
    """What one ``move_to_quarantine`` did: the held events it looked at and
    the fold's result (None when it quarantined nothing)."""

    selected: int
    result: BatchResult | None

    @property
    def quarantined(self) -> int:
        return 0 if self.result is None else len(self.result.quarantined)


async def page(
    conn: asyncpg.Connection,
    *,
    tenant: str | None = None,
    invoice: str | None = None,
    sequence: int | None = None,
    older_than: float | None = None,
    limit: int = 100,
    offset: int = 0,
) -> HeldPage:
    """One page of held events, oldest first, and how many match in all."""
    filters = (tenant, invoice, sequence, older_than)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        # One snapshot: the count and the page agree.
        schema = (await versions.active(conn)).schema_name
        total = int(await conn.fetchval(COUNT, *filters))
        rows = await conn.fetch(PAGE.replace("{schema}", schema), *filters, limit, offset)
    return HeldPage(total=total, offset=offset, limit=limit, items=[HeldEvent(**dict(r.items())) for r in rows])


async def get(conn: asyncpg.Connection, tenant: str, invoice: str, sequence: int) -> tuple[HeldEvent, bytes] | None:
    """One held event and its stored body, or None if it is not held."""
    found = await page(conn, tenant=tenant, invoice=invoice, sequence=sequence, limit=1)
    if not found.items:
        return None
    body = await conn.fetchval(BODY, tenant, invoice, sequence)
    return (found.items[0], bytes(body)) if body is not None else None


async def move_to_quarantine(
    conn: asyncpg.Connection,
    why: str,
    *,
    tenant: str | None = None,
    invoice: str | None = None,
    sequence: int | None = None,
    older_than: float | None = None,
    limit: int = MOVE_LIMIT,
    before_commit: BeforeCommit | None = None,
) -> Moved:
    """Quarantine (``gap_timeout``, detail ``why`` and how long each waited
    for what) up to ``limit`` held events that match, oldest first, in one
    transaction. Events whose gap has closed meanwhile stay held: a batch or
    the stranded check applies them. ``before_commit`` gets the quarantined
    events (the dead-letter copy), as in ``Projector.apply``."""
    async with conn.transaction():
        await versions.lock_shared(conn)
        store = ProjectionStore((await versions.active(conn)).schema_name)
        rows = await conn.fetch(TAKE, tenant, invoice, sequence, older_than, limit)
        if not rows:
            return Moved(0, None)
        keys = sorted({(row["tenant_id"], row["invoice_id"]) for row in rows})
        states, held = await store.load(conn, keys)
        fold = BatchFold(states, held)
        moved = 0
        for row in rows:
            key: InvoiceKey = (row["tenant_id"], row["invoice_id"])
            state = states.get(key)
            waiting_for = (0 if state is None else state.last_sequence) + 1
            detail = (
                f"{why}: sequence {row['sequence']} of invoice {key[1]} waited {row['age_seconds']:.0f} s"
                f" for sequence {waiting_for}"
            )
            moved += fold.expire(key, row["sequence"], detail)
        if not moved:
            return Moved(len(rows), None)
        result = fold.finish()
        if before_commit is not None:
            await before_commit(result.quarantined)
        await store.write(conn, result)
    return Moved(len(rows), result)
