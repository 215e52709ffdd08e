"""Held events whose gap stays open too long, and how close the tenant holding
the most is to its cap: gauges and warnings, checked every few seconds while
the worker runs."""

from __future__ import annotations

import time

import asyncpg

from services import metrics
from services.logging import get_logger

log = get_logger("worker")

# The longest time between two checks.
GAP_CHECK_SECONDS = 15.0

OPEN_GAPS = """
SELECT g.open_gaps, g.oldest, g.sample, t.held, t.largest, t.largest_tenant
FROM (
    SELECT count(*) AS open_gaps, min(held_at) AS oldest,
           (array_agg(tenant_id || '/' || invoice_id || '#' || sequence ORDER BY held_at))[1:5] AS sample
    FROM billing.held_events WHERE held_at < now() - make_interval(secs => $1)
) g, (
    SELECT coalesce(sum(n), 0)::bigint AS held, coalesce(max(n), 0)::bigint AS largest,
           (array_agg(tenant_id ORDER BY n DESC, tenant_id))[1] AS largest_tenant
    FROM (SELECT tenant_id, count(*) AS n FROM billing.held_events GROUP BY tenant_id) c
) t
"""
# A tenant holding this share of its cap is warned about (the alert's threshold).
NEAR_CAP = 0.8


class OpenGapReport:
    """Reports held events waiting longer than ``limit_seconds`` for the
    event before them, and the held events against the per-tenant cap."""

    def __init__(self, limit_seconds: float, held_max_per_tenant: int | None = None) -> None:
        self.limit_seconds = limit_seconds
        self.held_max_per_tenant = held_max_per_tenant
        self.interval = min(GAP_CHECK_SECONDS, max(limit_seconds / 4, 0.5))
        self._next_check = 0.0

    def due(self) -> bool:
        """Whether a check is due; if so, the next one is scheduled."""
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + self.interval
        return True

    async def read(self, conn: asyncpg.Connection) -> asyncpg.Record | None:
        """The open gaps, or None if they could not be read (a report is
        never a reason to stop)."""
        try:
            return await conn.fetchrow(OPEN_GAPS, self.limit_seconds)
        except Exception as error:  # noqa: BLE001 - a report, never a reason to stop
            log.debug("open gap check failed", error=repr(error))
            return None

    def publish(self, row: asyncpg.Record | None) -> None:
        """Set the gauges, and warn while any gap is open or a tenant is near its cap."""
        if row is None:
            return
        metrics.HELD_OVERDUE.set(row["open_gaps"])
        metrics.HELD_EVENTS.set(row["held"])
        if self.held_max_per_tenant:
            ratio = row["largest"] / self.held_max_per_tenant
            metrics.HELD_MAX_TENANT_RATIO.set(ratio)
            if ratio >= NEAR_CAP:
                log.warning(
                    "a tenant holds events near its cap: beyond it new ones are quarantined (gap_timeout)",
                    tenant=row["largest_tenant"],
                    held=row["largest"],
                    cap=self.held_max_per_tenant,
                )
        if row["open_gaps"]:
            log.warning(
                "held events wait for a missing earlier event",
                open_gaps=row["open_gaps"],
                oldest_held_at=row["oldest"].isoformat(),
                examples=row["sample"],
                limit_seconds=self.limit_seconds,
            )
