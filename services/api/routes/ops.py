"""Operations endpoints: liveness, readiness, Prometheus metrics, projection status."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from projections.status import ProjectionStatus
from services import metrics
from services.api.problems import problem_responses
from services.api.reading import json_response, reading
from services.kafka_probe import KafkaProbe
from services.logging import get_logger
from services.settings import Settings
from services.status import projection_status

log = get_logger("api")

LAG_REFRESH_SECONDS = 5.0
READY_DB_TIMEOUT_SECONDS = 2.0


class Health(msgspec.Struct, omit_defaults=True):
    status: str
    database: str | None = None
    maxLagEvents: int | None = None
    maxLagLimit: int | None = None
    detail: str | None = None


class LagWatch:
    """Keeps the partitions' lag fresh in the background (one broker probe,
    shared under a lock), for readiness and the lag gauge."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.probe = KafkaProbe(settings.kafka_bootstrap, settings.topic)
        self.lock = asyncio.Lock()
        self.max_lag: int | None = None

    async def status(self, pool: Any) -> ProjectionStatus:
        async with self.lock:
            if not self.probe.started:
                with contextlib.suppress(Exception):
                    await self.probe.start()
            current = await projection_status(pool, self.settings, self.probe if self.probe.started else None)
        lags = [p.lagEvents for p in current.partitions if p.lagEvents is not None]
        self.max_lag = max(lags) if lags else (None if not current.partitions else self.max_lag)
        for p in current.partitions:
            if p.lagEvents is not None:
                metrics.LAG.labels(str(p.partition)).set(p.lagEvents)
        return current

    async def run(self, pool: Any) -> None:
        while True:
            try:
                await self.status(pool)
            except Exception as error:  # noqa: BLE001 - retried on the next round
                log.debug("lag refresh failed", error=repr(error))
            await asyncio.sleep(LAG_REFRESH_SECONDS)


@contextlib.asynccontextmanager
async def lag_watch(app: Litestar) -> AsyncIterator[None]:
    watch = LagWatch(app.state.settings)
    app.state.lag_watch = watch
    task = asyncio.create_task(watch.run(app.state.pool))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await watch.probe.stop()


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
            await request.app.state.pool.fetchval("SELECT 1")
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


class StatusResponse(msgspec.Struct):
    status: ProjectionStatus
    note: str


@get(
    "/v1/projections/status",
    tags=["Operations"],
    summary="Projection status: versions, positions and lag, held events, quarantine counts",
    responses=problem_responses(),
)
async def projections_status(request: Request[Any, Any, Any]) -> Response[StatusResponse]:
    """Service-wide figures; the examples of open gaps are limited to the caller's tenant."""
    watch: LagWatch = request.app.state.lag_watch
    async with reading(request) as read:
        current = await watch.status(request.app.state.pool)
        current.held = msgspec.structs.replace(
            current.held, examples=[g for g in current.held.examples if g.tenantId == read.tenant_id]
        )
        body = StatusResponse(
            status=current,
            note="counts and positions are service-wide; examples are the caller's tenant's only",
        )
        return json_response(body, read)
