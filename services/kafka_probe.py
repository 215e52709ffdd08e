"""What the broker knows and the database cannot: the end offset of each
partition, and how long the oldest unapplied record has waited."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from projections.status import PartitionStatus
from services import kafka
from services.logging import get_logger
from services.settings import Settings

log = get_logger("kafka-probe")


class KafkaProbe:
    """A group-less consumer that only looks: it never joins the workers' group.

    ``stop()`` closes its consumer whether it started or not (a consumer
    never closed warns "Unclosed AIOKafkaConsumer" when collected); a start
    that fails closes it too, and the next ``start()`` builds another."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.topic
        self._settings = settings
        self.consumer = self._new_consumer()
        self.started = False
        # A consumer whose start failed, or that was stopped, is closed.
        self._spent = False

    def _new_consumer(self) -> AIOKafkaConsumer:
        return kafka.consumer(
            self._settings,
            enable_auto_commit=False,
            group_id=None,
            request_timeout_ms=5000,
            metadata_max_age_ms=10_000,
        )

    async def start(self) -> None:
        if self._spent:
            self.consumer = self._new_consumer()
            self._spent = False
        try:
            await self.consumer.start()
        except BaseException:
            self._spent = True
            await self.consumer.stop()
            raise
        self.started = True

    async def stop(self) -> None:
        self.started = False
        if not self._spent:
            self._spent = True
            await self.consumer.stop()

    async def fill_lag(self, partitions: list[PartitionStatus]) -> None:
        """Set endOffset, lagEvents and lagSeconds on each partition status."""
        tps = [TopicPartition(self.topic, p.partition) for p in partitions]
        if not tps:
            return
        ends = await self.consumer.end_offsets(tps)
        lagging = []
        for status, tp in zip(partitions, tps, strict=True):
            status.endOffset = ends[tp]
            status.lagEvents = max(ends[tp] - status.nextOffset, 0)
            status.lagSeconds = 0.0
            if status.lagEvents:
                lagging.append((status, tp))
        if not lagging:
            return
        # The oldest unapplied record's timestamp: read one record at each position.
        self.consumer.assign([tp for _, tp in lagging])
        for status, tp in lagging:
            self.consumer.seek(tp, status.nextOffset)
        try:
            fetched = await asyncio.wait_for(self.consumer.getmany(timeout_ms=1000, max_records=len(lagging) * 50), 3)
        except TimeoutError:
            return
        now_ms = time.time() * 1000
        for status, tp in lagging:
            records = [r for r in fetched.get(tp, []) if r.offset >= status.nextOffset]
            if records:
                status.lagSeconds = round(max(now_ms - records[0].timestamp, 0) / 1000, 3)
