"""Projection status for operators: the database's account plus the broker's
end offsets (lag in events and seconds). Shared by `billing status` and
GET /v1/projections/status."""

from __future__ import annotations

import asyncpg

from projections import status
from services.kafka_probe import KafkaProbe
from services.logging import get_logger
from services.settings import Settings

log = get_logger("status")


async def projection_status(
    conn: asyncpg.Connection | asyncpg.Pool, settings: Settings, probe: KafkaProbe | None
) -> status.ProjectionStatus:
    current = await status.read(conn, settings.topic, settings.gap_alert_seconds)
    if probe is not None:
        try:
            await probe.fill_lag(current.partitions)
        except Exception as error:  # noqa: BLE001 - the database part is still worth showing
            log.warning("broker unreachable; lag unknown", error=repr(error))
    return current


def render(current: status.ProjectionStatus) -> str:
    """A terminal view of the status."""
    lines = [f"topic {current.topic}"]
    for v in current.versions:
        behind = "" if v.status == "active" else f", {v.eventsBehind} events behind"
        lines.append(f"version {v.version} ({v.schemaName}): {v.status}{behind}")
    lines.append("partition  next offset  end offset  lag events  lag seconds  newest event")
    for p in current.partitions:
        lines.append(
            f"{p.partition:>9}  {p.nextOffset:>11}  {_text(p.endOffset):>10}  {_text(p.lagEvents):>10}"
            f"  {_text(p.lagSeconds):>11}  {p.lastEventTime.isoformat() if p.lastEventTime else '-'}"
        )
    held = current.held
    lines.append(f"held events: {held.held}; gaps open longer than {held.gapAlertSeconds:g}s: {held.openGaps}")
    for gap in held.examples:
        lines.append(
            f"  {gap.tenantId}/{gap.invoiceId} waits before sequence {gap.sequence}"
            f" since {gap.heldAt:%Y-%m-%d %H:%M:%S}"
        )
    quarantined = ", ".join(f"{r}: {n}" for r, n in current.quarantinedByReason.items()) or "none"
    lines.append(f"quarantined (open): {quarantined}")
    lines.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in current.outcomes.items()))
    return "\n".join(lines)


def _text(value: object) -> str:
    return "-" if value is None else str(value)
