"""The publisher helper, against a stand-in for aiokafka's producer (no broker)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import aiokafka  # type: ignore[import-untyped]
import msgspec
import pytest

from contracts.codec import decode
from contracts.errors import ContractError, Reason
from contracts.examples import CREATED, PAID, SENT
from contracts.publisher import InvoiceEventPublisher, Position


class RecordMetadata(msgspec.Struct, frozen=True):
    topic: str
    partition: int
    offset: int


class FakeProducer:
    """Records sends; acknowledges them in order with increasing offsets."""

    instances: ClassVar[list[FakeProducer]] = []

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.sent: list[dict[str, Any]] = []
        self.started = self.stopped = False
        FakeProducer.instances.append(self)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic: str, **message: Any) -> asyncio.Future[RecordMetadata]:
        ack: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        ack.set_result(RecordMetadata(topic=topic, partition=0, offset=len(self.sent)))
        self.sent.append({"topic": topic, **message})
        return ack


@pytest.fixture
def producers(monkeypatch: pytest.MonkeyPatch) -> list[FakeProducer]:
    FakeProducer.instances = []
    monkeypatch.setattr(aiokafka, "AIOKafkaProducer", FakeProducer)
    return FakeProducer.instances


async def test_the_producer_is_idempotent_and_waits_for_all_replicas(
    producers: list[FakeProducer],
) -> None:
    async with InvoiceEventPublisher("broker:9092", linger_ms=5):
        pass
    (producer,) = producers
    assert producer.options == {
        "bootstrap_servers": "broker:9092",
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
    }
    assert producer.started and producer.stopped


def test_options_that_weaken_delivery_are_refused() -> None:
    with pytest.raises(ValueError, match="enable_idempotence"):
        InvoiceEventPublisher("broker:9092", enable_idempotence=False)
    with pytest.raises(ValueError, match="acks"):
        InvoiceEventPublisher("broker:9092", acks=1)


def test_another_partitioner_than_the_contracts_is_refused() -> None:
    with pytest.raises(ValueError, match="murmur2"):
        InvoiceEventPublisher("broker:9092", partitioner=lambda key, every, available: every[0])


async def test_an_event_is_sent_structured_keyed_by_invoice_id(
    producers: list[FakeProducer],
) -> None:
    async with InvoiceEventPublisher("broker:9092") as publisher:
        position = await publisher.publish(CREATED)
    assert position == Position(topic="invoice-events", partition=0, offset=0)
    (message,) = producers[0].sent
    assert message["key"] == b"inv_01J9Z3Q5T7"
    assert message["headers"] == [("content-type", b"application/cloudevents+json")]
    assert decode(message["value"], message["headers"]).event == CREATED


async def test_binary_mode_sends_ce_headers_and_the_data(
    producers: list[FakeProducer],
) -> None:
    async with InvoiceEventPublisher("broker:9092", "billing", binary_mode=True) as publisher:
        await publisher.publish(PAID)
    (message,) = producers[0].sent
    assert message["topic"] == "billing"
    assert ("ce_type", b"invoice.paid") in message["headers"]
    assert decode(message["value"], message["headers"]).event == PAID


async def test_many_events_keep_their_order_and_get_a_position_each(
    producers: list[FakeProducer],
) -> None:
    async with InvoiceEventPublisher("broker:9092") as publisher:
        positions = await publisher.publish_many([CREATED, SENT, PAID])
    assert [p.offset for p in positions] == [0, 1, 2]
    assert [decode(m["value"]).event for m in producers[0].sent] == [
        CREATED,
        SENT,
        PAID,
    ]


async def test_an_invalid_event_is_refused_before_anything_is_sent(
    producers: list[FakeProducer],
) -> None:
    bad = msgspec.structs.replace(CREATED, data=msgspec.structs.replace(CREATED.data, gross_total="1.00"))
    async with InvoiceEventPublisher("broker:9092") as publisher:
        with pytest.raises(ContractError) as caught:
            await publisher.publish_many([SENT, bad])
    assert caught.value.reason is Reason.TOTALS_MISMATCH
    assert [decode(m["value"]).event for m in producers[0].sent] == [SENT]


async def test_validation_can_be_turned_off_to_send_a_bad_event_on_purpose(
    producers: list[FakeProducer],
) -> None:
    bad = msgspec.structs.replace(PAID, data=msgspec.structs.replace(PAID.data, amount="0"))
    async with InvoiceEventPublisher("broker:9092", validate=False) as publisher:
        await publisher.publish(bad)
    assert len(producers[0].sent) == 1


async def test_publishing_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        await InvoiceEventPublisher("broker:9092").publish(SENT)
