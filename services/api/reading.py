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
from litestar import Litestar, Request, Response
from litestar.types import ASGIApp, Receive, Scope, Send

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


_JSON = (b"content-type", b"application/json")


class EncodedResponse(Response[Any]):
    """An answer whose body and header lines are bytes already, sent as they
    are: Litestar's Response would copy its headers into a mapping, render
    the body and encode every header again on each request. No layer of
    this application sets response headers or cookies; headers one ever
    passes are added."""

    def __init__(self, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(body, media_type="application/json", status_code=200)
        self._encoded = [*headers, _JSON, (b"content-length", b"%d" % len(body))]

    def to_asgi_response(  # type: ignore[override]
        self, app: Litestar | None, request: Request[Any, Any, Any], *, headers: dict[str, str] | None = None, **_: Any
    ) -> ASGIApp:
        if headers:
            self._encoded += [
                (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
            ]
        return self._send

    async def _send(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self._encoded})
        await send({"type": "http.response.body", "body": self.content, "more_body": False})


def encode(body: Any) -> bytes:
    """An answer's JSON, as ``json_response`` sends it."""
    return _ENCODER.encode(body)


def json_response(body: Any, read: Read) -> Response[Any]:
    return EncodedResponse(encode(body), read.positions.encoded_headers)
