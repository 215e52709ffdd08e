"""The dead-letter topic: a copy of every quarantined event, with why and
where it was read."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from projections.batch import Quarantined
from services import kafka
from services.settings import Settings

# The longest reason detail a copy carries.
DETAIL_BYTES = 1000


class DeadLetters:
    """An idempotent producer to the settings' dead-letter topic."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.dlq_topic
        self.producer = kafka.producer(settings, enable_idempotence=True, acks="all")

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def copy(self, quarantined: Sequence[Quarantined]) -> None:
        """Send the copies and wait for the broker to store them. The worker
        calls this before its batch commits: a crash in between repeats a
        copy, it never loses one."""
        sends = [
            await self.producer.send(
                self.topic,
                value=q.value,
                key=q.key,
                headers=[
                    *q.headers,
                    ("dlq_reason", q.reason.encode()),
                    ("dlq_detail", q.detail.encode()[:DETAIL_BYTES]),
                    ("dlq_source", f"{q.position.topic}:{q.position.partition}:{q.position.offset}".encode()),
                ],
            )
            for q in quarantined
        ]
        await asyncio.gather(*sends)
