"""The stream's wire format (text/event-stream), encoded once per event and
shared by every subscriber it goes to. docs/stream.md describes it:

- ``ready``: the first event, once the subscription is live; its id (absent
  when the client resumes) is the position it starts from;
- ``change``: the tenant's figures changed; ``currencies`` and ``customers``
  say where (``"many"``: too many customers to list);
- ``refetch``: what changed is not known (the client fell behind, the API
  lost its notices for a moment, a rebuilt version was switched to): read
  everything again;
- ``: heartbeat`` comment lines while nothing happens.

Every event's id and ``position`` is the position its figures reflect at
least, in the format of ``X-Projection-Position``: pass it as
``minPosition`` and the answer reflects the change.
"""

from __future__ import annotations

from typing import Literal

import msgspec

# How long a browser waits before it reconnects (milliseconds).
RETRY_MS = 3000
HEARTBEAT = b": heartbeat\n\n"


class Ready(msgspec.Struct):
    position: str


class Change(msgspec.Struct):
    position: str
    currencies: list[str]
    customers: list[str] | Literal["many"]


class Refetch(msgspec.Struct):
    position: str
    # overflow | reconnect | switch-over | resume
    reason: str


_ENCODER = msgspec.json.Encoder()


def _event(kind: str, event_id: str | None, data: msgspec.Struct) -> bytes:
    # Ids and JSON hold no line breaks: one field line each.
    head = b"" if event_id is None else b"id: " + event_id.encode() + b"\n"
    return head + b"event: " + kind.encode() + b"\ndata: " + _ENCODER.encode(data) + b"\n\n"


def ready(position: str, resumed: bool) -> bytes:
    return f"retry: {RETRY_MS}\n".encode() + _event("ready", None if resumed else position, Ready(position))


def change(position: str, currencies: list[str], customers: list[str] | None) -> bytes:
    return _event("change", position, Change(position, currencies, "many" if customers is None else customers))


def refetch(position: str, reason: str) -> bytes:
    return _event("refetch", position, Refetch(position, reason))
