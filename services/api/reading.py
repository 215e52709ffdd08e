"""Per-request reading, shared by every family: a pooled connection, the
positions the answer reflects (after waiting for a requested one), and JSON
rendering with exact numbers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response

from services.api.freshness import Positions, PositionsCache, parse_min_position, wait_for
from services.api.rows import Connection
from services.settings import Settings

# Decimals render as JSON numbers with their exact digits (980.50, never 980.4999…).
_ENCODER = msgspec.json.Encoder(decimal_format="number")


class Read(msgspec.Struct):
    conn: Connection
    tenant_id: str
    positions: Positions


@asynccontextmanager
async def reading(request: Request[Any, Any, Any], min_position: str | None = None) -> AsyncIterator[Read]:
    state = request.app.state
    settings: Settings = state.settings
    wanted = parse_min_position(min_position, topic=settings.topic) or parse_min_position(
        request.headers.get("x-min-position"), "X-Min-Position", settings.topic
    )
    cache: PositionsCache = state.positions
    positions = None
    if wanted:
        # Each poll borrows a connection only for its query: waiting requests
        # must not hold the pool that every tenant's reads need.
        read_at = time.monotonic()
        positions = await wait_for(state.pool, settings.topic, wanted, settings.freshness_wait_max_ms / 1000)
        cache.keep(positions, read_at)
    # asyncio.timeout, not acquire(timeout=…): that one runs every acquire as
    # a task of its own, a tenth of a short request's CPU.
    pool: asyncpg.Pool = state.pool
    async with asyncio.timeout(settings.db_acquire_timeout_ms / 1000):
        conn = await pool.acquire()
    try:
        if positions is None:
            positions = await cache.get(conn)
        yield Read(conn=conn, tenant_id=request.user, positions=positions)
    finally:
        await pool.release(conn)


def json_response(body: Any, read: Read, status_code: int = 200) -> Response[Any]:
    return Response(
        content=_ENCODER.encode(body),
        media_type="application/json",
        status_code=status_code,
        headers=read.positions.headers,
    )
