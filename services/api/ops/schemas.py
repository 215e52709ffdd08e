"""The operations endpoints' answers."""

from __future__ import annotations

import msgspec

from projections.status import ProjectionStatus


class PoolHealth(msgspec.Struct):
    """The replica's connection pool: connections open, of them idle, and the most it opens."""

    size: int
    idle: int
    max: int


class Health(msgspec.Struct, omit_defaults=True):
    status: str
    # The id of the process that answered (liveness): with several API
    # processes on one port, which one it was.
    process: int | None = None
    database: str | None = None
    pool: PoolHealth | None = None
    detail: str | None = None


class StatusResponse(msgspec.Struct):
    status: ProjectionStatus
    note: str
