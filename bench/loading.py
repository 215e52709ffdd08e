"""Putting the generated data where each benchmark reads it, fast: this is
the benchmarks' input, not what they measure.

- ``publish``: records to a Kafka topic (the ingest and scaling input);
- ``copy_event_store``: rows COPYed straight into ``billing.event_store`` (the
  replay input), with the partition positions a worker would have left;
- ``load_read_models``: invoice rows for the read benchmarks. Each invoice's
  history goes through the service's own pure state machine
  (``created_state``, ``check_transition``, ``advance``) and ``invoice_row``,
  rows are COPYed in by two processes, and the summary tables are filled with
  the service's second, SQL definition of every figure (projections/verify.py),
  sharded by partition as the worker shards them. Much faster than replaying
  millions of events, and ``billing verify`` agrees with the result.
  With ``timelines``, as of a moment ``now``: each event gets a record time
  (bench/timelines.py), histories are cut at ``now``, and what the worker
  would have written along with the invoice rows is loaded too — the
  invoice's timeline rows and payments with their record times, its events in
  the event store (``stored_at`` = record time, appended in record order), and
  the timelines' sums per day and per overdue threshold, filled by SQL from the
  timeline rows with the definitions of projections/verify.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import random
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, NamedTuple

import asyncpg

from bench import streams, timelines
from contracts import InvoiceCreated, encode, event_type, invoice_amounts
from projections import standing, versions
from projections.aggregates import fill_sql
from projections.invoice import advance, check_transition, created_state
from projections.store import (
    CELL_TABLES,
    CHANGE_COLUMNS,
    EVENT_STORE_COLUMNS,
    INVOICE_COLUMNS,
    PAYMENT_COLUMNS,
    SUM_TABLES,
    TIMELINE_SUM_TABLES,
    change_row,
    invoice_row,
    payment_row,
)
from services import kafka
from services.settings import Settings

LOAD_PROCESSES = 2


async def publish(bootstrap: str, topic: str, records: Sequence[streams.Record]) -> dict[int, int]:
    """Send the records in order; returns each partition's end offset (the
    next offset after the last record). The producer is the idempotent,
    acks=all one the contract asks publishers for, with large batches."""
    producer = kafka.producer(
        Settings(kafka_bootstrap=bootstrap),
        enable_idempotence=True,
        acks="all",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    ends: dict[int, int] = {}
    try:
        step = 20_000
        for start in range(0, len(records), step):
            futures = [
                await producer.send(
                    topic, r.value, key=r.key, headers=[("content-type", b"application/cloudevents+json")]
                )
                for r in records[start : start + step]
            ]
            for meta in await asyncio.gather(*futures):
                ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    finally:
        await producer.stop()
    return ends


async def copy_event_store(
    database_url: str, count: int, seed: int, topic: str, today: dt.date | None = None
) -> dict[int, int]:
    """COPY ``count`` events into the event store in append order; returns the
    end offset of each partition (also stored as the partition positions)."""
    conn = await asyncpg.connect(database_url)
    ends: dict[int, int] = {}
    try:
        for rows in streams.store_rows(count, seed, topic, today):
            await conn.copy_records_to_table(
                "event_store", schema_name="billing", columns=EVENT_STORE_COLUMNS, records=rows
            )
            for row in rows:
                ends[row.partition] = row.kafka_offset + 1
        await conn.executemany(
            "INSERT INTO billing.partition_positions (topic, partition, next_offset) VALUES ($1, $2, $3)",
            [(topic, p, o) for p, o in sorted(ends.items())],
        )
        await conn.execute("VACUUM ANALYZE billing.event_store")
    finally:
        await conn.close()
    return ends


def _invoice_rows(invoices: int, population: int, seed: int, today: dt.date | None) -> list[tuple[object, ...]]:
    rows = []
    for history in streams.histories(invoices, seed, today, population=population):
        first = history[0]
        assert isinstance(first, InvoiceCreated)
        state = created_state(first, invoice_amounts(first.data), streams.stable_partition(first.subject))
        for event in history[1:]:
            advance(state, event, check_transition(state, event))
        rows.append(invoice_row(state))
    return rows


# Events of the read data set, staged by the loading processes and appended to
# the event store in record order at the end (seq order = record order, as a
# worker appends them: the oldest record is the first row). Offsets count all
# partitions' events (increasing in each partition, with gaps): one sort.
EVENT_STAGE = "public.bench_event_stage"
STAGE_COLUMNS = (
    "tenant_id",
    "invoice_id",
    "sequence",
    "event_id",
    "type",
    "event_time",
    "partition",
    "body",
    "stored_at",
)
CREATE_EVENT_STAGE = f"""
CREATE UNLOGGED TABLE {EVENT_STAGE} (
    tenant_id text NOT NULL, invoice_id text NOT NULL, sequence integer NOT NULL, event_id text NOT NULL,
    type text NOT NULL, event_time timestamptz NOT NULL, partition integer NOT NULL, body bytea NOT NULL,
    stored_at timestamptz NOT NULL
)
"""
_RECORD_ORDER = "stored_at, tenant_id, invoice_id, sequence"
APPEND_EVENTS = f"""
INSERT INTO billing.event_store ({", ".join((*EVENT_STORE_COLUMNS, "stored_at"))})
SELECT tenant_id, invoice_id, sequence, event_id, type, event_time, $1, partition,
       row_number() OVER (ORDER BY {_RECORD_ORDER}) - 1, body, stored_at
FROM {EVENT_STAGE}
ORDER BY {_RECORD_ORDER}
"""
# The topic the loaded events say they came from (nothing consumes it).
READ_TOPIC = "bench-read"


class TimelineRows(NamedTuple):
    """What the worker would have written for a slice of invoices."""

    invoices: list[tuple[Any, ...]]
    changes: list[tuple[Any, ...]]
    payments: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]


def timeline_rows(invoices: int, population: int, seed: int, today: dt.date | None, now: dt.datetime) -> TimelineRows:
    """``invoices`` histories recorded up to ``now``: the invoice rows, the
    timeline rows and payments (each with its record time) and the event-store
    rows (in EVENT_STAGE's columns). Invoices created after ``now`` are left out."""
    rng = random.Random(seed + 3)
    out = TimelineRows([], [], [], [])
    for history in streams.histories(invoices, seed, today, population=population):
        partition = streams.stable_partition(history[0].subject)
        recorded = timelines.record_times(history, rng, now)
        folded = timelines.fold_recorded(history, recorded, partition)
        if folded is None:
            continue
        out.invoices.append(invoice_row(folded.state))
        out.changes.extend((*change_row(c), c.recorded_at) for c in folded.changes)
        out.payments.extend((*payment_row(p), p.recorded_at) for p in folded.payments)
        out.events.extend(
            (e.tenantid, e.subject, e.sequence, e.id, event_type(e), e.time, partition, encode(e), at)
            for e, at in zip(history, recorded, strict=False)
        )
    return out


async def _copy_slice(
    database_url: str,
    schema: str,
    invoices: int,
    population: int,
    seed: int,
    today: dt.date | None,
    now: dt.datetime | None,
) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        done = 0
        chunk = 20_000
        for index, start in enumerate(range(0, invoices, chunk)):
            size = min(chunk, invoices - start)
            chunk_seed = seed * 10_000 + index
            if now is None:
                rows = _invoice_rows(size, population, chunk_seed, today)
                await conn.copy_records_to_table("invoices", schema_name=schema, columns=INVOICE_COLUMNS, records=rows)
                done += len(rows)
                continue
            found = timeline_rows(size, population, chunk_seed, today, now)
            await conn.copy_records_to_table(
                "invoices", schema_name=schema, columns=INVOICE_COLUMNS, records=found.invoices
            )
            await conn.copy_records_to_table(
                "invoice_changes", schema_name=schema, columns=(*CHANGE_COLUMNS, "recorded_at"), records=found.changes
            )
            await conn.copy_records_to_table(
                "payments", schema_name=schema, columns=(*PAYMENT_COLUMNS, "recorded_at"), records=found.payments
            )
            stage_schema, _, stage_table = EVENT_STAGE.partition(".")
            await conn.copy_records_to_table(
                stage_table, schema_name=stage_schema, columns=STAGE_COLUMNS, records=found.events
            )
            done += len(found.invoices)
        return done
    finally:
        await conn.close()


def _copy_slice_process(
    database_url: str,
    schema: str,
    invoices: int,
    population: int,
    seed: int,
    today: dt.date | None,
    now: dt.datetime | None,
) -> int:
    return asyncio.run(_copy_slice(database_url, schema, invoices, population, seed, today, now))


async def load_read_models(
    database_url: str, invoices: int, seed: int, today: dt.date | None = None, now: dt.datetime | None = None
) -> str:
    """Fill the active projection version with ``invoices`` invoices and their
    summaries; returns its schema. With ``now``: the histories as recorded up
    to then, with their timelines, payments and events (see the module's doc)."""
    conn = await asyncpg.connect(database_url)
    try:
        schema = (await versions.active(conn)).schema_name
        if now is not None:
            await conn.execute(CREATE_EVENT_STAGE)
        loop = asyncio.get_running_loop()
        share = -(-invoices // LOAD_PROCESSES)
        sizes = [min(share, invoices - i * share) for i in range(LOAD_PROCESSES) if invoices - i * share > 0]
        # spawn, not fork: the parent runs an event loop that a fork would copy.
        with ProcessPoolExecutor(len(sizes), mp_context=multiprocessing.get_context("spawn")) as pool:
            await asyncio.gather(
                *(
                    loop.run_in_executor(
                        pool, _copy_slice_process, database_url, schema, size, invoices, seed + index, today, now
                    )
                    for index, size in enumerate(sizes)
                )
            )
        for table in SUM_TABLES:
            await conn.execute(fill_sql(schema, table))
        tables = list(SUM_TABLES)
        await standing.rebuild(conn, schema, today)
        tables.append("customer_standing")
        for table in CELL_TABLES:
            await conn.execute(fill_sql(schema, table))
        tables += list(CELL_TABLES)
        if now is not None:
            for table in TIMELINE_SUM_TABLES:
                await conn.execute(fill_sql(schema, table))
            # One sort of every event (bodies included) in record order.
            await conn.execute("SET work_mem = '256MB'")
            await conn.execute(APPEND_EVENTS, READ_TOPIC)
            await conn.execute(f"DROP TABLE {EVENT_STAGE}")
            await conn.execute("VACUUM ANALYZE billing.event_store")
            tables += ["invoice_changes", "payments", *TIMELINE_SUM_TABLES]
        # Fresh statistics and a visibility map, as a database that has been
        # running for a while has: the planner and index-only scans need them.
        await conn.execute(f"VACUUM ANALYZE {schema}.invoices")
        for table in tables:
            await conn.execute(f"VACUUM ANALYZE {schema}.{table}")
        # The load's gigabytes of WAL flushed now, not by the checkpoints
        # that would otherwise run through the first measurements (the
        # unfiltered summary's p99 at 1M: 49-122 ms then, 12 ms later in the
        # same run).
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return schema
