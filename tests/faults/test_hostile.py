"""Hostile inputs mixed into a valid stream: each gets the outcome it is owed,
the valid events apply exactly as without them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import asyncpg
import msgspec
import pytest

from contracts import encode, encode_binary, identify
from projections import quarantine
from projections.projector import RawRecord
from projections.verify import verify
from services.demo import demo_stream
from services.settings import Settings
from tests.factories import InvoiceBuilder
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
    # An event that waits for its gap beyond a limit is no hostile record: the
    # limits have their own tests (tests/projections/test_held_limits.py).
    assert reasons == {r.value for r in Reason} - {Reason.GAP_TIMEOUT.value}


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
    rows = await conn.fetch("SELECT * FROM billing.quarantine WHERE partition = 0")
    quarantined = {r["kafka_offset"]: r["reason"] for r in rows}
    tried = check(stream, quarantined)
    # Every quarantined record keeps what it says of its identity, the ones
    # the codec rejected included.
    for row in rows:
        (value, _, headers), _ = stream[row["kafka_offset"]]
        said = identify(value, headers)
        if said is not None and said.tenantid is not None:
            assert row["tenant_id"] == said.tenantid, (row["reason"], row["detail"])
        if said is not None and said.id is not None:
            assert row["event_id"] == said.id, (row["reason"], row["detail"])
    codec_reasons = {"schema_violation", "unknown_type", "unsupported_specversion", "unknown_currency"}
    codec_reasons |= {"invalid_money", "money_precision", "negative_amount", "amount_out_of_range"}
    codec_reasons |= {"totals_mismatch", "invalid_dates"}
    rejected = [r for r in rows if r["reason"] in codec_reasons]
    assert rejected
    assert all(r["tenant_id"] == "hostile" for r in rejected if "tenantid" not in r["detail"]), [
        (r["reason"], r["detail"]) for r in rejected if r["tenant_id"] != "hostile"
    ]
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


@pytest.mark.integration
async def test_records_the_codec_rejects_are_quarantined_with_their_tenant_and_event_id(
    settings: Settings, running_worker: asyncio.Event, conn: asyncpg.Connection
) -> None:
    from aiokafka import AIOKafkaProducer

    # Binary mode: good ce_ headers, a value that is not JSON.
    paid = InvoiceBuilder("inv-poison-binary", tenant="tenant-b").paid("10.00", sequence=2)
    headers, _ = encode_binary(paid)
    # Structured mode: JSON that parses but breaks the schema (a float amount).
    created = InvoiceBuilder("inv-poison-structured", tenant="tenant-s").created()
    document = json.loads(encode(created))
    document["data"]["net_total"] = 100.0
    records = [
        (b"\x00 not json", b"inv-poison-binary", headers),
        (json.dumps(document).encode(), b"inv-poison-structured", []),
        (b"not json at all", b"k", []),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        metas = [await (await producer.send(settings.topic, v, key=k, headers=h, partition=0)) for v, k, h in records]
    finally:
        await producer.stop()
    await caught_up(conn, settings.topic, {0: metas[-1].offset})

    binary = await quarantine.list_events(conn, tenant="tenant-b")
    assert [(e.reason, e.event_id, e.invoice_id, e.sequence, e.event_type) for e in binary] == [
        ("malformed", paid.id, "inv-poison-binary", 2, "invoice.paid")
    ]
    structured = await quarantine.list_events(conn, tenant="tenant-s")
    assert [(e.reason, e.event_id, e.invoice_id, e.sequence, e.event_type) for e in structured] == [
        ("schema_violation", created.id, "inv-poison-structured", 1, "invoice.created")
    ]
    anonymous = await conn.fetchrow("SELECT * FROM billing.quarantine WHERE kafka_key = 'k'")
    assert anonymous is not None and anonymous["tenant_id"] is None and anonymous["event_id"] is None
    # The operator's way in: `billing quarantine list --tenant T`.
    listed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli", "quarantine", "list", "--tenant", "tenant-b", "--json"],
        env={**os.environ, **settings.to_env()},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert paid.id in listed.stdout and "inv-poison-binary" in listed.stdout


@pytest.mark.integration
async def test_a_retry_fills_the_identity_of_a_record_quarantined_without_it(conn: asyncpg.Connection) -> None:
    from tests.projected import project

    sent = InvoiceBuilder("inv-retried", tenant="tenant-r").sent(sequence=2)
    document = msgspec.to_builtins(sent)
    document["time"] = "yesterday"
    await project(conn, [json.dumps(document).encode()])
    # As a worker before identities were kept stored it.
    await conn.execute("UPDATE billing.quarantine SET tenant_id = NULL, event_id = NULL, invoice_id = NULL")
    (row,) = await quarantine.list_events(conn)
    assert row.tenant_id is None
    (outcome,) = await quarantine.retry(conn, [row.id])
    assert outcome.outcome == "quarantined" and outcome.reason == "schema_violation"
    (again,) = await quarantine.list_events(conn, tenant="tenant-r")
    assert (again.id, again.event_id, again.invoice_id, again.sequence) == (row.id, sent.id, "inv-retried", 2)
