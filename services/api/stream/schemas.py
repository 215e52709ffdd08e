"""The stream family's JSON answers (the events' shapes: frames.py)."""

from __future__ import annotations

import datetime as dt

import msgspec


class StreamToken(msgspec.Struct):
    """A token for ``GET /v1/stream?token=…`` (EventSource cannot send headers)."""

    token: str
    expiresAt: dt.datetime
    expiresIn: int
    # The stream's path with the token, relative to the API's base URL.
    url: str
