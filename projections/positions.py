"""Per-partition Kafka positions, committed with the rows they produced.

The stored position is the next offset to read. A batch advances it with a
compare-and-set on the position it started from, so a stale owner (a worker
that lost the partition in a rebalance but still runs its batch) cannot commit
over a newer owner: its update matches no row and its transaction rolls back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import asyncpg

ENSURE = """
INSERT INTO billing.partition_positions (topic, partition, next_offset)
SELECT $1, p, 0 FROM unnest($2::int[]) AS p
ON CONFLICT (topic, partition) DO NOTHING
"""
READ = """
SELECT partition, next_offset FROM billing.partition_positions
WHERE topic = $1 AND partition = ANY($2::int[])
"""
ADVANCE = """
UPDATE billing.partition_positions AS p
SET next_offset = k.next_offset, updated_at = now()
FROM unnest($2::int[], $3::bigint[], $4::bigint[]) AS k(partition, expected, next_offset)
WHERE p.topic = $1 AND p.partition = k.partition AND p.next_offset = k.expected
"""
RECORD_EVENT_TIMES = """
UPDATE billing.partition_positions AS p
SET last_event_time = greatest(p.last_event_time, k.last_event_time)
FROM unnest($2::int[], $3::timestamptz[]) AS k(partition, last_event_time)
WHERE p.topic = $1 AND p.partition = k.partition
"""


class StalePosition(Exception):
    """Another owner moved the partition on: this batch must not commit."""


async def claim(conn: asyncpg.Connection, topic: str, partitions: Sequence[int]) -> dict[int, int]:
    """The stored next offset of each partition (0 for one never seen)."""
    await conn.execute(ENSURE, topic, list(partitions))
    rows = await conn.fetch(READ, topic, list(partitions))
    return {row["partition"]: row["next_offset"] for row in rows}


async def advance(
    conn: asyncpg.Connection,
    topic: str,
    moves: Mapping[int, tuple[int, int]],
) -> None:
    """Move each partition from ``expected`` to ``next_offset`` ((expected, next) by
    partition) or raise StalePosition. Call it first in the batch transaction: it
    also locks the position rows, serialising any zombie behind the owner."""
    partitions = sorted(moves)
    status = await conn.execute(
        ADVANCE,
        topic,
        partitions,
        [moves[p][0] for p in partitions],
        [moves[p][1] for p in partitions],
    )
    updated = int(status.split()[-1])
    if updated != len(partitions):
        raise StalePosition(
            f"{topic}: {len(partitions) - updated} of partitions {partitions} moved on under this worker"
        )


async def record_event_times(conn: asyncpg.Connection, topic: str, newest: Mapping[int, dt.datetime]) -> None:
    """Remember the newest applied event time per partition (for freshness)."""
    if newest:
        partitions = sorted(newest)
        await conn.execute(RECORD_EVENT_TIMES, topic, partitions, [newest[p] for p in partitions])
