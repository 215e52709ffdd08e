"""The day roll: customer standing rows whose overdue figures a new day has
made stale are recomputed (projections/standing.py says when a row goes
stale and why the recompute stays exact beside the batches).

Run with the workers' periodic checks. Each pass takes the stale rows no batch
holds (SKIP LOCKED) in key order, a bounded number per transaction; rows a
batch holds are recomputed by that batch. Until every stale row of a tenant
is rolled, reads of that tenant answer from the fallback, so a late roll is
slower, never wrong.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from projections import standing
from services.logging import get_logger

log = get_logger("worker")

# Rows per transaction, and transactions per pass (the rest waits for the next).
ROWS_PER_TRANSACTION = 2000
TRANSACTIONS_PER_PASS = 10


async def roll_day(conn: asyncpg.Connection, today: dt.date | None = None) -> int:
    """Recompute the rows stale on ``today`` (default: today in UTC); how many."""
    day = today or standing.today()
    rolled = 0
    for _ in range(TRANSACTIONS_PER_PASS):
        done = await standing.roll(conn, day, ROWS_PER_TRANSACTION)
        rolled += done
        if done < ROWS_PER_TRANSACTION:
            break
    return rolled


async def roll_quietly(conn: asyncpg.Connection) -> None:
    """``roll_day`` for the worker loop: a failure waits for the next check."""
    try:
        rolled = await roll_day(conn)
    except Exception as error:  # noqa: BLE001 - retried at the next check
        log.warning("the customers' day roll failed; will retry", error=repr(error))
        return
    if rolled:
        log.info("customer standing rolled to a new day", rows=rolled)
