"""The operations endpoints' reads: the database answering through the pool,
and the projections' status (versions, positions and lag, held events,
quarantine)."""

from __future__ import annotations

import asyncpg

from projections.status import ProjectionStatus
from services.kafka_probe import KafkaProbe
from services.settings import Settings
from services.status import projection_status

PING = "SELECT 1"


async def ping(pool: asyncpg.Pool) -> None:
    """Returns when a connection of the pool can be acquired (an idle one, or
    a new one opened) and the database answers a query on it."""
    async with pool.acquire() as conn:
        await conn.fetchval(PING)


async def status(pool: asyncpg.Pool, settings: Settings, probe: KafkaProbe | None) -> ProjectionStatus:
    """Service-wide; with the broker's end offsets (lag) when ``probe`` is given."""
    return await projection_status(pool, settings, probe)
