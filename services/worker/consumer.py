"""The Kafka loop of the projection worker.

Positions live in PostgreSQL (projections/positions.py): on assignment the
worker seeks to the stored positions; each batch commits its rows and the new
positions in one transaction. Kafka's own offset commit only feeds lag
dashboards. On any failure the batch is rolled back, the partitions are
rewound to their stored positions and the batch is read again after a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import asyncpg
import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from projections import positions, versions
from projections.batch import Incoming, Quarantined
from projections.projector import Projector, RawRecord, incoming
from services import metrics
from services.logging import get_logger
from services.settings import Settings

log = get_logger("worker")

MAX_BACKOFF_SECONDS = 30.0
REBALANCE_TIMEOUT_MS = 30_000
# Records decoded between two yields to the event loop.
DECODE_SLICE = 500
# A partition this worker does not own: no offset reaches it.
MISSING = 2**63
GAP_CHECK_SECONDS = 15.0

OPEN_GAPS = """
SELECT count(*) AS open_gaps, min(held_at) AS oldest,
       (array_agg(tenant_id || '/' || invoice_id || '#' || sequence ORDER BY held_at))[1:5] AS sample
FROM billing.held_events WHERE held_at < now() - make_interval(secs => $1)
"""


def raw(record: ConsumerRecord) -> RawRecord:  # type: ignore[type-arg]
    return RawRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
        timestamp_ms=record.timestamp,
    )


class OffsetGap(Exception):
    """A batch whose records do not start at the stored position."""


class Prepared(msgspec.Struct):
    """A fetched and decoded batch, and the seek generation it was fetched under."""

    generation: int
    items: list[Incoming]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Wait for the batch in flight: it commits (or fails) before we let go.
        async with self.worker.batch_lock:
            self.worker.generation += 1
            for tp in revoked:
                self.worker.expected.pop(tp.partition, None)
        if revoked:
            log.info("partitions revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        async with self.worker.batch_lock:
            try:
                await self.worker.seek_to_stored(assigned)
            except Exception as error:  # noqa: BLE001 - the main loop rewinds again
                self.worker.needs_rewind = True
                log.warning("seek to stored positions failed", error=repr(error))
                return
        if assigned:
            log.info("partitions assigned", positions=dict(sorted(self.worker.expected.items())))


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conn: asyncpg.Connection = None  # type: ignore[assignment]  # set by run()
        self.projector = Projector(settings.topic)
        self.expected: dict[int, int] = {}
        self.batch_lock = asyncio.Lock()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=max(settings.session_timeout_ms // 4, 100),
            # How long a rebalance waits for members to rejoin. The default (5
            # minutes) can stall a group that way after a broker restart; a
            # batch takes seconds, so members rejoin well within this.
            rebalance_timeout_ms=REBALANCE_TIMEOUT_MS,
            max_poll_interval_ms=REBALANCE_TIMEOUT_MS,
            # A group that formed before its topic's metadata reached the worker
            # (a topic created a moment earlier, a broker restarting) assigns
            # nothing until the next metadata refresh: refresh often.
            metadata_max_age_ms=10_000,
            group_instance_id=settings.group_instance_id,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
        )
        self.dlq = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True, acks="all")
        self.batches = 0
        # Set after any failure: the consumer's positions may have run ahead of
        # the stored ones, so nothing is processed until they are reset.
        self.needs_rewind = False
        self._kafka_commit: asyncio.Task[None] | None = None
        self._next_gap_check = 0.0
        # Bumped by every seek and revocation; a batch fetched under an older
        # generation is dropped (its records are read again from the new position).
        self.generation = 0
        self._accepted_gaps: dict[int, tuple[int, int]] = {}

    async def seek_to_stored(self, assigned: Sequence[TopicPartition]) -> None:
        # Whatever was fetched before this seek must not be applied.
        self.generation += 1
        if not assigned:
            return
        stored = await positions.claim(self.conn, self.settings.topic, [tp.partition for tp in assigned])
        for tp in assigned:
            self.consumer.seek(tp, stored[tp.partition])
            self.expected[tp.partition] = stored[tp.partition]

    async def _check_schema(self) -> None:
        """Warn when the active version was built from another projection schema
        than this code's: a replay brings them together."""
        active = await versions.active(self.conn)
        if active.ddl_hash != versions.DDL_HASH:
            log.warning(
                "the active projection version was built from another schema",
                version=active.version,
                built_with=active.ddl_hash,
                this_code=versions.DDL_HASH,
                remedy="billing replay --promote",
            )

    async def _open(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self.settings.database_url,
            server_settings={"statement_timeout": str(self.settings.statement_timeout_ms)},
        )

    async def _connect(self, stop: asyncio.Event) -> bool:
        failures = 0
        while not stop.is_set():
            try:
                self.conn = await self._open()
                return True
            except (OSError, asyncpg.PostgresError) as error:
                failures += 1
                log.warning("database unreachable; retrying", error=repr(error), attempt=failures)
                await self._back_off(failures)
        return False

    async def run(self, stop: asyncio.Event) -> None:
        if not await self._connect(stop):
            return
        await self._check_schema()
        await self.dlq.start()
        await self.consumer.start()
        self.consumer.subscribe([self.settings.topic], listener=_Rebalance(self))
        log.info("worker started", topic=self.settings.topic, group=self.settings.consumer_group)
        failures = 0
        # Two stages: the next batch is fetched and decoded (CPU) while the
        # current one's transaction waits on PostgreSQL (I/O).
        upcoming: asyncio.Task[Prepared | None] = asyncio.create_task(self._prepare())
        try:
            while not stop.is_set():
                if self.needs_rewind:
                    upcoming.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await upcoming
                    if not await self._rewind():
                        failures += 1
                        await self._back_off(failures)
                    upcoming = asyncio.create_task(self._prepare())
                    continue
                prepared = await upcoming
                upcoming = asyncio.create_task(self._prepare())
                if time.monotonic() >= self._next_gap_check:
                    await self._report_open_gaps()
                if prepared is None:
                    continue
                async with self.batch_lock:
                    if prepared.generation != self.generation:
                        # Fetched across a seek or a rebalance: its records may
                        # come from either side of it, so drop them and read
                        # again from the stored positions.
                        self.needs_rewind = True
                        continue
                    try:
                        await self._process(prepared.items)
                        failures = 0
                        continue
                    except OffsetGap as gap:
                        self.needs_rewind = True
                        log.info("records do not start at the stored position; reading again", gap=str(gap))
                        continue
                    except Exception as error:  # noqa: BLE001 - any failure: rewind and retry
                        failures += 1
                        self.needs_rewind = True
                        metrics.BATCH_FAILURES.labels(type(error).__name__).inc()
                        log.warning(
                            "batch failed; rewinding to the stored positions",
                            error=repr(error),
                            attempt=failures,
                            stale_owner=isinstance(error, positions.StalePosition),
                        )
                await self._back_off(failures)
        finally:
            upcoming.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await upcoming
            await self.consumer.stop()
            await self.dlq.stop()
            await self.conn.close()
            log.info("worker stopped", batches=self.batches)

    async def _prepare(self) -> Prepared | None:
        """Fetch a batch and decode it, yielding to the event loop between
        slices so the batch in flight keeps moving."""
        generation = self.generation
        fetched = await self.consumer.getmany(
            timeout_ms=self.settings.batch_wait_ms, max_records=self.settings.batch_max_records
        )
        if not fetched:
            return None
        items: list[Incoming] = []
        for batch in fetched.values():
            for start in range(0, len(batch), DECODE_SLICE):
                items.extend(incoming(raw(r)) for r in batch[start : start + DECODE_SLICE])
                await asyncio.sleep(0)
        return Prepared(generation, items)

    async def _process(self, decoded: list[Incoming]) -> None:
        items = [i for i in decoded if i.position.offset >= self.expected.get(i.position.partition, MISSING)]
        if not items:
            return
        self._check_contiguous(items)
        started = time.perf_counter()
        result = await self.projector.apply(self.conn, items, self.expected, before_commit=self._dead_letter)
        elapsed = time.perf_counter() - started
        next_offsets: dict[int, int] = {}
        for item in items:
            next_offsets[item.position.partition] = item.position.offset + 1
        self.expected.update(next_offsets)
        self.batches += 1
        metrics.BATCH_SIZE.observe(len(items))
        metrics.BATCH_SECONDS.observe(elapsed)
        metrics.count_outcomes(result.outcomes)
        self._record_lag()
        for q in result.quarantined:
            log.warning(
                "event quarantined",
                partition=q.position.partition,
                offset=q.position.offset,
                event_id=q.event_id,
                tenant=q.tenant_id,
                reason=q.reason,
                detail=q.detail,
            )
        log.debug("batch applied", records=len(items), seconds=round(elapsed, 4))
        # For lag dashboards only (the stored positions are the truth), so it
        # runs beside the next batch and its failures are not the batch's.
        self._kafka_commit = asyncio.create_task(
            self._commit_quietly({TopicPartition(self.settings.topic, p): o for p, o in next_offsets.items()})
        )

    def _check_contiguous(self, items: list[Incoming]) -> None:
        """Each partition's records must start at its stored position: applying
        records beyond a gap would skip the ones in it. Offsets may have real
        gaps (transaction markers, compaction), so a gap seen again right after
        reading from the stored position is accepted."""
        firsts: dict[int, int] = {}
        for item in items:
            firsts.setdefault(item.position.partition, item.position.offset)
        for partition, first in firsts.items():
            position = self.expected[partition]
            if first > position and self._accepted_gaps.get(partition) != (position, first):
                self._accepted_gaps[partition] = (position, first)
                raise OffsetGap(f"partition {partition}: stored position {position}, first record {first}")

    async def _commit_quietly(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit(offsets)
        except Exception as error:  # noqa: BLE001 - informational only
            log.debug("kafka offset commit failed", error=repr(error))

    async def _report_open_gaps(self) -> None:
        """Held events whose gap stays open too long: a gauge and a warning."""
        interval = min(GAP_CHECK_SECONDS, max(self.settings.gap_alert_seconds / 4, 0.5))
        self._next_gap_check = time.monotonic() + interval
        async with self.batch_lock:
            try:
                row = await self.conn.fetchrow(OPEN_GAPS, self.settings.gap_alert_seconds)
            except Exception as error:  # noqa: BLE001 - a report, never a reason to stop
                log.debug("open gap check failed", error=repr(error))
                return
        metrics.HELD_OVERDUE.set(row["open_gaps"])
        if row["open_gaps"]:
            log.warning(
                "held events wait for a missing earlier event",
                open_gaps=row["open_gaps"],
                oldest_held_at=row["oldest"].isoformat(),
                examples=row["sample"],
                limit_seconds=self.settings.gap_alert_seconds,
            )

    def _record_lag(self) -> None:
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            position = self.expected.get(tp.partition)
            if highwater is not None and position is not None:
                metrics.LAG.labels(str(tp.partition)).set(max(highwater - position, 0))

    async def _dead_letter(self, quarantined: Sequence[Quarantined]) -> None:
        """Copy quarantined events to the dead-letter topic before the batch
        commits: a crash in between repeats the copy, it never loses it."""
        sends = [
            await self.dlq.send(
                self.settings.dlq_topic,
                value=q.value,
                key=q.key,
                headers=[
                    *q.headers,
                    ("dlq_reason", q.reason.encode()),
                    ("dlq_detail", q.detail.encode()[:1000]),
                    ("dlq_source", f"{q.position.topic}:{q.position.partition}:{q.position.offset}".encode()),
                ],
            )
            for q in quarantined
        ]
        await asyncio.gather(*sends)

    async def _back_off(self, failures: int) -> None:
        await asyncio.sleep(min(0.2 * 2 ** (failures - 1), MAX_BACKOFF_SECONDS))

    async def _rewind(self) -> bool:
        """Reconnect if needed and seek every assigned partition to its stored
        position; False if the database is still unreachable."""
        async with self.batch_lock:
            try:
                # A fresh session after any failure: nothing of a broken or
                # misconfigured one (e.g. read-only, aborted) carries over.
                self.conn.terminate()
                self.conn = await self._open()
                self.expected.clear()
                await self.seek_to_stored(list(self.consumer.assignment()))
            except Exception as error:  # noqa: BLE001 - retried with backoff
                log.warning("rewind failed; will retry", error=repr(error))
                return False
        self.needs_rewind = False
        return True
