"""A running worker rolls the customers' standing rows a new day made stale,
with its periodic checks (services/worker/day_roll.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import asyncpg
import msgspec
import pytest

from projections import standing, versions
from services.settings import Settings
from services.worker.consumer import Worker
from tests.factories import InvoiceBuilder, line
from tests.projected import project

pytestmark = pytest.mark.integration


async def test_a_running_worker_rolls_stale_rows(settings: Settings, conn: asyncpg.Connection) -> None:
    today = dt.datetime.now(dt.UTC).date()
    late = InvoiceBuilder(
        customer="cus-1",
        lines=[line(net=10000, tax=0)],
        issue_date=today - dt.timedelta(days=30),
        due_date=today - dt.timedelta(days=3),
    )
    await project(conn, [late.created(), late.sent()])
    schema = (await versions.active(conn)).schema_name
    # The row as a worker left it a week ago: not overdue then, stale since.
    async with conn.transaction():
        await standing.recompute(conn, schema, [("acme", "EUR", "cus-1")], today - dt.timedelta(days=7))
    query = f"SELECT overdue_balance, as_of_day FROM {schema}.customer_standing WHERE customer_id = 'cus-1'"

    async def row() -> tuple[object, ...]:
        return tuple((await conn.fetchrow(query) or {}).values())

    assert await row() == (0, today - dt.timedelta(days=7))
    quick = msgspec.structs.replace(settings, gap_alert_seconds=2.0)  # checks every 0.5 s
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(quick).run(stop))
    try:
        deadline = time.monotonic() + 30
        while await row() != (10000, today):
            assert time.monotonic() < deadline, "the worker did not roll the stale row"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
