"""Operations endpoints: liveness, readiness, Prometheus metrics, projection status."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins.prometheus import PrometheusController

from services.api.ops import queries
from services.api.ops.lag import LagWatch
from services.api.ops.schemas import Health, PoolHealth, StatusResponse
from services.api.params import MinPosition
from services.api.problems import problem_responses
from services.api.reading import json_response, reading

# How long readiness waits for a pooled connection and the database's answer.
READY_DB_TIMEOUT_SECONDS = 2.0


class Metrics(PrometheusController):
    path = "/metrics"


@get("/health/live", tags=["Operations"], summary="Liveness: the process answers (`process`: its id)")
async def live() -> Health:
    return Health(status="ok", process=os.getpid())


def pool_health(pool: asyncpg.Pool) -> PoolHealth:
    return PoolHealth(size=pool.get_size(), idle=pool.get_idle_size(), max=pool.get_max_size())


@get(
    "/health/ready",
    tags=["Operations"],
    summary="Readiness: this replica's pool gives a connection and the database answers on it",
    description=(
        "This replica's own health only: a connection acquired from its pool and `SELECT 1` answered within"
        f" {READY_DB_TIMEOUT_SECONDS:g} s. The projections' lag does not count (every replica would go unready at"
        " once): it is in `/v1/projections/status` and the `billing_partition_lag_events` metric."
    ),
    responses={
        503: ResponseSpec(
            Health,
            description="Not ready: no pooled connection in time, or the database does not answer",
            generate_examples=False,
        )
    },
)
async def ready(request: Request[Any, Any, Any]) -> Response[Health]:
    pool: asyncpg.Pool = request.app.state.pool
    try:
        async with asyncio.timeout(READY_DB_TIMEOUT_SECONDS):
            await queries.ping(pool)
    except TimeoutError:
        detail = f"no pooled connection and answer within {READY_DB_TIMEOUT_SECONDS:g} s"
        body = Health(status="unavailable", database="unreachable", pool=pool_health(pool), detail=detail)
        return Response(body, status_code=503)
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        body = Health(status="unavailable", database="unreachable", pool=pool_health(pool), detail=repr(error))
        return Response(body, status_code=503)
    return Response(Health(status="ok", database="ok", pool=pool_health(pool)))


@get(
    "/v1/projections/status",
    tags=["Operations"],
    summary="Projection status: versions, positions and lag, held events, quarantine counts",
    responses=problem_responses(),
)
async def projections_status(
    request: Request[Any, Any, Any], min_position: MinPosition = None
) -> Response[StatusResponse]:
    """Service-wide figures; the examples of open gaps are limited to the caller's tenant."""
    watch: LagWatch = request.app.state.lag_watch
    async with reading(request, min_position) as read:
        current = await watch.status(request.app.state.pool)
        current.held = msgspec.structs.replace(
            current.held, examples=[g for g in current.held.examples if g.tenantId == read.tenant_id]
        )
        body = StatusResponse(
            status=current,
            note="counts and positions are service-wide; examples are the caller's tenant's only",
        )
        return json_response(body, read)
