"""Hostile inputs mixed into a valid stream: each gets the outcome it is owed,
the valid events apply exactly as without them."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from projections.projector import RawRecord
from projections.verify import verify
from services.demo import demo_stream
from services.settings import Settings
from tests.faults.hostile import catalogue, hostile_inputs, mixed
from tests.projections.harness import TOPIC, Harness
from tests.services.workers import caught_up

HOSTILE_TENANTS = ("hostile", "hostile-a", "hostile-b")


def fold_stream(records: list[tuple[bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]]) -> Harness:
    harness = Harness()
    harness.fold([RawRecord(TOPIC, 0, i, key, value, headers) for i, (value, key, headers) in enumerate(records)])
    return harness


def valid_part(h: Harness) -> tuple[object, ...]:
    states = {k: s for k, s in h.states.items() if k[0] not in HOSTILE_TENANTS}
    sums = {name: {k: v for k, v in rows.items() if k[0] not in HOSTILE_TENANTS} for name, rows in h.sums.items()}
    return states, sums


def check(stream: list, quarantined: dict[int, str]) -> int:  # type: ignore[type-arg]
    """Every hostile record has its expected outcome; returns how many there were."""
    count = 0
    for offset, (_, expected) in enumerate(stream):
        if expected is None:
            assert offset not in quarantined, (offset, quarantined.get(offset))
            continue
        count += 1
        if expected == "applied":
            assert offset not in quarantined, (offset, quarantined[offset])
        else:
            assert quarantined.get(offset) == expected, (offset, expected, quarantined.get(offset))
    return count


def test_the_catalogue_covers_every_quarantine_reason_the_service_has() -> None:
    import random

    from contracts import Reason

    reasons = {e for case in catalogue(random.Random(1)) for e in case.expected} - {"applied"}
    assert reasons == {r.value for r in Reason}


def test_hostile_records_in_a_valid_stream_get_their_outcomes_and_spare_the_valid_events() -> None:
    valid = list(demo_stream(tenants=3, customers=10, invoices=300, seed=5))
    stream = mixed(valid, hostile_inputs(250, seed=5), seed=5)
    messy = fold_stream([record for record, _ in stream])
    quarantined = {q.position.offset: q.reason for q in messy.quarantined}
    tried = check(stream, quarantined)
    assert tried >= 250
    clean = fold_stream([record for record, expected in stream if expected is None])
    assert valid_part(messy) == valid_part(clean)
    # Raw bytes are kept for every quarantined record.
    values = {i: record[0] for i, (record, _) in enumerate(stream)}
    assert all(q.value == values[q.position.offset] for q in messy.quarantined)


@pytest.mark.integration
async def test_hostile_records_through_kafka_land_in_quarantine_and_the_dead_letter_topic(
    settings: Settings, running_worker: asyncio.Event, conn: asyncpg.Connection
) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    valid = list(demo_stream(tenants=3, customers=10, invoices=200, seed=9))
    stream = mixed(valid, hostile_inputs(120, seed=9), seed=9)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True, max_request_size=2**20
    )
    await producer.start()
    offsets: list[tuple[int, int]] = []
    try:
        for (value, key, headers), _ in stream:
            # One partition, so that offsets line up with the stream's order.
            meta = await (await producer.send(settings.topic, value, key=key, headers=list(headers), partition=0))
            offsets.append((meta.partition, meta.offset))
    finally:
        await producer.stop()
    await caught_up(conn, settings.topic, {0: offsets[-1][1]})
    quarantined = {
        r["kafka_offset"]: r["reason"]
        for r in await conn.fetch("SELECT kafka_offset, reason FROM billing.quarantine WHERE partition = 0")
    }
    tried = check(stream, quarantined)
    assert await verify(conn, "proj_1") == []
    dlq = AIOKafkaConsumer(
        settings.dlq_topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        fetch_max_bytes=64 * 2**20,
    )
    await dlq.start()
    copies = 0
    try:
        while copies < len(quarantined):
            batch = await dlq.getmany(timeout_ms=5000)
            if not batch:
                break
            copies += sum(len(records) for records in batch.values())
    finally:
        await dlq.stop()
    assert copies == len(quarantined) and tried >= 120
