"""Rebuilding a version beside the live one, then switching to it."""

from __future__ import annotations

import asyncpg
import pytest

from projections import replay, versions
from projections.verify import verify
from services import operations
from tests.factories import InvoiceBuilder, line
from tests.projected import project
from tests.services.workers import snapshot

pytestmark = pytest.mark.integration


def histories(count: int, start: int = 0) -> list:  # type: ignore[type-arg]
    events = []
    for i in range(start, start + count):
        inv = InvoiceBuilder(
            f"inv-r{i}",
            customer=f"cus-{i % 7}",
            currency=("EUR", "JPY", "KWD")[i % 3],
            lines=[line("usage", "one_time", 1000 + i, i), line("fixed", "recurring", 500, 50)],
        )
        events += [inv.created(), inv.sent()]
        if i % 2:
            events.append(inv.paid("3.00" if inv.currency != "JPY" else "3"))
        if i % 5 == 0:
            events.append(inv.voided())
    return events


async def test_a_replayed_and_promoted_version_equals_the_live_one(conn: asyncpg.Connection, database_url: str) -> None:
    await project(conn, histories(40))
    before = await snapshot(conn)
    read = await asyncpg.connect(database_url)
    try:
        account = await operations.rebuild(read, conn, promote=True)
    finally:
        await read.close()
    assert account.startswith("version 2 is active")
    assert (await versions.active(conn)).schema_name == "proj_2"
    assert await snapshot(conn) == before
    assert await verify(conn, "proj_2") == []
    # The old version is kept, retired, until dropped.
    assert await conn.fetchval("SELECT status FROM billing.projection_versions WHERE version = 1") == "retired"
    await replay.drop_retired(conn, 1)
    assert await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = 'proj_1'") == 0


async def test_events_appended_after_the_bulk_are_caught_up_before_the_switch(
    conn: asyncpg.Connection, database_url: str
) -> None:
    await project(conn, histories(30))
    version = await replay.start(conn)
    read = await asyncpg.connect(database_url)
    summarised: list[int] = []
    try:
        version = await replay.bulk(read, conn, version, summarising=summarised.append)
    finally:
        await read.close()
    # The summary step reports its start, then each statement done.
    assert summarised == list(range(replay.SUMMARY_STATEMENTS + 1))
    await project(conn, histories(20, start=30))  # live traffic into the active version
    report = await replay.promote(conn, version)
    assert report.events_in_switch > 0
    assert await verify(conn, "proj_2") == []
    assert await conn.fetchval("SELECT count(*) FROM billing_read.invoices") == 50


async def test_a_replay_stopped_during_its_bulk_phase_starts_over_cleanly(
    conn: asyncpg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await project(conn, histories(60))
    monkeypatch.setattr(replay, "BULK_CHUNK_EVENTS", 20)

    def stop_after_two_chunks(done: int) -> None:
        if done > 40:
            raise KeyboardInterrupt

    read = await asyncpg.connect(database_url)
    try:
        version = await replay.start(conn)
        with pytest.raises(KeyboardInterrupt):
            await replay.bulk(read, conn, version, stop_after_two_chunks)
        assert await conn.fetchval("SELECT count(*) FROM proj_2.invoices") > 0
        await operations.rebuild(read, conn, promote=True)
    finally:
        await read.close()
    assert (await versions.active(conn)).version == 2
    assert await verify(conn, "proj_2") == []
    assert await conn.fetchval("SELECT count(*) FROM billing_read.invoices") == 60


async def test_an_abandoned_replay_leaves_nothing_behind(conn: asyncpg.Connection) -> None:
    await project(conn, histories(5))
    version = await replay.start(conn)
    assert await replay.abandon(conn) == version.version
    assert await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", version.schema_name) == 0
    assert (await versions.active(conn)).version == 1


async def test_only_retired_versions_can_be_dropped(conn: asyncpg.Connection) -> None:
    with pytest.raises(replay.ReplayError, match="only retired"):
        await replay.drop_retired(conn, 1)
