"""A small helper for publishers: idempotent, ordered, acknowledged sends.

Every event goes to the topic with the invoice id (``event.subject``) as key,
partitioned by aiokafka's default partitioner: murmur2 of the key, the Java
client's default and the contract's (contracts/README.md), so all events of one
invoice land on one partition in order, whichever client published them. The
producer is idempotent with ``acks="all"``: a retried send cannot duplicate or
reorder a message, and a returned ``Position`` means the broker has stored it.

Events are checked with ``contracts.codec.decode`` before they are sent, so a
bug in a publisher fails in the publisher (ContractError) instead of landing in
the consumers' quarantine. Pass ``validate=False`` to send events as they are,
e.g. to test a consumer's quarantine.

aiokafka is imported when the publisher starts, so the rest of the contracts
package does not need it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import msgspec

from contracts.codec import STRUCTURED_CONTENT_TYPE, decode, encode, encode_binary
from contracts.events import InvoiceEvent

DEFAULT_TOPIC = "invoice-events"

# What makes the producer safe for this contract; a caller may repeat these
# options but not weaken them.
_REQUIRED_OPTIONS: dict[str, Any] = {"enable_idempotence": True, "acks": "all"}
_STRUCTURED_HEADERS = [("content-type", STRUCTURED_CONTENT_TYPE.encode())]


class Position(msgspec.Struct, frozen=True):
    """Where the broker stored an event."""

    topic: str
    partition: int
    offset: int

    @property
    def token(self) -> str:
        """The read API's freshness token for this event, ``topic:partition=next
        offset`` (its ``X-Projection-Position`` format): pass it as
        ``minPosition`` (or ``X-Min-Position``) to read the event's effects."""
        return f"{self.topic}:{self.partition}={self.offset + 1}"


class InvoiceEventPublisher:
    """Idempotent aiokafka producer (enable_idempotence=True, acks="all").

    The key is the invoice id (``event.subject``, UTF-8); the value is the
    structured-mode CloudEvent, or with ``binary_mode=True`` the ``data`` with
    the attributes in ``ce_*`` headers. Other ``producer_options`` go to
    ``aiokafka.AIOKafkaProducer`` as they are (``linger_ms``,
    ``compression_type``, security settings ...), except ``partitioner``: the
    contract's is aiokafka's default.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str = DEFAULT_TOPIC,
        *,
        binary_mode: bool = False,
        validate: bool = True,
        **producer_options: Any,
    ) -> None:
        for name, required in _REQUIRED_OPTIONS.items():
            if producer_options.get(name, required) != required:
                raise ValueError(
                    f"{name}={producer_options[name]!r}: the publisher needs "
                    f"{name}={required!r} so that sends are neither lost nor duplicated"
                )
        if "partitioner" in producer_options:
            raise ValueError(
                "partitioner: the contract partitions by murmur2 of the invoice id, aiokafka's default; "
                "another partitioner would put an invoice's events on other partitions than other publishers do"
            )
        self.topic = topic
        self._binary_mode = binary_mode
        self._validate = validate
        self._options: dict[str, Any] = {
            **producer_options,
            **_REQUIRED_OPTIONS,
            "bootstrap_servers": bootstrap_servers,
        }
        self._producer: Any = None
        # The next offset after the last event published, per (topic, partition).
        self._published: dict[tuple[str, int], int] = {}

    async def start(self) -> None:
        """Connect to the cluster."""
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(**self._options)
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        """Flush pending sends and disconnect."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def __aenter__(self) -> InvoiceEventPublisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(self, event: InvoiceEvent) -> Position:
        """Send one event and wait for the broker's acknowledgement."""
        ack = await self._send(event)
        return self._record(_position(await ack))

    async def publish_many(self, events: Iterable[InvoiceEvent]) -> list[Position]:
        """Send events in order, then wait for all acknowledgements.

        Sends are pipelined; the idempotent producer keeps their order within a
        partition, so the events of one invoice stay in the order given.
        """
        acks = [await self._send(event) for event in events]
        return [self._record(_position(metadata)) for metadata in await asyncio.gather(*acks)]

    def position_token(self) -> str:
        """The read API's freshness token for everything this publisher has
        published: ``topic:partition=next_offset,…`` as ``X-Projection-Position``
        states it. Pass it as ``minPosition`` (or ``X-Min-Position``) and the
        answer reflects those events (read-your-writes)."""
        return ",".join(f"{t}:{p}={n}" for (t, p), n in sorted(self._published.items()))

    def _record(self, position: Position) -> Position:
        key = (position.topic, position.partition)
        self._published[key] = max(self._published.get(key, 0), position.offset + 1)
        return position

    async def _send(self, event: InvoiceEvent) -> asyncio.Future[Any]:
        """Queue one event; the returned future resolves on the broker's ack."""
        if self._producer is None:
            raise RuntimeError("the publisher is not started (use start() or async with)")
        if self._binary_mode:
            headers, value = encode_binary(event)
        else:
            headers, value = _STRUCTURED_HEADERS, encode(event)
        if self._validate:
            decode(value, headers)
        ack: asyncio.Future[Any] = await self._producer.send(
            self.topic, value=value, key=event.subject.encode(), headers=headers
        )
        return ack


def _position(metadata: Any) -> Position:
    return Position(topic=metadata.topic, partition=metadata.partition, offset=metadata.offset)
