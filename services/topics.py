"""Create the event and dead-letter topics if they are missing."""

from __future__ import annotations

import contextlib

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services import kafka
from services.settings import Settings


async def ensure_topics(settings: Settings) -> None:
    admin = kafka.admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, settings.topic_partitions, 1)
            for name in (settings.topic, settings.dlq_topic)
            if name not in existing
        ]
        if missing:
            # Another process may create it first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()
