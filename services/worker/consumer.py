"""The Kafka loop of the projection worker.

Positions live in PostgreSQL (projections/positions.py): on assignment the
worker seeks to the stored positions; each batch commits its rows and the new
positions in one transaction. Kafka's own offset commit only feeds lag
dashboards. On any failure the batch is rolled back, the partitions are
rewound to their stored positions and the batch is read again after a backoff.
Which fetched records may apply is the tracker's decision (tracking.py).

Quarantined records are written with what they say of their identity
(projections.quarantine.identified); every few seconds the worker reports open
gaps and held events against their cap, releases held events a race between
partitions left behind (stranded.py) and quarantines those held longer than
``BILLING_HELD_MAX_AGE_SECONDS`` (projections/held.py), and rolls the
customers' standing rows a new day made stale (day_roll.py). A tenant holding
``BILLING_HELD_MAX_PER_TENANT`` events gets its next ones quarantined by the
batch itself. A revoked partition leaves the worker's metrics at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Sequence

import asyncpg
import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from projections import held, positions, versions
from projections.batch import BatchResult, Incoming
from projections.projector import Projector, incoming
from projections.quarantine import identified
from projections.store import ProjectionStore
from services import kafka, metrics
from services.logging import get_logger
from services.settings import Settings
from services.worker.day_roll import roll_quietly
from services.worker.dead_letters import DeadLetters
from services.worker.lag import RecordTimes
from services.worker.open_gaps import OpenGapReport
from services.worker.stranded import release_stranded
from services.worker.tracking import OffsetGap, PartitionTracker

log = get_logger("worker")

MAX_BACKOFF_SECONDS = 30.0
REBALANCE_TIMEOUT_MS = 30_000
# Records decoded between two yields to the event loop.
DECODE_SLICE = 500


def group_consumer(settings: Settings) -> AIOKafkaConsumer:
    """The worker's consumer: a member of the workers' group that commits
    nothing by itself (the stored positions are the truth)."""
    return kafka.consumer(
        settings,
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


class _IdentifyingStore(ProjectionStore):
    """Writes quarantined records with what they say of their tenant, event
    id, invoice, sequence and type: the fold has no event for a record the
    codec rejected, so it leaves them empty."""

    async def write(self, conn: asyncpg.Connection, result: BatchResult) -> None:
        result.quarantined = identified(result.quarantined)
        await super().write(conn, result)


class _Projector(Projector):
    """The projector, writing through _IdentifyingStore."""

    def __init__(self, topic: str, held_max_per_tenant: int | None = None) -> None:
        super().__init__(topic, held_max_per_tenant)
        self._identifying: dict[str, ProjectionStore] = {}

    def store(self, schema: str) -> ProjectionStore:
        if schema not in self._identifying:
            self._identifying[schema] = _IdentifyingStore(schema)
        return self._identifying[schema]


class Prepared(msgspec.Struct):
    """A fetched and decoded batch, and the seek generation it was fetched under."""

    generation: int
    items: list[Incoming]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka's classes are untyped
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Wait for the batch in flight: it commits (or fails) before we let go.
        async with self.worker.batch_lock:
            self.worker.let_go(tp.partition for tp in revoked)
        if revoked:
            log.info("partitions revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        async with self.worker.batch_lock:
            try:
                await self.worker.seek_to_stored(assigned)
            except Exception as error:  # noqa: BLE001 - the main loop rewinds again
                self.worker.tracker.needs_rewind = True
                log.warning("seek to stored positions failed", error=repr(error))
                return
        if assigned:
            log.info("partitions assigned", positions=dict(sorted(self.worker.tracker.expected.items())))


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn: asyncpg.Connection | None = None
        self.projector: Projector = _Projector(settings.topic, settings.held_max_per_tenant)
        self.tracker = PartitionTracker()
        self.record_times = RecordTimes(settings.topic)
        self.batch_lock = asyncio.Lock()
        self.consumer = group_consumer(settings)
        self.dlq = DeadLetters(settings)
        self.gaps = OpenGapReport(settings.gap_alert_seconds, settings.held_max_per_tenant)
        self.batches = 0
        self._kafka_commit: asyncio.Task[None] | None = None
        # Partitions whose per-partition gauges this worker has set.
        self._gauged: set[int] = set()

    @property
    def conn(self) -> asyncpg.Connection:
        """The worker's database session (open while ``run`` runs)."""
        if self._conn is None:
            raise RuntimeError("the worker has no database session: it is not running")
        return self._conn

    def let_go(self, partitions: Iterable[int]) -> None:
        """These partitions belong to another worker now: forget where we
        stood on them and drop their metrics (their lag is the new owner's to
        report; a frozen figure here would keep a lag alert firing)."""
        gone = set(partitions)
        self.tracker.revoked(gone)
        self.record_times.revoked(gone)
        metrics.forget_partitions(gone)
        self._gauged -= gone

    async def seek_to_stored(self, assigned: Sequence[TopicPartition]) -> None:
        # Whatever was fetched before this seek must not be applied.
        self.tracker.invalidate()
        if not assigned:
            return
        stored = await positions.claim(self.conn, self.settings.topic, [tp.partition for tp in assigned])
        for tp in assigned:
            self.consumer.seek(tp, stored[tp.partition])
        self.tracker.sought({tp.partition: stored[tp.partition] for tp in assigned})

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
                self._conn = await self._open()
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
        lag_seconds = metrics.LAG_SECONDS.add(self.record_times.snapshot)
        log.info("worker started", topic=self.settings.topic, group=self.settings.consumer_group)
        failures = 0
        # Two stages: the next batch is fetched and decoded (CPU) while the
        # current one's transaction waits on PostgreSQL (I/O).
        upcoming: asyncio.Task[Prepared | None] = asyncio.create_task(self._prepare())
        try:
            while not stop.is_set():
                if self.tracker.needs_rewind:
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
                if self.gaps.due():
                    async with self.batch_lock:
                        await self._release_stranded()
                        await self._quarantine_expired()
                        await roll_quietly(self.conn)
                        open_gaps = await self.gaps.read(self.conn)
                    self.gaps.publish(open_gaps)
                if prepared is None:
                    self._record_lag()
                    continue
                async with self.batch_lock:
                    if not self.tracker.is_current(prepared.generation):
                        # Fetched across a seek or a rebalance: its records may
                        # come from either side of it, so drop them and read
                        # again from the stored positions.
                        self.tracker.needs_rewind = True
                        continue
                    try:
                        await self._process(prepared.items)
                        failures = 0
                        continue
                    except OffsetGap as gap:
                        self.tracker.needs_rewind = True
                        log.info("records do not start at the stored position; reading again", gap=str(gap))
                        continue
                    except Exception as error:  # noqa: BLE001 - any failure: rewind and retry
                        failures += 1
                        self.tracker.needs_rewind = True
                        metrics.BATCH_FAILURES.labels(type(error).__name__).inc()
                        log.warning(
                            "batch failed; rewinding to the stored positions",
                            error=repr(error),
                            attempt=failures,
                            stale_owner=isinstance(error, positions.StalePosition),
                        )
                await self._back_off(failures)
        finally:
            metrics.LAG_SECONDS.remove(lag_seconds)
            metrics.forget_partitions(self._gauged)
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
        generation = self.tracker.generation
        fetched = await self.consumer.getmany(
            timeout_ms=self.settings.batch_wait_ms, max_records=self.settings.batch_max_records
        )
        if not fetched:
            return None
        items: list[Incoming] = []
        for tp, batch in fetched.items():
            self._fetched_times(tp.partition, batch)
            for start in range(0, len(batch), DECODE_SLICE):
                items.extend(incoming(kafka.raw_record(r)) for r in batch[start : start + DECODE_SLICE])
                await asyncio.sleep(0)
        return Prepared(generation, items)

    def _fetched_times(self, partition: int, batch: list[ConsumerRecord]) -> None:
        """Note the timestamps of a fetched chunk's ends, for the lag in seconds."""
        if batch and batch[0].timestamp is not None and batch[0].timestamp >= 0 and batch[-1].timestamp >= 0:
            self.record_times.fetched(
                partition,
                (batch[0].offset, batch[0].timestamp),
                (batch[-1].offset, batch[-1].timestamp),
                self.tracker.expected.get(partition),
            )

    async def _process(self, decoded: list[Incoming]) -> None:
        items = self.tracker.to_apply(decoded)
        if not items:
            return
        started = time.perf_counter()
        result = await self.projector.apply(self.conn, items, self.tracker.expected, before_commit=self.dlq.copy)
        elapsed = time.perf_counter() - started
        next_offsets = self.tracker.applied(items)
        for partition, position in next_offsets.items():
            self.record_times.applied(
                partition, position, self.consumer.highwater(TopicPartition(self.settings.topic, partition))
            )
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

    async def _commit_quietly(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit(offsets)
        except Exception as error:  # noqa: BLE001 - informational only
            log.debug("kafka offset commit failed", error=repr(error))

    def _record_lag(self) -> None:
        """The lag in events of each owned partition; the lag in seconds of
        those with nothing left to apply (services/worker/lag.py)."""
        for tp in self.consumer.assignment():
            end = self.consumer.highwater(tp)
            lag = self.tracker.lag(tp.partition, end)
            if lag is not None:
                metrics.LAG.labels(str(tp.partition)).set(lag)
                self._gauged.add(tp.partition)
            position = self.tracker.expected.get(tp.partition)
            if position is not None:
                self.record_times.caught_up(tp.partition, position, end)

    async def _release_stranded(self) -> None:
        """Release held events whose predecessor another worker applied at
        the same moment (stranded.py); a failure waits for the next check."""
        try:
            result = await release_stranded(self.conn, before_commit=self.dlq.copy)
        except Exception as error:  # noqa: BLE001 - retried at the next check
            log.warning("releasing stranded held events failed; will retry", error=repr(error))
            return
        if result is None:
            return
        metrics.count_outcomes(result.outcomes)
        log.info(
            "released held events whose gap had closed (their predecessor came from another partition)",
            events=sorted(f"{e.tenant_id}/{e.invoice_id}#{e.sequence}" for e in result.events)[:20],
            applied=len(result.events),
            quarantined=len(result.quarantined),
        )

    async def _quarantine_expired(self) -> None:
        """Move held events older than BILLING_HELD_MAX_AGE_SECONDS to the
        quarantine (projections/held.py); a failure waits for the next check."""
        max_age = self.settings.held_max_age_seconds
        try:
            moved = await held.move_to_quarantine(
                self.conn,
                f"held longer than BILLING_HELD_MAX_AGE_SECONDS ({max_age:g} s)",
                older_than=max_age,
                before_commit=self.dlq.copy,
            )
        except Exception as error:  # noqa: BLE001 - retried at the next check
            log.warning("quarantining expired held events failed; will retry", error=repr(error))
            return
        if moved.result is None:
            return
        metrics.count_outcomes(moved.result.outcomes)
        log.warning(
            "held events waited too long for an earlier event: quarantined (gap_timeout)",
            events=[f"{q.tenant_id}/{q.invoice_id}#{q.sequence}" for q in moved.result.quarantined[:20]],
            quarantined=moved.quarantined,
            max_age_seconds=max_age,
        )

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
                self._conn = await self._open()
                self.tracker.rewinding()
                await self.seek_to_stored(list(self.consumer.assignment()))
            except Exception as error:  # noqa: BLE001 - retried with backoff
                log.warning("rewind failed; will retry", error=repr(error))
                return False
        self.tracker.needs_rewind = False
        return True
