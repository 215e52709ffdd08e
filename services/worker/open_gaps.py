"""Held events whose gap stays open too long: a gauge and a warning, checked
every few seconds while the worker runs."""

from __future__ import annotations

import time

import asyncpg

from services import metrics
from services.logging import get_logger

log = get_logger("worker")

# The longest time between two checks.
GAP_CHECK_SECONDS = 15.0

OPEN_GAPS = """
SELECT count(*) AS open_gaps, min(held_at) AS oldest,
       (array_agg(tenant_id || '/' || invoice_id || '#' || sequence ORDER BY held_at))[1:5] AS sample
FROM billing.held_events WHERE held_at < now() - make_interval(secs => $1)
"""


class OpenGapReport:
    """Reports held events waiting longer than ``limit_seconds`` for the
    event before them."""

    def __init__(self, limit_seconds: float) -> None:
        self.limit_seconds = limit_seconds
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
        """Set the gauge, and warn while any gap is open."""
        if row is None:
            return
        metrics.HELD_OVERDUE.set(row["open_gaps"])
        if row["open_gaps"]:
            log.warning(
                "held events wait for a missing earlier event",
                open_gaps=row["open_gaps"],
                oldest_held_at=row["oldest"].isoformat(),
                examples=row["sample"],
                limit_seconds=self.limit_seconds,
            )
