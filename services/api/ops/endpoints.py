"""Operations endpoints: liveness, readiness, Prometheus metrics, projection status."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins.prometheus import PrometheusController

from services.api.ops import queries
from services.api.ops.lag import LagWatch
from services.api.ops.schemas import Health, StatusResponse
from services.api.params import MinPosition
from services.api.problems import problem_responses
from services.api.reading import json_response, reading
from services.settings import Settings

READY_DB_TIMEOUT_SECONDS = 2.0


class Metrics(PrometheusController):
    path = "/metrics"


@get("/health/live", tags=["Operations"], summary="Liveness: the process answers")
async def live() -> Health:
    return Health(status="ok")


@get(
    "/health/ready",
    tags=["Operations"],
    summary="Readiness: database reachable, lag under the limit",
    responses={
        503: ResponseSpec(
            Health,
            description="Not ready: the database is unreachable or the lag is over the limit",
            generate_examples=False,
        )
    },
)
async def ready(request: Request[Any, Any, Any]) -> Response[Health]:
    settings: Settings = request.app.state.settings
    watch: LagWatch = request.app.state.lag_watch
    try:
        async with asyncio.timeout(READY_DB_TIMEOUT_SECONDS):
            await queries.ping(request.app.state.pool)
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        body = Health(status="unavailable", database="unreachable", detail=repr(error))
        return Response(body, status_code=503)
    lag = watch.max_lag
    if lag is not None and lag > settings.ready_max_lag:
        body = Health(
            status="unavailable",
            database="ok",
            maxLagEvents=lag,
            maxLagLimit=settings.ready_max_lag,
            detail="the projections lag behind the topic by more than the limit",
        )
        return Response(body, status_code=503)
    return Response(Health(status="ok", database="ok", maxLagEvents=lag, maxLagLimit=settings.ready_max_lag))


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
