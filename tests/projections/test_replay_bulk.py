"""The rebuild's bulk phase: per-invoice rows by COPY, folded in processes,
every summary table and index built once afterwards; checked against the live
fold table by table, on generated histories."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
import zlib
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import InvoiceEvent, decode, encode
from projections import replay, shares, versions
from projections.histories import BrokenHistory, fold_history
from projections.store import ALL_SUM_TABLES, CHANGE_KEYS
from projections.verify import verify
from services import operations
from tests.factories import BASE_TIME, InvoiceBuilder, interleaved, lifecycle, line
from tests.projected import project
from tests.projections.test_replay import histories

pytestmark = pytest.mark.integration

_numbers = itertools.count()


def partition_of(event: InvoiceEvent) -> int:
    """Each invoice on one of two partitions, as Kafka keys them."""
    return zlib.crc32(event.subject.encode()) % 2


async def tables(conn: asyncpg.Connection, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a version, rows sorted: the sums without their all-zero
    rows (a sum that cancelled out), the timeline rows summed per invoice,
    day and record time (a batch writes one, a rebuild one per record time)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for record in await conn.fetch(versions.TABLES, schema):
        table = record["table_name"]
        if table == "invoice_changes":
            keys = (*CHANGE_KEYS, "recorded_at")
            figures = [c for c in await _columns(conn, schema, table) if c not in keys]
            sums = ", ".join(f"sum({f})" for f in figures)
            sql = f"SELECT {', '.join(keys)}, {sums} FROM {schema}.{table} GROUP BY {', '.join(keys)}"
            rows = [tuple(r.values()) for r in await conn.fetch(sql)]
            found[table] = sorted(r for r in rows if any(r[len(keys) :]))
        elif table in ALL_SUM_TABLES:
            width = len(ALL_SUM_TABLES[table][0])
            rows = [tuple(r.values()) for r in await conn.fetch(f"SELECT * FROM {schema}.{table}")]
            found[table] = sorted(r for r in rows if any(r[width:]))
        else:
            found[table] = sorted(tuple(r.values()) for r in await conn.fetch(f"SELECT * FROM {schema}.{table}"))
    return found


async def _columns(conn: asyncpg.Connection, schema: str, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2"
        " ORDER BY ordinal_position",
        schema,
        table,
    )
    return [r["column_name"] for r in rows]


async def indexes(conn: asyncpg.Connection, schema: str) -> set[tuple[str, str]]:
    rows = await conn.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1", schema)
    return {(r["indexname"], r["indexdef"].replace(f" {schema}.", " {schema}.")) for r in rows}


async def rebuilt_equals_live(url: str, dsn: str | None = None) -> None:
    """Rebuild and promote; the new version equals the one the workers kept,
    table by table, verify finds nothing, and its indexes are the DDL's."""
    conn = await asyncpg.connect(url)
    read = await asyncpg.connect(url)
    try:
        live = await versions.active(conn)
        before = await tables(conn, live.schema_name)
        await operations.rebuild(read, conn, promote=True, dsn=dsn)
        rebuilt = await versions.active(conn)
        assert rebuilt.version == live.version + 1
        assert await tables(conn, rebuilt.schema_name) == before
        assert await verify(conn, rebuilt.schema_name) == []
        assert await indexes(conn, rebuilt.schema_name) == await indexes(conn, live.schema_name)
        await replay.drop_retired(conn, live.version)
    finally:
        await read.close()
        await conn.close()


async def apply_live(url: str, events: list[InvoiceEvent], cuts: list[int]) -> None:
    """The events through the worker's path, in batches cut at ``cuts``, each
    batch's events per partition."""
    conn = await asyncpg.connect(url)
    try:
        start = 0
        for end in [*sorted(set(cuts)), len(events)]:
            for partition in (0, 1):
                batch = [e for e in events[start:end] if partition_of(e) == partition]
                if batch:
                    await project(conn, batch, partition=partition)
            start = max(start, end)
    finally:
        await conn.close()


@st.composite
def history(draw: st.DrawFn, tenant: str) -> list[InvoiceEvent]:
    """One invoice's valid history, its business days spread (the timelines)."""
    gross = draw(st.integers(0, 10**6))
    issued = BASE_TIME.date() + dt.timedelta(days=draw(st.integers(-60, 60)))
    inv = InvoiceBuilder(
        f"inv-{next(_numbers)}",
        tenant=tenant,
        customer=draw(st.sampled_from(("c1", "c2", "c3"))),
        currency=draw(st.sampled_from(("EUR", "JPY", "KWD"))),
        lines=[line(net=gross, tax=0)],
        issue_date=issued,
        due_date=issued + dt.timedelta(days=draw(st.integers(0, 100))),
    )
    return lifecycle(draw, inv, gross, draw(st.integers(0, 4)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_rebuild_equals_the_live_fold_table_by_table(database_url: str, data: st.DataObject) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    invoices = data.draw(st.lists(history(tenant), min_size=1, max_size=10))
    events = interleaved(data, invoices)
    cuts = data.draw(st.lists(st.integers(0, len(events)), max_size=4))
    asyncio.run(apply_live(database_url, events, cuts))
    asyncio.run(rebuilt_equals_live(database_url))


async def test_a_rebuild_folded_in_processes_equals_the_live_fold(database_url: str) -> None:
    await apply_live(database_url, histories(60), [50, 120])
    await rebuilt_equals_live(database_url, dsn=database_url)


async def _fail(share: shares.Share, progress: shares.Progress) -> None:
    progress(1)
    if share.index == 1:
        raise RuntimeError("share 1 cannot go on")
    await asyncio.sleep(60)


async def test_a_failed_share_stops_the_others() -> None:
    seen: list[int] = []
    with pytest.raises(shares.ShareFailed, match="share 1 cannot go on"):
        await asyncio.wait_for(shares.run(_fail, (), 3, seen.append), 30)
    assert seen and max(seen) <= 3


async def test_a_bulk_stopped_after_dropping_the_indexes_builds_them_on_its_next_run(
    conn: asyncpg.Connection, database_url: str
) -> None:
    await project(conn, histories(10))
    version = await replay.start(conn)
    await versions.drop_indexes(conn, version)
    assert await indexes(conn, version.schema_name) < await indexes(conn, "proj_1")
    read = await asyncpg.connect(database_url)
    try:
        await operations.rebuild(read, conn, promote=False)
    finally:
        await read.close()
    assert await indexes(conn, version.schema_name) == await indexes(conn, "proj_1")


def test_a_history_the_state_machine_rejects_stops_the_rebuild() -> None:
    inv = InvoiceBuilder("inv-broken")
    created, _, paid = inv.created(), inv.sent(), inv.paid("1.00")
    with pytest.raises(BrokenHistory, match="sequence 3, not 2"):
        fold_history([(0, decode(encode(e)), BASE_TIME) for e in (created, paid)])
    voided = InvoiceBuilder("inv-voided")
    events = [voided.created(), voided.voided(), voided.sent()]
    with pytest.raises(BrokenHistory, match="inv-voided"):
        fold_history([(0, decode(encode(e)), BASE_TIME) for e in events])


@pytest.mark.parametrize(
    ("cores", "plan"),
    [(1, (1, 0)), (2, (1, 0)), (3, (2, 0)), (4, (2, 0)), (5, (2, 1)), (8, (2, 2)), (16, (2, 6))],
)
def test_the_summary_step_leaves_a_core_to_the_reads(cores: int, plan: tuple[int, int]) -> None:
    sessions, helpers = replay.summary_plan(cores)
    assert (sessions, helpers) == plan
    assert sessions * (1 + helpers) <= max(1, cores - 1)
