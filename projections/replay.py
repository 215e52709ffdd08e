"""Rebuild a projection version from the event store beside the live one, then
switch to it.

1. Bulk: every event up to a safe watermark, read in invoice order in
   disjoint shares (a process per core), so each invoice's whole history is
   folded in memory (projections/histories.py) and its rows copied in once;
   then every summary table, the customers' standing and the secondary
   indexes are built once from those rows (projections/aggregates.py).
2. Catch up: events appended since, in append order, through the ordinary
   load-fold-upsert path, until the new version is close to live.
3. Promote: under the exclusive switch lock (no worker batch in flight, none
   starting), apply the last few events and point the read views at the new
   version, in one short transaction.

The watermark: every writer of the event store holds the switch lock shared
for its whole transaction, so at an instant when it is held exclusively no
append is in flight — every row up to max(seq) is committed and every later
row gets a larger seq. Reading ``seq <= watermark`` therefore never skips a
row that commits late.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import msgspec

from contracts import Position, decode_stored
from projections import aggregates, shares, standing, versions
from projections.batch import BatchFold, Incoming, InvoiceKey
from projections.histories import StoredStep, fold_history
from projections.shares import Progress, Share
from projections.store import (
    ALL_SUM_TABLES,
    CHANGE_COLUMNS,
    INVOICE_COLUMNS,
    PAYMENT_COLUMNS,
    ProjectionStore,
    change_row,
    invoice_row,
    payment_row,
)

BULK_CHUNK_EVENTS = 20_000
CATCH_UP_CHUNK_EVENTS = 20_000
# Promote once the new version is at most this many events behind.
PROMOTE_WITHIN_EVENTS = 2_000

WATERMARK = "SELECT coalesce(max(seq), 0) FROM billing.event_store"
COUNT_UP_TO = "SELECT count(*) FROM billing.event_store WHERE seq > $1 AND seq <= $2"
# One share's events: its invoices by a hash of their key.
EVENTS_BY_INVOICE = """
SELECT tenant_id, invoice_id, partition, body, stored_at FROM billing.event_store
WHERE seq <= $1 AND (hashtext(tenant_id || '/' || invoice_id) & 2147483647) % $2 = $3
ORDER BY tenant_id, invoice_id, sequence
"""
EVENTS_BY_SEQ = """
SELECT seq, topic, partition, kafka_offset, body, stored_at FROM billing.event_store
WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3
"""
SET_APPLIED = "UPDATE billing.projection_versions SET applied_seq = $2 WHERE version = $1"


class PromoteReport(msgspec.Struct, frozen=True):
    version: int
    events_in_switch: int
    switch_seconds: float


class ReplayError(Exception):
    """A replay that cannot go on, with what to do about it."""


def _item(record: asyncpg.Record) -> Incoming:
    """A stored event to fold again, with the time it was first recorded."""
    body = bytes(record["body"])
    return Incoming(
        position=Position(record["topic"], record["partition"], record["kafka_offset"]),
        key=None,
        value=body,
        decoded=decode_stored(body),
        body=body,
        recorded_at=record["stored_at"],
    )


async def watermark(conn: asyncpg.Connection) -> int:
    """The largest seq such that no append at or below it can still commit."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", versions.SWITCH_LOCK)
        return int(await conn.fetchval(WATERMARK))


async def pending(conn: asyncpg.Connection, version: versions.Version, upto: int) -> int:
    return int(await conn.fetchval(COUNT_UP_TO, version.applied_seq, upto))


async def start(conn: asyncpg.Connection) -> versions.Version:
    """The version being built: a new one, or the one a stopped replay left.
    A replay stopped during its bulk phase (applied_seq 0) starts over."""
    version = await versions.building(conn)
    if version is None:
        return await versions.create(conn)
    if version.ddl_hash != versions.DDL_HASH:
        raise ReplayError(
            f"version {version.version} was started with another schema; "
            "abandon it (billing replay --abandon) and replay again"
        )
    if version.applied_seq == 0:
        await truncate(conn, version)
    return version


async def truncate(conn: asyncpg.Connection, version: versions.Version) -> None:
    tables = await conn.fetch(versions.TABLES, version.schema_name)
    names = ", ".join(f"{version.schema_name}.{r['table_name']}" for r in tables)
    await conn.execute(f"TRUNCATE {names}")


class _Rows:
    """The per-invoice rows of a chunk of whole histories, ready to COPY."""

    def __init__(self) -> None:
        self.invoices: list[tuple[Any, ...]] = []
        self.changes: list[tuple[Any, ...]] = []
        self.payments: list[tuple[Any, ...]] = []
        self.events = 0

    def add(self, history: list[StoredStep]) -> None:
        state, changes, payments = fold_history(history)
        self.invoices.append(invoice_row(state))
        # With the record times of the events that made them.
        self.changes.extend((*change_row(c), c.recorded_at) for c in changes)
        self.payments.extend((*payment_row(p), p.recorded_at) for p in payments)
        self.events += len(history)


async def _chunks(conn: asyncpg.Connection, upto: int, share: Share) -> AsyncIterator[_Rows]:
    """One share's invoices folded, in chunks of whole histories."""
    rows = _Rows()
    history: list[StoredStep] = []
    current: InvoiceKey | None = None
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for r in conn.cursor(EVENTS_BY_INVOICE, upto, share.count, share.index, prefetch=5000):
            key = (r["tenant_id"], r["invoice_id"])
            if key != current:
                if history:
                    rows.add(history)
                    history = []
                if rows.events >= BULK_CHUNK_EVENTS:
                    yield rows
                    rows = _Rows()
                current = key
            history.append((r["partition"], decode_stored(bytes(r["body"])), r["stored_at"]))
    if history:
        rows.add(history)
    if rows.events:
        yield rows


async def _copy_rows(conn: asyncpg.Connection, schema: str, rows: _Rows) -> None:
    async with conn.transaction():
        await conn.copy_records_to_table("invoices", schema_name=schema, columns=INVOICE_COLUMNS, records=rows.invoices)
        await conn.copy_records_to_table(
            "invoice_changes", schema_name=schema, columns=(*CHANGE_COLUMNS, "recorded_at"), records=rows.changes
        )
        await conn.copy_records_to_table(
            "payments", schema_name=schema, columns=(*PAYMENT_COLUMNS, "recorded_at"), records=rows.payments
        )


async def fold_share(
    read: asyncpg.Connection,
    write: asyncpg.Connection,
    schema: str,
    upto: int,
    share: Share,
    progress: Progress | None = None,
) -> None:
    """Fold one share's histories and COPY their rows, chunk by chunk. Two
    connections: one streams the store, the other writes; a chunk is written
    while the next one is folded, so the server's work on one overlaps the
    fold of the other. ``progress`` gets the events written so far."""
    done = 0

    async def written(task: asyncio.Task[None], events: int) -> None:
        nonlocal done
        await task
        done += events
        if progress is not None:
            progress(done)

    writing: tuple[asyncio.Task[None], int] | None = None
    try:
        async for rows in _chunks(read, upto, share):
            if writing is not None:
                await written(*writing)
            writing = (asyncio.create_task(_copy_rows(write, schema, rows)), rows.events)
        if writing is not None:
            await written(*writing)
    finally:
        # Stopped early: let the chunk being written finish (or fail), so the
        # write connection is not left in the middle of a COPY.
        if writing is not None and not writing[0].done():
            with contextlib.suppress(Exception):
                await writing[0]


async def _fold_share_alone(dsn: str, schema: str, upto: int, share: Share, progress: Progress) -> None:
    """fold_share in a process of its own, with its own connections."""
    read = await asyncpg.connect(dsn)
    try:
        write = await asyncpg.connect(dsn)
        try:
            await fold_share(read, write, schema, upto, share, progress)
        finally:
            await write.close()
    finally:
        await read.close()


async def bulk(
    read: asyncpg.Connection,
    write: asyncpg.Connection,
    version: versions.Version,
    progress: Progress | None = None,
    dsn: str | None = None,
    processes: int | None = None,
    summarising: Progress | None = None,
) -> versions.Version:
    """Fold every event up to the watermark into an empty version: the
    per-invoice rows by COPY, without the secondary indexes; then every
    summary table once from those rows, and the indexes. With ``dsn``, the
    invoices are folded in shares, one per process (default: one per usable
    core), each with its own connections; without, in this process.
    ``summarising`` gets 0 as the summary step starts, then the number of
    its statements done (of SUMMARY_STATEMENTS)."""
    upto = await watermark(write)
    await versions.drop_indexes(write, version)
    if dsn is None:
        await fold_share(read, write, version.schema_name, upto, Share(0, 1), progress)
    else:
        count = processes or shares.usable_cores()
        await shares.run(_fold_share_alone, (dsn, version.schema_name, upto), count, progress)
    await summarise(read, write, version, summarising)
    await write.execute(SET_APPLIED, version.version, upto)
    return msgspec.structs.replace(version, applied_seq=upto)


_STANDING_INDEXES = [i.statement for i in versions.INDEXES if i.table == "customer_standing"]
_OTHER_INDEXES = [i.statement for i in versions.INDEXES if i.table != "customer_standing"]
SUMMARY_STATEMENTS = len(versions.INDEXES) + len(ALL_SUM_TABLES) + 1
"""The statements of a bulk phase's summary step: every secondary index,
every summary table's fill and the customers' standing."""


async def summarise(
    read: asyncpg.Connection, write: asyncpg.Connection, version: versions.Version, progress: Progress | None = None
) -> None:
    """Every summary table from the per-invoice rows, and every secondary
    index, on as many backend processes as summary_plan allows. The
    customers' standing comes after the customer sums (a row its grouped
    pass cannot keep is recomputed from them), and its own indexes after it."""
    schema = version.schema_name
    fills = [aggregates.fill_sql(schema, table) for table in ALL_SUM_TABLES]
    sessions, helpers = summary_plan(shares.usable_cores())
    conns = (write, read)[:sessions]
    for conn in conns:
        await conn.execute(f"SET max_parallel_maintenance_workers = {helpers}")
    done = _Counter(progress)
    done.start()
    try:
        await _run_each(conns, [s.replace("{schema}", schema) for s in _OTHER_INDEXES] + fills, done)
        await standing.rebuild(write, schema)
        done.step()
        await _run_each(conns, [s.replace("{schema}", schema) for s in _STANDING_INDEXES], done)
    finally:
        for conn in conns:
            await conn.execute("RESET max_parallel_maintenance_workers")


def summary_plan(cores: int) -> tuple[int, int]:
    """The summary step's sessions (one or two statements at a time) and the
    parallel workers each index build may add: together at most one process
    fewer than the cores, so the API's reads keep a core while a replay
    builds (a database on the same machine: the local stack, a small
    deployment). On two cores: one statement at a time, no parallel workers."""
    budget = max(1, cores - 1)
    sessions = min(2, budget)
    return sessions, (budget - sessions) // sessions


class _Counter:
    """Statements done, reported to a progress callback."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0

    def start(self) -> None:
        if self.progress is not None:
            self.progress(0)

    def step(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done)


async def _run_each(conns: Sequence[asyncpg.Connection], statements: list[str], done: _Counter) -> None:
    """Run the statements, each connection taking the next one when free."""
    waiting = iter(statements)

    async def run(conn: asyncpg.Connection) -> None:
        for statement in waiting:
            await conn.execute(statement)
            done.step()

    await asyncio.gather(*(run(conn) for conn in conns))


async def catch_up(
    conn: asyncpg.Connection,
    version: versions.Version,
    upto: int,
    progress: Progress | None = None,
    done: int = 0,
) -> versions.Version:
    """Apply the events in (applied_seq, upto] in append order."""
    store = ProjectionStore(version.schema_name)
    applied = version.applied_seq
    while applied < upto:
        rows = await conn.fetch(EVENTS_BY_SEQ, applied, upto, CATCH_UP_CHUNK_EVENTS)
        if not rows:
            break
        items = [_item(r) for r in rows]
        keys = sorted({(i.decoded.event.tenantid, i.decoded.event.subject) for i in items if i.decoded})
        async with conn.transaction():
            states, _ = await store.load(conn, keys)
            fold = BatchFold(states)
            for item in items:
                fold.add(item)
            await store.write_projection(conn, fold.finish())
            applied = int(rows[-1]["seq"])
            await conn.execute(SET_APPLIED, version.version, applied)
        done += len(rows)
        if progress is not None:
            progress(done)
    return msgspec.structs.replace(version, applied_seq=max(applied, version.applied_seq))


async def promote(conn: asyncpg.Connection, version: versions.Version) -> PromoteReport:
    """Apply the last events and switch, atomically. Workers wait for this
    transaction (they take the switch lock shared); readers see the old
    version until it commits and the new one after."""
    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", versions.SWITCH_LOCK)
        upto = int(await conn.fetchval(WATERMARK))
        behind = await pending(conn, version, upto)
        version = await catch_up(conn, version, upto)
        await versions.switch_to(conn, version)
    return PromoteReport(version.version, behind, time.perf_counter() - started)


async def abandon(conn: asyncpg.Connection, version_number: int | None = None) -> int | None:
    """Drop a version that is being built (the newest, unless named)."""
    version = await versions.building(conn)
    if version is None or (version_number is not None and version.version != version_number):
        return None
    await _drop(conn, version.version, version.schema_name)
    return version.version


async def drop_retired(conn: asyncpg.Connection, version_number: int) -> None:
    version = await versions.numbered(conn, version_number)
    if version is None:
        raise ReplayError(f"there is no version {version_number}")
    if version.status != "retired":
        raise ReplayError(f"version {version_number} is {version.status}; only retired versions are dropped")
    await _drop(conn, version_number, version.schema_name)


async def _drop(conn: asyncpg.Connection, number: int, schema: str) -> None:
    async with conn.transaction():
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.execute("DELETE FROM billing.projection_versions WHERE version = $1", number)
