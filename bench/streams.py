"""Realistic invoice data for the benchmarks (pure, deterministic for a seed).

Invoices come from ``services.demo.HistoryMaker`` (lines, taxes, partial
payments, voids, issue dates over the last 120 days and due dates from 0 to 45
days later, so due dates fall on both sides of today). This module spreads
them over tenants, customers and currencies the way a real multi-tenant
service sees them, and orders their events the way a log receives them:

- tenants follow a Zipf law (a few large merchants, a long tail), so the
  largest tenant holds ~20% of the invoices: the read benchmarks query it,
  the worst case for request-time aggregation;
- customers: about ``INVOICES_PER_CUSTOMER`` invoices each, within a tenant;
- currencies with exponents 2, 0 and 3 (EUR, USD, GBP, JPY, KWD);
- events of many invoices interleave in the log (an invoice's events are
  spread over a block of other invoices' events), each invoice's own events
  in sequence order, except for a small share of late events (two
  consecutive events swapped) and duplicates (an event sent again later).
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
import zlib
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import NamedTuple

from contracts import InvoiceEvent, encode, event_type
from services.demo import HistoryMaker

CURRENCY_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("EUR", 0.40),
    ("USD", 0.30),
    ("GBP", 0.15),
    ("JPY", 0.10),
    ("KWD", 0.05),
)
TENANTS = 100
INVOICES_PER_CUSTOMER = 20
# Invoices whose events interleave with each other in the log. An invoice's
# events are spread over ~this many invoices' events (2.7 events each), so a
# worker batch of 5,000 records mostly touches invoices created in earlier
# batches, as in production, where an invoice is paid days after it is sent.
BLOCK_INVOICES = 4000
# Shares of the published records that are late (swapped with the event
# before them) or duplicates (sent again later): what real logs carry.
LATE_SHARE = 0.01
DUPLICATE_SHARE = 0.02
PARTITIONS = 4


def tenant_id(index: int) -> str:
    return f"tenant-{index + 1:03d}"


LARGEST_TENANT = tenant_id(0)


def zipf_weights(count: int, exponent: float = 1.0) -> list[float]:
    """Weights 1/rank^exponent, normalised to sum to 1."""
    raw = [1.0 / (rank**exponent) for rank in range(1, count + 1)]
    total = sum(raw)
    return [w / total for w in raw]


def stable_partition(invoice_id: str, partitions: int = PARTITIONS) -> int:
    """A stable hash of the invoice id (the key): the partition of its events
    in the event store loaded without Kafka."""
    return zlib.crc32(invoice_id.encode()) % partitions


class Owner(NamedTuple):
    tenant: str
    customer: str
    currency: str


class Tenancy:
    """Chooses the tenant, customer and currency of each new invoice."""

    def __init__(self, invoices: int, rng: random.Random, tenants: int = TENANTS) -> None:
        self.rng = rng
        weights = zipf_weights(tenants)
        self._tenant_cdf = list(accumulate(weights))
        # Customers per tenant in proportion to its share of the invoices.
        self.customers = [max(3, round(invoices * w / INVOICES_PER_CUSTOMER)) for w in weights]
        self._currency_cdf = list(accumulate(w for _, w in CURRENCY_WEIGHTS))
        # Every customer keeps one currency (as billing systems usually do);
        # a few customers, the ones whose number ends in 7, mix currencies.
        self._codes = [c for c, _ in CURRENCY_WEIGHTS]

    def _pick(self, cdf: Sequence[float]) -> int:
        return min(bisect.bisect_left(cdf, self.rng.random() * cdf[-1]), len(cdf) - 1)

    def owner(self) -> Owner:
        t = self._pick(self._tenant_cdf)
        c = self.rng.randrange(self.customers[t])
        currency = self._codes[self._pick(self._currency_cdf)] if c % 10 == 7 else self.customer_currency(t, c)
        return Owner(tenant_id(t), customer_id(t, c), currency)

    def customer_currency(self, tenant: int, customer: int) -> str:
        # Deterministic per customer, with the overall currency weights.
        share = (zlib.crc32(f"{tenant}/{customer}".encode()) % 10_000) / 10_000
        return self._codes[min(bisect.bisect_right(self._currency_cdf, share), len(self._codes) - 1)]


def customer_id(tenant: int, customer: int) -> str:
    return f"cus-{tenant + 1:03d}-{customer + 1:06d}"


def histories(
    invoices: int, seed: int, today: dt.date | None = None, population: int | None = None
) -> Iterator[list[InvoiceEvent]]:
    """``invoices`` invoice histories, each in sequence order. ``population``:
    the size of the whole data set when this is one slice of it (it sizes the
    customer base)."""
    rng = random.Random(seed)
    maker = HistoryMaker(seed=seed + 1, today=today)
    tenancy = Tenancy(population or invoices, rng)
    for _ in range(invoices):
        owner = tenancy.owner()
        yield maker.history(owner.tenant, owner.customer, owner.currency)


class Record(NamedTuple):
    """One record of the log: Kafka key (the invoice id) and value (the
    structured CloudEvent), with what the loaders need to know about it."""

    key: bytes
    value: bytes
    event: InvoiceEvent


def interleave(
    block: Sequence[list[InvoiceEvent]], rng: random.Random, late: float = 0.0, duplicates: float = 0.0
) -> list[InvoiceEvent]:
    """The events of a block of histories in log order: each invoice starts at
    a random moment of the block and its events follow at random gaps, so
    every invoice's events stay in sequence order. ``late``: share of events
    that arrive just before their predecessor; ``duplicates``: share sent
    twice, the copy a little later."""
    timed: list[tuple[float, int, InvoiceEvent]] = []
    order = 0
    for history in block:
        moment = rng.random()
        times = []
        for _ in history:
            times.append(moment)
            moment += rng.expovariate(4.0)
        for i in range(1, len(history)):
            if rng.random() < late:
                # The event overtakes its predecessor: it is held until the
                # predecessor arrives.
                times[i - 1], times[i] = times[i], times[i - 1]
        for moment, event in zip(times, history, strict=True):
            timed.append((moment, order, event))
            order += 1
            if rng.random() < duplicates:
                timed.append((moment + rng.expovariate(8.0), order, event))
                order += 1
    timed.sort(key=lambda t: (t[0], t[1]))
    return [event for _, _, event in timed]


def log_events(
    count: int, seed: int, today: dt.date | None = None, late: float = LATE_SHARE, duplicates: float = DUPLICATE_SHARE
) -> Iterator[InvoiceEvent]:
    """Exactly ``count`` events in log order (duplicates and late events
    included), block after block of interleaved histories. Invoices are made
    as needed, ~2.7 events each."""
    rng = random.Random(seed + 2)
    # Enough invoices for the count (the tail of the last block is unused).
    source = histories(count // 2 + BLOCK_INVOICES, seed, today)
    produced = 0
    while produced < count:
        block = [next(source) for _ in range(BLOCK_INVOICES)]
        for event in interleave(block, rng, late, duplicates):
            if produced == count:
                return
            yield event
            produced += 1


def records(
    count: int, seed: int, today: dt.date | None = None, late: float = LATE_SHARE, duplicates: float = DUPLICATE_SHARE
) -> list[Record]:
    """``count`` encoded records in log order (what a publisher sends)."""
    return [
        Record(event.subject.encode(), encode(event), event)
        for event in log_events(count, seed, today, late, duplicates)
    ]


class StoreRow(NamedTuple):
    """One row of billing.event_store (seq is assigned by the table)."""

    tenant_id: str
    invoice_id: str
    sequence: int
    event_id: str
    type: str
    event_time: dt.datetime
    topic: str
    partition: int
    kafka_offset: int
    body: bytes


def store_rows(
    count: int, seed: int, topic: str, today: dt.date | None = None, chunk: int = 50_000
) -> Iterator[list[StoreRow]]:
    """``count`` event-store rows in append order, in chunks: the events a
    worker would have stored (no duplicates, each invoice in sequence order),
    the partition a stable hash of the invoice id, offsets counted per partition."""
    offsets = [0] * PARTITIONS
    rows: list[StoreRow] = []
    for event in log_events(count, seed, today, late=0.0, duplicates=0.0):
        partition = stable_partition(event.subject)
        rows.append(
            StoreRow(
                event.tenantid,
                event.subject,
                event.sequence,
                event.id,
                event_type(event),
                event.time,
                topic,
                partition,
                offsets[partition],
                encode(event),
            )
        )
        offsets[partition] += 1
        if len(rows) >= chunk:
            yield rows
            rows = []
    if rows:
        yield rows
