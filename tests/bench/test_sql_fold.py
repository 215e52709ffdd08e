"""The SQL fold's invoice states and timeline steps agree with the replay's
Python fold on the same event store (a few thousand generated events)."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from bench import loading, sql_fold
from projections import replay
from projections.shares import Share

pytestmark = pytest.mark.integration


async def _both_folds(database_url: str, conn: asyncpg.Connection, events: int, seed: int) -> str:
    """``events`` in the store, folded by the replay into a new version (its
    schema, returned) and by the SQL stages into their tables."""
    await loading.copy_event_store(database_url, events, seed, sql_fold.TOPIC, dt.date(2026, 11, 20))
    version, upto = await sql_fold.new_version(conn)
    schema = version.schema_name
    write = await asyncpg.connect(database_url)
    try:
        await replay.fold_share(conn, write, schema, upto, Share(0, 1))
    finally:
        await write.close()
    await conn.execute(sql_fold.INVOICE_STATES)
    await conn.execute(sql_fold.TIMELINE_STEPS)
    return schema


async def test_the_sql_fold_matches_the_python_fold(database_url: str, conn: asyncpg.Connection) -> None:
    schema = await _both_folds(database_url, conn, 3_000, seed=7)

    found = await sql_fold.mismatches(conn, schema)
    assert found == dict.fromkeys(found, 0)
    assert set(found) >= {"only_in_python", "only_in_sql", "last_step", *sql_fold.COMPARED}
    # Every rule is exercised: each status, payments, a step per event.
    statuses = dict(await conn.fetch(f"SELECT status, count(*) FROM {sql_fold.STATES_TABLE} GROUP BY status"))
    assert set(statuses) == {"DRAFT", "SENT", "VOIDED"}
    assert await conn.fetchval(f"SELECT count(*) FROM {sql_fold.STATES_TABLE} WHERE payment_count > 1") > 0
    assert await conn.fetchval(f"SELECT count(*) FROM {sql_fold.STEPS_TABLE}") == 3_000


async def test_a_wrong_paid_sum_is_a_mismatch(database_url: str, conn: asyncpg.Connection) -> None:
    schema = await _both_folds(database_url, conn, 500, seed=8)
    await conn.execute(f"UPDATE {schema}.invoices SET amount_paid = amount_paid + 1 WHERE payment_count > 0")

    found = await sql_fold.mismatches(conn, schema)
    paid = await conn.fetchval(f"SELECT count(*) FROM {schema}.invoices WHERE payment_count > 0")
    assert paid > 0
    assert found["amount_paid"] == paid
    assert found["last_step"] == paid
    assert found["status"] == 0
