"""The projections' own account of themselves, from the database: versions,
positions, held events and open gaps, quarantine and outcome counts."""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

VERSIONS = """
SELECT version, schema_name, status, applied_seq, created_at, promoted_at
FROM billing.projection_versions WHERE status IN ('active', 'building') ORDER BY version
"""
POSITIONS = """
SELECT partition, next_offset, last_event_time, updated_at FROM billing.partition_positions
WHERE topic = $1 ORDER BY partition
"""
HELD = """
SELECT count(*) AS held,
       count(*) FILTER (WHERE held_at < now() - make_interval(secs => $1)) AS open_gaps,
       min(held_at) AS oldest
FROM billing.held_events
"""
OPEN_GAP_EXAMPLES = """
SELECT tenant_id, invoice_id, sequence, event_id, held_at FROM billing.held_events
WHERE held_at < now() - make_interval(secs => $1) ORDER BY held_at LIMIT 5
"""
QUARANTINE = """
SELECT reason, count(*) AS n FROM billing.quarantine WHERE status = 'open' GROUP BY reason ORDER BY reason
"""
OUTCOMES = """
SELECT outcome, reason, sum(count)::bigint AS n FROM billing.event_outcomes
WHERE topic = $1 GROUP BY outcome, reason ORDER BY outcome, reason
"""
MAX_SEQ = "SELECT coalesce(max(seq), 0) FROM billing.event_store"


class VersionStatus(msgspec.Struct, frozen=True):
    version: int
    schemaName: str
    status: str
    appliedSeq: int
    eventsBehind: int
    createdAt: dt.datetime
    promotedAt: dt.datetime | None


class PartitionStatus(msgspec.Struct):
    partition: int
    nextOffset: int
    lastEventTime: dt.datetime | None
    updatedAt: dt.datetime
    endOffset: int | None = None
    lagEvents: int | None = None
    lagSeconds: float | None = None


class OpenGap(msgspec.Struct, frozen=True):
    tenantId: str
    invoiceId: str
    sequence: int
    eventId: str
    heldAt: dt.datetime


class HeldStatus(msgspec.Struct, frozen=True):
    held: int
    openGaps: int
    gapAlertSeconds: float
    oldestHeldAt: dt.datetime | None
    examples: list[OpenGap]


class ProjectionStatus(msgspec.Struct):
    topic: str
    versions: list[VersionStatus]
    partitions: list[PartitionStatus]
    held: HeldStatus
    quarantinedByReason: dict[str, int]
    outcomes: dict[str, int]


async def read(conn: asyncpg.Connection | asyncpg.Pool, topic: str, gap_alert_seconds: float) -> ProjectionStatus:
    max_seq = int(await conn.fetchval(MAX_SEQ))
    # An aggregate without GROUP BY: always exactly one row.
    (held,) = await conn.fetch(HELD, gap_alert_seconds)
    examples = await conn.fetch(OPEN_GAP_EXAMPLES, gap_alert_seconds) if held["open_gaps"] else []
    return ProjectionStatus(
        topic=topic,
        versions=[
            VersionStatus(
                version=r["version"],
                schemaName=r["schema_name"],
                status=r["status"],
                appliedSeq=r["applied_seq"],
                # The active version is written by the workers themselves.
                eventsBehind=0 if r["status"] == "active" else max(max_seq - r["applied_seq"], 0),
                createdAt=r["created_at"],
                promotedAt=r["promoted_at"],
            )
            for r in await conn.fetch(VERSIONS)
        ],
        partitions=[
            PartitionStatus(
                partition=r["partition"],
                nextOffset=r["next_offset"],
                lastEventTime=r["last_event_time"],
                updatedAt=r["updated_at"],
            )
            for r in await conn.fetch(POSITIONS, topic)
        ],
        held=HeldStatus(
            held=held["held"],
            openGaps=held["open_gaps"],
            gapAlertSeconds=gap_alert_seconds,
            oldestHeldAt=held["oldest"],
            examples=[
                OpenGap(
                    tenantId=r["tenant_id"],
                    invoiceId=r["invoice_id"],
                    sequence=r["sequence"],
                    eventId=r["event_id"],
                    heldAt=r["held_at"],
                )
                for r in examples
            ],
        ),
        quarantinedByReason={r["reason"]: r["n"] for r in await conn.fetch(QUARANTINE)},
        outcomes={
            f"{r['outcome']}:{r['reason']}" if r["reason"] else r["outcome"]: r["n"]
            for r in await conn.fetch(OUTCOMES, topic)
        },
    )
