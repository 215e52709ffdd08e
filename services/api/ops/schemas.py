"""The operations endpoints' answers."""

from __future__ import annotations

import msgspec

from projections.status import ProjectionStatus


class Health(msgspec.Struct, omit_defaults=True):
    status: str
    database: str | None = None
    maxLagEvents: int | None = None
    maxLagLimit: int | None = None
    detail: str | None = None


class StatusResponse(msgspec.Struct):
    status: ProjectionStatus
    note: str
