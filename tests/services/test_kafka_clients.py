"""The one place the service's Kafka clients are built: the options they
share, and records as the projections take them (no I/O)."""

from __future__ import annotations

from typing import Any

import aiokafka
import pytest
from aiokafka.structs import ConsumerRecord

from projections.projector import RawRecord
from services import kafka
from services.settings import Settings


def test_every_client_connects_with_the_settings_brokers_and_client_id() -> None:
    settings = Settings(kafka_bootstrap="broker-1:9092,broker-2:9092", kafka_client_id="billing-eu")
    assert kafka.client_options(settings) == {
        "bootstrap_servers": "broker-1:9092,broker-2:9092",
        "client_id": "billing-eu",
    }


class Producer:
    """Stands in for aiokafka's producer: keeps the options it was built with."""

    options: dict[str, Any] = {}

    def __init__(self, **options: Any) -> None:
        Producer.options = options

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


async def test_the_publisher_connects_like_every_client_to_the_settings_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiokafka, "AIOKafkaProducer", Producer)
    settings = Settings(kafka_bootstrap="broker:9092", kafka_client_id="billing-demo", topic="events")
    async with kafka.publisher(settings, linger_ms=5) as publisher:
        assert publisher.topic == "events"
    assert Producer.options == {
        "bootstrap_servers": "broker:9092",
        "client_id": "billing-demo",
        "linger_ms": 5,
        "enable_idempotence": True,
        "acks": "all",
    }
    assert kafka.publisher(settings, "other").topic == "other"


def test_a_consumed_record_becomes_a_raw_record() -> None:
    record = ConsumerRecord(
        topic="events",
        partition=2,
        offset=41,
        timestamp=1_700_000_000_000,
        timestamp_type=0,
        key=b"inv-1",
        value=b"{}",
        checksum=None,
        serialized_key_size=5,
        serialized_value_size=2,
        headers=[("content-type", b"application/cloudevents+json")],
    )
    assert kafka.raw_record(record) == RawRecord(
        topic="events",
        partition=2,
        offset=41,
        key=b"inv-1",
        value=b"{}",
        headers=(("content-type", b"application/cloudevents+json"),),
        timestamp_ms=1_700_000_000_000,
    )
