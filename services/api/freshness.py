"""What a response reflects, and read-your-writes.

Positions are read before the data, so the data reflects at least them:
``X-Projection-Position: <topic>:<partition>=<next offset>,...`` and
``X-Projection-Event-Time``: the newest applied event's time. A caller holding
a position from a publisher (``partition:offset``, comma-separated) passes it
as ``X-Min-Position`` or ``minPosition``; the request waits until every named
partition has applied that offset, or answers 503 with Retry-After.

Positions read for one request serve the next ones for a few milliseconds
(``PositionsCache``): still read before those requests' data, so still a
lower bound of what the data reflects, and one query fewer per request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time

import asyncpg
import msgspec

from services.api.problems import ApiProblem, BadParameter
from services.api.rows import Connection

READ_POSITIONS = """
SELECT partition, next_offset, last_event_time FROM billing.partition_positions
WHERE topic = $1 ORDER BY partition
"""
POLL_SECONDS = 0.01


class Positions(msgspec.Struct, frozen=True, dict=True):
    topic: str
    next_offsets: dict[int, int]
    newest_event_time: dt.datetime | None

    # Once per read of the positions, not per request that reuses them
    # (responses copy the mapping).
    @functools.cached_property
    def headers(self) -> dict[str, str]:
        position = ",".join(f"{self.topic}:{p}={o}" for p, o in self.next_offsets.items())
        headers = {"X-Projection-Position": position}
        if self.newest_event_time is not None:
            headers["X-Projection-Event-Time"] = self.newest_event_time.isoformat()
        return headers

    def reached(self, wanted: dict[int, int]) -> bool:
        return all(self.next_offsets.get(p, 0) > offset for p, offset in wanted.items())


def parse_min_position(value: str | None, parameter: str = "minPosition") -> dict[int, int]:
    """``"0:41,3:7"`` -> {0: 41, 3: 7}."""
    if not value:
        return {}
    wanted: dict[int, int] = {}
    for part in value.split(","):
        partition, sep, offset = part.strip().partition(":")
        if not sep or not (partition + offset).isascii() or not partition.isdigit() or not offset.isdigit():
            raise BadParameter(parameter, f"expected partition:offset[,partition:offset…], got {value!r}")
        wanted[int(partition)] = max(wanted.get(int(partition), -1), int(offset))
    return wanted


async def read_positions(conn: Connection | asyncpg.Pool, topic: str) -> Positions:
    rows = await conn.fetch(READ_POSITIONS, topic)
    times = [r["last_event_time"] for r in rows if r["last_event_time"] is not None]
    return Positions(
        topic=topic,
        next_offsets={r["partition"]: r["next_offset"] for r in rows},
        newest_event_time=max(times) if times else None,
    )


class PositionsCache:
    """The positions last read, reused while younger than ``max_age`` seconds.
    Positions only grow, so an older read is still a lower bound of any data
    read after it; a read that finishes after a newer one is not kept."""

    def __init__(self, topic: str, max_age: float) -> None:
        self.topic = topic
        self.max_age = max_age
        self._positions: Positions | None = None
        self._read_at = -1.0

    async def get(self, conn: Connection | asyncpg.Pool) -> Positions:
        started = time.monotonic()
        if self._positions is not None and started - self._read_at < self.max_age:
            return self._positions
        positions = await read_positions(conn, self.topic)
        self.keep(positions, started)
        return positions

    def keep(self, positions: Positions, read_at: float) -> None:
        if read_at > self._read_at:
            self._positions, self._read_at = positions, read_at


async def wait_for(conn: Connection | asyncpg.Pool, topic: str, wanted: dict[int, int], max_wait: float) -> Positions:
    deadline = time.monotonic() + max_wait
    while True:
        current = await read_positions(conn, topic)
        if current.reached(wanted):
            return current
        if time.monotonic() >= deadline:
            raise ApiProblem(
                503,
                "Not yet fresh",
                f"the projections have not reached position {wanted} within {max_wait:.1f}s",
                headers={"Retry-After": "1", **current.headers},
            )
        await asyncio.sleep(POLL_SECONDS)
