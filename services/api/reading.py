"""Per-request reading: a pooled connection, the positions the answer reflects
(after waiting for a requested one), and JSON rendering with exact numbers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response

from contracts import format_minor
from services.api.freshness import Positions, parse_min_position, read_positions, wait_for
from services.settings import Settings

# Decimals render as JSON numbers with their exact digits (980.50, never 980.4999…).
_ENCODER = msgspec.json.Encoder(decimal_format="number")


class Read(msgspec.Struct):
    conn: asyncpg.Connection
    tenant_id: str
    positions: Positions


@asynccontextmanager
async def reading(request: Request[Any, Any, Any], min_position: str | None = None) -> AsyncIterator[Read]:
    state = request.app.state
    settings: Settings = state.settings
    wanted = parse_min_position(min_position) or parse_min_position(
        request.headers.get("x-min-position"), "X-Min-Position"
    )
    if wanted:
        # Each poll borrows a connection only for its query: waiting requests
        # must not hold the pool that every tenant's reads need.
        await wait_for(state.pool, settings.topic, wanted, settings.freshness_wait_max_ms / 1000)
    async with state.pool.acquire(timeout=settings.db_acquire_timeout_ms / 1000) as conn:
        positions = await read_positions(conn, settings.topic)
        yield Read(conn=conn, tenant_id=request.user, positions=positions)


def json_response(body: Any, read: Read, status_code: int = 200) -> Response[Any]:
    return Response(
        content=_ENCODER.encode(body),
        media_type="application/json",
        status_code=status_code,
        headers=read.positions.headers(),
    )


def major(minor: int | Decimal, currency: str) -> Decimal:
    """Minor units -> an exact Decimal in major units (EUR 125050 -> 1250.50)."""
    return Decimal(format_minor(int(minor), currency))
