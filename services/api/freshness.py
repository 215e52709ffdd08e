"""What a response reflects, and read-your-writes.

Positions are read before the data, so the data reflects at least them:
``X-Projection-Position: <topic>:<partition>=<next offset>,...`` and
``X-Projection-Event-Time``: the newest applied event's time. A caller passes
a position as ``X-Min-Position`` or ``minPosition``, comma-separated, in
either form (mixed as they come):

- ``<partition>:<offset>``: a publisher's Kafka offset; wait until that
  offset is applied;
- ``<topic>:<partition>=<next offset>``: the token of ``X-Projection-Position``
  (or of the publisher helper's ``position_token()``), passed back as it is;
  wait until the projections reflect what it says (every offset below the
  next one). The topic must be the one this API projects.

The request waits until every named partition has reached its position, or
answers 503 with Retry-After.

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

    @functools.cached_property
    def encoded_headers(self) -> list[tuple[bytes, bytes]]:
        """``headers`` as a response carries them (read-only: answers copy the list)."""
        return [(name.lower().encode(), value.encode()) for name, value in self.headers.items()]

    def reached(self, wanted: dict[int, int]) -> bool:
        return all(self.next_offsets.get(p, 0) > offset for p, offset in wanted.items())


POSITION_FORMS = "partition:offset or topic:partition=next_offset (as X-Projection-Position states it)"


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_min_position(value: str | None, parameter: str = "minPosition", topic: str | None = None) -> dict[int, int]:
    """The offset each partition must have applied: ``"0:41,3:7"`` -> {0: 41, 3: 7};
    ``"invoice-events:0=42"`` (the header's next offset) -> {0: 41}. A token
    naming another topic than ``topic`` (when given) is a BadParameter."""
    if not value or not value.strip():
        return {}
    wanted: dict[int, int] = {}
    for raw in value.split(","):
        part = raw.strip()
        head, equals, next_offset = part.partition("=")
        if equals:
            name, sep, partition = head.rpartition(":")
            if not sep or not name or not _digits(partition) or not _digits(next_offset):
                raise BadParameter(parameter, f"expected {POSITION_FORMS}, got {part!r}")
            if topic is not None and name != topic:
                raise BadParameter(parameter, f"{part!r} is a position of topic {name!r}; this API projects {topic!r}")
            applied = int(next_offset) - 1
        else:
            partition, sep, offset = part.partition(":")
            if not sep or not _digits(partition) or not _digits(offset):
                raise BadParameter(parameter, f"expected {POSITION_FORMS}, got {part!r}")
            applied = int(offset)
        wanted[int(partition)] = max(wanted.get(int(partition), -1), applied)
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
    """The positions last read, reused while younger than ``max_age`` seconds,
    and while one request reads them anew: under load, every request that
    found them aged would otherwise read them too (a sixth more queries).
    Positions only grow, so an older read is still a lower bound of any data
    read after it; a read that finishes after a newer one is not kept."""

    def __init__(self, topic: str, max_age: float) -> None:
        self.topic = topic
        self.max_age = max_age
        self._positions: Positions | None = None
        self._read_at = -1.0
        self._reading = False

    async def get(self, conn: Connection | asyncpg.Pool) -> Positions:
        started = time.monotonic()
        kept = self._positions
        if kept is not None and (self._reading or started - self._read_at < self.max_age):
            return kept
        self._reading = True
        try:
            positions = await read_positions(conn, self.topic)
        finally:
            self._reading = False
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
