"""Every Kafka client the service builds, from its Settings, and the records
they deliver.

The options all clients share — the brokers, the client id and, where a
cluster asks for them, the security settings — are set here once
(``client_options``); each caller adds only what its role needs (a group, fetch
sizes, idempotence). ``contracts.InvoiceEventPublisher`` keeps its own producer
for publishers outside this service; ``publisher`` gives it the same shared
options when the service itself publishes (``billing demo``, benchmarks).
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from contracts import InvoiceEventPublisher
from projections.projector import RawRecord
from services.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """The options every client of this service connects with."""
    return {"bootstrap_servers": settings.kafka_bootstrap, "client_id": settings.kafka_client_id}


def consumer(settings: Settings, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer (not started), subscribed to ``topics`` if any are given."""
    return AIOKafkaConsumer(*topics, **client_options(settings), **options)


def producer(settings: Settings, **options: Any) -> AIOKafkaProducer:
    """A producer (not started)."""
    return AIOKafkaProducer(**client_options(settings), **options)


def admin(settings: Settings, **options: Any) -> AIOKafkaAdminClient:
    """An admin client (not started), for topics."""
    return AIOKafkaAdminClient(**client_options(settings), **options)


def publisher(settings: Settings, topic: str | None = None, **options: Any) -> InvoiceEventPublisher:
    """The contract's idempotent publisher (not started), to ``topic`` (the
    settings' event topic by default), connected like every other client."""
    shared = client_options(settings)
    bootstrap = shared.pop("bootstrap_servers")
    return InvoiceEventPublisher(bootstrap, settings.topic if topic is None else topic, **shared, **options)


def raw_record(record: ConsumerRecord) -> RawRecord:
    """A consumed record as the projections take it, free of the client library."""
    return RawRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
        timestamp_ms=record.timestamp,
    )
