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
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import asyncpg

from bench import streams
from contracts import InvoiceCreated, invoice_amounts
from projections import versions
from projections.figures import RECEIVABLE
from projections.invoice import advance, check_transition, created_state
from projections.store import EVENT_STORE_COLUMNS, INVOICE_COLUMNS, invoice_row
from projections.verify import FIGURE_SQL, SUMMARY_TABLES
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


async def _copy_slice(
    database_url: str, schema: str, invoices: int, population: int, seed: int, today: dt.date | None
) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        done = 0
        chunk = 20_000
        for index, start in enumerate(range(0, invoices, chunk)):
            size = min(chunk, invoices - start)
            rows = _invoice_rows(size, population, seed * 10_000 + index, today)
            await conn.copy_records_to_table("invoices", schema_name=schema, columns=INVOICE_COLUMNS, records=rows)
            done += size
        return done
    finally:
        await conn.close()


def _copy_slice_process(
    database_url: str, schema: str, invoices: int, population: int, seed: int, today: dt.date | None
) -> int:
    return asyncio.run(_copy_slice(database_url, schema, invoices, population, seed, today))


def summary_fill_sql(schema: str, table: str, keys: tuple[str, ...], figures: tuple[str, ...]) -> str:
    """INSERT … SELECT of one summary table from the invoice rows, per
    partition shard, with the SQL definition of each figure."""
    key_list = ", ".join((*keys, "partition"))
    where = " WHERE status = 'SENT' AND balance > 0" if figures == RECEIVABLE else ""
    return (
        f"INSERT INTO {schema}.{table} ({key_list}, {', '.join(figures)})\n"
        f"SELECT {key_list}, "
        + ", ".join(f"coalesce({FIGURE_SQL[f]}, 0)" for f in figures)
        + f"\nFROM {schema}.invoices{where} GROUP BY {key_list}"
    )


async def load_read_models(database_url: str, invoices: int, seed: int, today: dt.date | None = None) -> str:
    """Fill the active projection version with ``invoices`` invoices and their
    summaries; returns its schema."""
    conn = await asyncpg.connect(database_url)
    try:
        schema = (await versions.active(conn)).schema_name
        loop = asyncio.get_running_loop()
        share = -(-invoices // LOAD_PROCESSES)
        sizes = [min(share, invoices - i * share) for i in range(LOAD_PROCESSES) if invoices - i * share > 0]
        # spawn, not fork: the parent runs an event loop that a fork would copy.
        with ProcessPoolExecutor(len(sizes), mp_context=multiprocessing.get_context("spawn")) as pool:
            await asyncio.gather(
                *(
                    loop.run_in_executor(
                        pool, _copy_slice_process, database_url, schema, size, invoices, seed + index, today
                    )
                    for index, size in enumerate(sizes)
                )
            )
        for table, keys, figures in SUMMARY_TABLES:
            await conn.execute(summary_fill_sql(schema, table, keys, figures))
        # Fresh statistics and a visibility map, as a database that has been
        # running for a while has: the planner and index-only scans need them.
        await conn.execute(f"VACUUM ANALYZE {schema}.invoices")
        for table, _, _ in SUMMARY_TABLES:
            await conn.execute(f"VACUUM ANALYZE {schema}.{table}")
    finally:
        await conn.close()
    return schema
