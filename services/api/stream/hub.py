"""One API process's fan-out: the change notices its listen connection
receives (services/api/stream/listener.py) go to the subscribers of their
tenant, in memory. A notice costs no query, whatever the number of
subscribers; a notice of a tenant nobody here follows is dropped.

Per tenant (``TenantLog``), while it has subscribers and for ``RETAIN_SECONDS``
after the last one left:

- coalescing: the first change after a quiet window goes out at once, the
  next ones within ``window`` seconds of it together (the union of their
  currencies and customers, the latest position), so at most 1/window events
  a second;
- the position: every notice's partitions, as far as they went (the event
  id, in the X-Projection-Position format);
- a short history of the events sent, to resume a client from its
  Last-Event-ID: ``floor`` is the position from which every change is in the
  history (None: unknown, e.g. while the listen connection is down), so a
  client at or past it is told exactly what it missed, any other to refetch.

A subscriber's queue is bounded: a client that does not read keeps at most
``queue_limit`` events; beyond, they are dropped for one ``refetch`` event.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping

import msgspec
from prometheus_client import Counter, Gauge

from projections.notify import EVERY_TENANT, MANY, Notice, position_token
from services.api.stream import frames

# A tenant's log outlives its last subscriber this long, to resume a client
# that reconnects (a browser's EventSource retries within seconds).
RETAIN_SECONDS = 300.0
HISTORY_EVENTS = 64
# Customers one coalesced event lists at most ("many" beyond).
MAX_CUSTOMERS = 500

Offsets = dict[int, int]

SUBSCRIBERS = Gauge(
    "billing_stream_subscribers", "Live stream subscribers the API process holds", multiprocess_mode="livesum"
)
# Per event queued for a subscriber (one change to ten subscribers counts ten).
QUEUED = Counter("billing_stream_events_total", "Live stream events queued for subscribers", ["event"])
OVERFLOWS = Counter("billing_stream_overflows_total", "Subscribers that fell behind and were told to refetch")


def beyond(position: Mapping[int, int], other: Mapping[int, int]) -> bool:
    """Whether ``position`` reaches past ``other`` on some partition."""
    return any(offset > other.get(partition, 0) for partition, offset in position.items())


def merge(into: Offsets, position: Mapping[int, int]) -> None:
    for partition, offset in position.items():
        if offset > into.get(partition, 0):
            into[partition] = offset


class Entry(msgspec.Struct, frozen=True):
    position: Offsets
    currencies: frozenset[str]
    customers: frozenset[str] | None  # None: many


class Subscriber:
    """One client's queue of encoded events."""

    __slots__ = ("frames", "limit", "overflowed", "wake")

    def __init__(self, limit: int) -> None:
        self.frames: deque[bytes] = deque()
        self.limit = limit
        # A refetch is waiting: it covers every event since.
        self.overflowed = False
        self.wake = asyncio.Event()

    def offer(self, frame: bytes, refetch: bytes) -> None:
        if self.overflowed:
            return
        if len(self.frames) >= self.limit:
            self.frames.clear()
            frame, self.overflowed = refetch, True
            OVERFLOWS.inc()
        self.frames.append(frame)
        self.wake.set()

    def take(self) -> bytes:
        frame = self.frames.popleft()
        if not self.frames:
            self.overflowed = False
        return frame


class TenantLog:
    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.position: Offsets = {}
        self.floor: Offsets | None = None
        self.history: deque[Entry] = deque()
        self.currencies: set[str] = set()
        self.customers: set[str] | None = set()
        self.pending = False
        self.last_sent = float("-inf")
        self.timer: asyncio.TimerHandle | None = None
        self.idle_since: float | None = None

    def record(self, entry: Entry) -> None:
        self.history.append(entry)
        if len(self.history) > HISTORY_EVENTS and self.floor is not None:
            merge(self.floor, self.history.popleft().position)

    def missed(self, since: Mapping[int, int]) -> Entry | None:
        """What changed after ``since`` as one entry, or None when the history
        cannot say (refetch). Call only when the position is beyond ``since``."""
        if self.floor is None or beyond(self.floor, since):
            return None
        currencies: set[str] = set()
        customers: set[str] | None = set()
        for entry in self.history:
            if beyond(entry.position, since):
                currencies |= entry.currencies
                customers = None if customers is None or entry.customers is None else customers | entry.customers
        return Entry(dict(self.position), frozenset(currencies), None if customers is None else frozenset(customers))

    def reset(self, position: Mapping[int, int] | None) -> None:
        """Forget the history: from ``position`` (merged) on, it is complete
        again; None: unknown until the next reset."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.pending, self.currencies, self.customers = False, set(), set()
        self.history.clear()
        if position is None:
            self.floor = None
        else:
            merge(self.position, position)
            self.floor = dict(self.position)


class Hub:
    def __init__(self, topic: str, window: float, queue_limit: int, max_subscribers: int) -> None:
        self.topic = topic
        self.window = window
        self.queue_limit = max(1, queue_limit)
        self.max_subscribers = max_subscribers
        self.subscribers = 0
        # Whether notices arrive (the listen connection is up and resynced).
        self.listening = False
        self._logs: dict[str, TenantLog] = {}
        self._decoder = msgspec.json.Decoder(Notice)

    # Subscribers -----------------------------------------------------------

    def subscribe(self, tenant: str) -> tuple[Subscriber, TenantLog, bool]:
        """A new subscriber of ``tenant``, its log, and whether the log is new
        (its position must then be read: ``start``)."""
        log = self._logs.get(tenant)
        new = log is None
        if log is None:
            log = self._logs[tenant] = TenantLog()
        subscriber = Subscriber(self.queue_limit)
        log.subscribers.add(subscriber)
        log.idle_since = None
        self.subscribers += 1
        SUBSCRIBERS.inc()
        return subscriber, log, new

    def start(self, log: TenantLog, position: Mapping[int, int]) -> None:
        """The positions read after ``log`` was made: every change past them
        will be noticed, as long as the listen connection was up before."""
        if self.listening:
            log.reset(position)
        else:
            merge(log.position, position)

    def unsubscribe(self, tenant: str, subscriber: Subscriber) -> None:
        log = self._logs.get(tenant)
        if log is None or subscriber not in log.subscribers:
            return
        log.subscribers.discard(subscriber)
        self.subscribers -= 1
        SUBSCRIBERS.dec()
        if not log.subscribers:
            log.idle_since = time.monotonic()

    def sweep(self) -> None:
        """Drop the logs nobody has followed for RETAIN_SECONDS."""
        cutoff = time.monotonic() - RETAIN_SECONDS
        for tenant in [t for t, log in self._logs.items() if log.idle_since is not None and log.idle_since < cutoff]:
            log = self._logs.pop(tenant)
            if log.timer is not None:
                log.timer.cancel()

    def token(self, position: Mapping[int, int]) -> str:
        # Nothing applied yet is still a position (an empty event id would
        # make a browser resume as a new client).
        return position_token(self.topic, position or {0: 0})

    # Notices ---------------------------------------------------------------

    def receive(self, payload: str) -> None:
        """One notice from the listen connection."""
        notice = self._decoder.decode(payload)
        if notice.tenant == EVERY_TENANT:
            self.refetch_everyone(notice.refetch or "changed", None)
            return
        log = self._logs.get(notice.tenant)
        if log is None:
            return
        if notice.position is not None:
            merge(log.position, _offsets(notice.position, self.topic))
        log.currencies.update(notice.currencies)
        if log.customers is not None:
            if notice.customers == MANY:
                log.customers = None
            else:
                log.customers.update(notice.customers)
                if len(log.customers) > MAX_CUSTOMERS:
                    log.customers = None
        log.pending = True
        if log.timer is None:
            delay = max(0.0, log.last_sent + self.window - time.monotonic())
            log.timer = asyncio.get_running_loop().call_later(delay, self._send, log)

    def _send(self, log: TenantLog) -> None:
        log.timer = None
        if not log.pending:
            return
        entry = Entry(
            dict(log.position),
            frozenset(log.currencies),
            None if log.customers is None else frozenset(log.customers),
        )
        log.pending, log.currencies, log.customers = False, set(), set()
        log.last_sent = time.monotonic()
        log.record(entry)
        if log.subscribers:  # else kept only for a client that resumes
            self._offer(log, self.change_frame(entry), frames.refetch(self.token(entry.position), "overflow"))
            QUEUED.labels("change").inc(len(log.subscribers))

    def refetch_everyone(self, reason: str, position: Mapping[int, int] | None) -> None:
        """Every subscriber reads everything again; the histories restart
        from ``position`` (None: unknown)."""
        for log in self._logs.values():
            log.reset(position)
            frame = frames.refetch(self.token(log.position), reason)
            self._offer(log, frame, frame)
            QUEUED.labels("refetch").inc(len(log.subscribers))

    def change_frame(self, entry: Entry) -> bytes:
        customers = None if entry.customers is None else sorted(entry.customers)
        return frames.change(self.token(entry.position), sorted(entry.currencies), customers)

    @staticmethod
    def _offer(log: TenantLog, frame: bytes, refetch: bytes) -> None:
        for subscriber in log.subscribers:
            subscriber.offer(frame, refetch)


def _offsets(token: str, topic: str) -> Offsets:
    """``topic:partition=next_offset,…`` as partition -> next offset (this topic's only)."""
    found: Offsets = {}
    for part in token.split(","):
        head, _, offset = part.partition("=")
        name, _, partition = head.rpartition(":")
        if name == topic and _digits(partition) and _digits(offset):
            found[int(partition)] = max(found.get(int(partition), 0), int(offset))
    return found


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_event_id(value: str, topic: str) -> Offsets | None:
    """A Last-Event-ID as offsets; None when it is not a position of this topic."""
    offsets = _offsets(value, topic)
    return offsets if offsets and len(offsets) == len(value.split(",")) else None
