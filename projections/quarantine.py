"""Quarantined events: list, inspect, retry (after a publisher or a bug was
fixed) and dismiss. A retry puts the raw record through the same fold as the
worker, against the current state, in one transaction.

A record the codec rejects has no event, so the fold knows nothing of whom it
belongs to; ``identified`` fills its tenant, event id, invoice, sequence and
type from what the record itself says (``contracts.identify``: binary-mode
headers, or a structured body that parses), so that listing a tenant's
quarantine finds it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import msgspec

from contracts import ContractError, EventIdentity, Position, decode, event_type, identify
from projections import notify, versions
from projections.batch import QUARANTINED, BatchFold, Quarantined, event_key
from projections.projector import RawRecord, incoming
from projections.store import ProjectionStore, write_log

COLUMNS = (
    "id, topic, partition, kafka_offset, kafka_key, raw, header_keys, header_values, reason, detail,"
    " event_id, tenant_id, invoice_id, sequence, event_type, quarantined_at, status, retried_at, retry_outcome"
)
LIST = f"""
SELECT {COLUMNS} FROM billing.quarantine
WHERE ($1::text IS NULL OR reason = $1)
  AND ($2::text IS NULL OR tenant_id = $2)
  AND ($3::timestamptz IS NULL OR quarantined_at >= $3)
  AND ($4::timestamptz IS NULL OR quarantined_at < $4)
  AND ($5::text IS NULL OR status = $5)
ORDER BY id LIMIT $6
"""
BY_IDS = (
    f"SELECT {COLUMNS} FROM billing.quarantine WHERE id = ANY($1::bigint[]) ORDER BY partition, kafka_offset FOR UPDATE"
)
MARK = """
UPDATE billing.quarantine SET status = $2, retried_at = now(), retry_outcome = $3,
       reason = coalesce($4, reason), detail = coalesce($5, detail),
       event_id = coalesce(event_id, $6), tenant_id = coalesce(tenant_id, $7), invoice_id = coalesce(invoice_id, $8),
       sequence = coalesce(sequence, $9), event_type = coalesce(event_type, $10)
WHERE id = $1
"""
DISMISS = "UPDATE billing.quarantine SET status = 'dismissed' WHERE id = ANY($1::bigint[]) AND status = 'open'"


class QuarantinedEvent(msgspec.Struct, frozen=True):
    id: int
    topic: str
    partition: int
    kafka_offset: int
    kafka_key: bytes | None
    raw: bytes | None
    headers: list[tuple[str, bytes]]
    reason: str
    detail: str
    event_id: str | None
    tenant_id: str | None
    invoice_id: str | None
    sequence: int | None
    event_type: str | None
    quarantined_at: dt.datetime
    status: str
    retried_at: dt.datetime | None
    retry_outcome: str | None

    def record(self) -> RawRecord:
        return RawRecord(self.topic, self.partition, self.kafka_offset, self.kafka_key, self.raw, tuple(self.headers))

    def decode_attempt(self) -> str:
        """What decoding makes of the raw bytes today."""
        try:
            decoded = decode(self.raw, self.headers)
        except ContractError as error:
            return f"{error.reason}: {error.detail}"
        return f"decodes as {event_type(decoded.event)} {decoded.event.id}"


class RetryOutcome(msgspec.Struct, frozen=True):
    id: int
    outcome: str  # applied | duplicate | held | quarantined
    reason: str | None = None
    detail: str | None = None


def identified(rows: Iterable[Quarantined]) -> list[Quarantined]:
    """These rows, those without an event (the codec rejected the record)
    with what the record says of its identity, when it says anything."""
    return [_identified(row) for row in rows]


def _identified(row: Quarantined) -> Quarantined:
    if row.event_id is not None or row.tenant_id is not None:
        return row  # the fold had the event
    identity = identify(row.value, row.headers)
    if identity is None:
        return row
    return msgspec.structs.replace(
        row,
        event_id=identity.id,
        tenant_id=identity.tenantid,
        invoice_id=identity.subject,
        sequence=identity.sequence,
        event_type=identity.type,
    )


def _identity_columns(event: QuarantinedEvent) -> tuple[str | None, str | None, str | None, int | None, str | None]:
    """What a stored record says of its identity, for the rows stored without it."""
    if event.event_id is not None or event.tenant_id is not None:
        return None, None, None, None, None  # stored with its event's
    identity = identify(event.raw, event.headers) or EventIdentity()
    return identity.id, identity.tenantid, identity.subject, identity.sequence, identity.type


def _event(row: asyncpg.Record) -> QuarantinedEvent:
    values: dict[str, Any] = dict(row.items())
    keys, header_values = values.pop("header_keys"), values.pop("header_values")
    values["headers"] = [(k, bytes(v)) for k, v in zip(keys, header_values, strict=True)]
    for name in ("kafka_key", "raw"):
        if values[name] is not None:
            values[name] = bytes(values[name])
    return QuarantinedEvent(**values)


async def list_events(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    reason: str | None = None,
    tenant: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    status: str | None = "open",
    limit: int = 100,
) -> list[QuarantinedEvent]:
    return [_event(r) for r in await conn.fetch(LIST, reason, tenant, since, until, status, limit)]


async def get(conn: asyncpg.Connection, quarantine_id: int) -> QuarantinedEvent | None:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM billing.quarantine WHERE id = $1", quarantine_id)
    return _event(rows[0]) if rows else None


async def retry(
    conn: asyncpg.Connection, ids: Sequence[int], held_max_per_tenant: int | None = None
) -> list[RetryOutcome]:
    """Put these quarantined events through the fold again, in log order, in one
    transaction. Applied, duplicate and held ones leave the quarantine; the
    others stay, with today's reason. An event whose gap is still open is held
    again, unless its tenant holds ``held_max_per_tenant`` events already
    (then it stays, ``gap_timeout``); one whose gap has filled applies and
    releases the held events after it."""
    async with conn.transaction():
        await versions.lock_shared(conn)
        store = ProjectionStore((await versions.active(conn)).schema_name)
        events = [_event(r) for r in await conn.fetch(BY_IDS, list(ids))]
        events = [e for e in events if e.status == "open"]
        items = [incoming(e.record()) for e in events]
        keys = sorted({event_key(i.decoded.event) for i in items if i.decoded is not None})
        states, held = await store.load(conn, keys)
        counts = await store.held_counts(conn, (tenant for tenant, _ in keys))
        fold = BatchFold(states, held, counts, held_max_per_tenant)
        outcomes = [fold.add(item) for item in items]
        result = fold.finish()
        retried = {Position(e.topic, e.partition, e.kafka_offset) for e in events}
        requarantined = {q.position: q for q in result.quarantined if q.position in retried}
        report: list[RetryOutcome] = []
        for event, outcome in zip(events, outcomes, strict=True):
            # The event leaves its old count: it is counted again by today's outcome.
            result.outcomes[(event.topic, event.partition, QUARANTINED, event.reason)] -= 1
            identity = _identity_columns(event)
            if outcome == QUARANTINED:
                again = requarantined[Position(event.topic, event.partition, event.kafka_offset)]
                await conn.execute(MARK, event.id, "open", outcome, again.reason, again.detail, *identity)
                report.append(RetryOutcome(event.id, outcome, again.reason, again.detail))
            else:
                await conn.execute(MARK, event.id, "retried", outcome, None, None, *identity)
                report.append(RetryOutcome(event.id, outcome))
        # Re-quarantined events keep their one row (updated above), not a new one.
        result.quarantined = [q for q in result.quarantined if q.position not in retried]
        await write_log(conn, result)
        await store.write_projection(conn, result)
        await notify.invoices_changed(conn, result.invoices)
    return report


async def dismiss(conn: asyncpg.Connection, ids: Sequence[int]) -> int:
    """Close these without applying them (e.g. a publisher sent a corrected event)."""
    status = await conn.execute(DISMISS, list(ids))
    return int(status.split()[-1])
