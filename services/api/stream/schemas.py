"""The stream family's JSON answers (the events' shapes: frames.py)."""

from __future__ import annotations

import datetime as dt

import msgspec


class StreamEvent(msgspec.Struct):
    """One event of the stream as an EventSource client parses it: its type
    (``ready``, ``change``, ``refetch``), its id (the position token) and its
    data (JSON, docs/stream.md); ``retry``, the reconnection delay in ms."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


class StreamToken(msgspec.Struct):
    """A token for ``GET /v1/stream?token=…`` (EventSource cannot send headers)."""

    token: str
    expiresAt: dt.datetime
    expiresIn: int
    # The stream's path with the token, relative to the API's base URL.
    url: str
