"""The ids a response carries back: the request id, the W3C trace context,
and any ids a family's route echoes (Partner Center's ``MS-RequestId`` and
``MS-CorrelationId``).

One mechanism for all of them (services/api/edge.py adds them to the
response start, so errors, 401s and unmatched routes carry them too): an
``EchoedId`` takes the caller's value when it is sane (1-128 visible ASCII
characters) and makes a new one otherwise. A route echoes more ids by listing
them under ``opt[ECHOED_IDS]`` (its family's Router sets it).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from random import getrandbits
from typing import Any

# The key of a route's ``opt`` that holds the ids (EchoedId) it echoes, beside X-Request-ID.
ECHOED_IDS = "echoed_ids"

MAX_ID_LENGTH = 128
# A sane id: visible ASCII, no spaces or control characters, bounded.
_SANE_ID = re.compile(rb"[\x21-\x7e]{1,%d}\Z" % MAX_ID_LENGTH)

# W3C Trace Context: version-traceid-parentid-flags, lower-case hex. A later
# version may append fields after a dash; version ff is invalid.
_TRACEPARENT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-[\x21-\x7e]{0,200})?\Z")
_NO_TRACE = b"0" * 32
_NO_PARENT = b"0" * 16


def sane_id(value: bytes | None) -> str | None:
    """``value`` as text when it is fit to echo and log, else None."""
    if value is None or _SANE_ID.match(value) is None:
        return None
    return value.decode("ascii")


def trace_id(traceparent: bytes | None) -> str | None:
    """The trace id of a valid ``traceparent`` header value, else None."""
    if traceparent is None:
        return None
    match = _TRACEPARENT.match(traceparent)
    if match is None:
        return None
    version, trace, parent, rest = match.groups()
    if version == b"ff" or (version == b"00" and rest) or trace == _NO_TRACE or parent == _NO_PARENT:
        return None
    return trace.decode("ascii")


# A random 128-bit number made a version 4 UUID: version nibble 4, RFC 4122 variant.
_UUID4_KEEP = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def new_hex_id() -> str:
    """A version 4 UUID as 32 hex digits, like ``uuid.uuid4().hex`` at a tenth
    of its cost (one is made for most requests). Not a secret: its bits come
    from the process's pseudo-random generator (seeded by the OS, and again in
    a forked child)."""
    return f"{getrandbits(128) & _UUID4_KEEP | _UUID4_SET:032x}"


def new_guid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class EchoedId:
    """A request header echoed on the response: the caller's value when sane,
    else a new one (``make``)."""

    name: str
    description: str
    make: Callable[[], str] = new_hex_id
    # The name as ASGI carries it (lower case).
    key: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self.name.lower().encode("latin-1"))

    def value(self, given: bytes | None) -> str:
        return sane_id(given) or self.make()

    def find(self, headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
        """The first value of this header among the request's ``headers``."""
        return next((value for name, value in headers if name == self.key), None)


REQUEST_ID = EchoedId(
    "X-Request-ID",
    "The request's id: the caller's X-Request-ID when it is 1-128 visible ASCII characters,"
    " else a new one (32 hex digits). It is in the access log line of the request.",
)
TRACEPARENT = "traceparent"
TRACEPARENT_DESCRIPTION = (
    "The caller's W3C traceparent, when it is valid (its trace id is in the access log line); absent otherwise."
)


def route_echoed_ids(scope: dict[str, Any] | Any) -> tuple[EchoedId, ...]:
    """The ids the request's route echoes beside X-Request-ID (none before routing)."""
    handler = scope.get("route_handler")
    if handler is None:
        return ()
    echoed: tuple[EchoedId, ...] = handler.opt.get(ECHOED_IDS, ())
    return echoed
