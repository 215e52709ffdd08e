"""One batch, one transaction: decode, load, fold, write, advance positions.

Everything a batch changes — event store rows, read-model rows, summary
deltas, held and quarantined events, outcome counts and the partitions'
positions — commits together or not at all, which is what makes an
at-least-once log produce an exactly-once effect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import msgspec

from contracts import ContractError, Position, decode, encode
from projections import notify, positions, versions
from projections.batch import BatchFold, BatchResult, Incoming, Quarantined, event_key
from projections.store import ProjectionStore


class RawRecord(msgspec.Struct, frozen=True):
    """A Kafka record as read, independent of the client library."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None


def incoming(record: RawRecord) -> Incoming:
    """Decode one record (pure). Binary-mode events are stored re-encoded as
    structured JSON, so every stored body decodes on its own."""
    position = Position(record.topic, record.partition, record.offset)
    try:
        decoded = decode(record.value, record.headers)
    except ContractError as error:
        return Incoming(
            position=position,
            key=record.key,
            value=record.value,
            headers=record.headers,
            error=error,
        )
    binary = any(name == "ce_specversion" for name, _ in record.headers)
    return Incoming(
        position=position,
        key=record.key,
        value=record.value,
        headers=record.headers,
        decoded=decoded,
        body=encode(decoded.event) if binary or record.value is None else record.value,
    )


# Called with the quarantined events before the transaction commits (the
# dead-letter copy): if it fails, nothing commits and the batch is retried.
BeforeCommit = Callable[[Sequence[Quarantined]], Awaitable[None]]


class Projector:
    """Applies batches of records to the active projection version."""

    def __init__(self, topic: str, held_max_per_tenant: int | None = None) -> None:
        self.topic = topic
        # Events a tenant may hold before new ones go to quarantine (None: no cap).
        self.held_max_per_tenant = held_max_per_tenant
        self._stores: dict[str, ProjectionStore] = {}

    def store(self, schema: str) -> ProjectionStore:
        if schema not in self._stores:
            self._stores[schema] = ProjectionStore(schema)
        return self._stores[schema]

    async def apply(
        self,
        conn: asyncpg.Connection,
        items: Sequence[Incoming],
        expected: dict[int, int],
        before_commit: BeforeCommit | None = None,
        schema: str | None = None,
    ) -> BatchResult:
        """Apply decoded records (``incoming``; one topic, each partition's in
        offset order); ``expected`` is each partition's stored position when
        the batch was read. Raises positions.StalePosition if another owner
        moved a partition on. ``schema`` names a version other than the active
        one (a rebuild from Kafka)."""
        keys = sorted({event_key(i.decoded.event) for i in items if i.decoded is not None})
        moves = {p: (expected[p], _next_offset(items, p)) for p in {i.position.partition for i in items}}
        async with conn.transaction():
            await versions.lock_shared(conn)
            store = self.store(schema or (await versions.active(conn)).schema_name)
            # Positions first: compare-and-set, and row locks that queue a zombie.
            await positions.advance(conn, self.topic, moves)
            states, held = await store.load(conn, keys)
            counts = None
            if self.held_max_per_tenant is not None:
                counts = await store.held_counts(conn, (tenant for tenant, _ in keys))
            fold = BatchFold(states, held, counts, self.held_max_per_tenant)
            for item in items:
                fold.add(item)
            result = fold.finish()
            await positions.record_event_times(
                conn, self.topic, {p: t for (_, p), t in result.newest_event_time.items()}
            )
            if before_commit is not None and result.quarantined:
                await before_commit(result.quarantined)
            await store.write(conn, result)
            if schema is None:
                # Delivered at commit only: the live stream never sees an uncommitted change.
                await notify.batch_applied(conn, self.topic, result.invoices, {p: new for p, (_, new) in moves.items()})
        return result


def _next_offset(items: Sequence[Incoming], partition: int) -> int:
    return max(i.position.offset for i in items if i.position.partition == partition) + 1
