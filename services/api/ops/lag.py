"""The partitions' lag, kept fresh in the background for the lag gauge
(``billing_partition_lag_events``) and read by the projections' status: one
broker probe per process, shared under a lock. Readiness does not depend on
it: the lag is the same for every replica."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from litestar import Litestar

from projections.status import ProjectionStatus
from services import metrics
from services.api.ops import queries
from services.kafka_probe import KafkaProbe
from services.logging import get_logger
from services.settings import Settings

log = get_logger("api")

LAG_REFRESH_SECONDS = 5.0


class LagWatch:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.probe = KafkaProbe(settings)
        self.lock = asyncio.Lock()

    async def status(self, pool: asyncpg.Pool) -> ProjectionStatus:
        async with self.lock:
            if not self.probe.started:
                # A probe whose start fails has closed its consumer; the next round tries a new one.
                with contextlib.suppress(Exception):
                    await self.probe.start()
            current = await queries.status(pool, self.settings, self.probe if self.probe.started else None)
        for p in current.partitions:
            if p.lagEvents is not None:
                metrics.LAG.labels(str(p.partition)).set(p.lagEvents)
        return current

    async def run(self, pool: asyncpg.Pool) -> None:
        while True:
            try:
                await self.status(pool)
            except Exception as error:  # noqa: BLE001 - retried on the next round
                log.debug("lag refresh failed", error=repr(error))
            await asyncio.sleep(LAG_REFRESH_SECONDS)


@contextlib.asynccontextmanager
async def lag_watch(app: Litestar) -> AsyncIterator[None]:
    """A lifespan: the watch runs while the application does (after the pool exists)."""
    watch = LagWatch(app.state.settings)
    app.state.lag_watch = watch
    task = asyncio.create_task(watch.run(app.state.pool))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # Closes the probe's consumer whether it ever started or not.
        await watch.probe.stop()
