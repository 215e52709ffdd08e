"""Prometheus metrics of the worker and the API (one registry per process).

Several API processes (``billing api --workers N``) write theirs to files
that /metrics adds up (Prometheus's multiprocess mode, services/api/server.py):
the gauges say how processes combine (``multiprocess_mode``). Those set from
one shared figure (the broker's lag, the held events' counts) report the
most recent value any process set; collectors computed at scrape time
(LagSeconds) are the worker's, which runs in one process."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import REGISTRY, Gauge, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

EVENTS = PromCounter(
    "billing_events_total",
    "Events read, by outcome (applied, duplicate, held, released, quarantined) and quarantine reason.",
    ["outcome", "reason"],
)
BATCH_SIZE = Histogram(
    "billing_batch_records",
    "Records per worker batch.",
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
)
BATCH_SECONDS = Histogram(
    "billing_batch_seconds",
    "Time to apply one batch (decode, fold, one transaction).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_FAILURES = PromCounter("billing_batch_failures_total", "Batches that failed and were retried.", ["error"])
LAG = Gauge(
    "billing_partition_lag_events",
    "Events not yet applied, per partition.",
    ["partition"],
    multiprocess_mode="mostrecent",
)
# Every gauge the worker sets per partition (labelled by it alone): a worker
# that loses a partition drops its series (forget_partitions), so they never
# report a frozen figure. billing_worker_lag_seconds (LagSeconds below) is
# computed from the owned partitions at each scrape instead.
PARTITION_GAUGES: tuple[Gauge, ...] = (LAG,)
HELD_OVERDUE = Gauge(
    "billing_held_gaps_open",
    "Held events whose gap has been open longer than the alert limit.",
    multiprocess_mode="mostrecent",
)
HELD_EVENTS = Gauge(
    "billing_held_events",
    "Events held for an earlier event of their invoice, all tenants.",
    multiprocess_mode="mostrecent",
)
HELD_MAX_TENANT_RATIO = Gauge(
    "billing_held_events_max_tenant_ratio",
    "Held events of the tenant holding the most, divided by BILLING_HELD_MAX_PER_TENANT (at 1 new ones are"
    " quarantined).",
    multiprocess_mode="mostrecent",
)

# (topic, partition) -> Kafka timestamp (ms) of the oldest record not applied
# yet, or None when everything fetched so far is applied.
OldestUnapplied = Callable[[], Mapping[tuple[str, int], int | None]]


class LagSeconds(Collector):
    """``billing_worker_lag_seconds{topic,partition}``: the age, at scrape
    time, of the oldest record of each owned partition that is not applied
    yet (0 when caught up). Computed when scraped from the timestamps the
    workers of this process keep (services/worker/lag.py), so it keeps rising
    while a worker is stuck. Partitions no worker here owns are absent."""

    NAME = "billing_worker_lag_seconds"

    def __init__(self) -> None:
        self._sources: dict[int, OldestUnapplied] = {}
        self._lock = threading.Lock()

    def add(self, source: OldestUnapplied) -> int:
        with self._lock:
            handle = max(self._sources, default=0) + 1
            self._sources[handle] = source
            return handle

    def remove(self, handle: int) -> None:
        with self._lock:
            self._sources.pop(handle, None)

    def ages(self, now_ms: float | None = None) -> dict[tuple[str, int], float]:
        """Seconds per (topic, partition); the oldest wins if two workers of
        this process report one partition (a rebalance in progress)."""
        now_ms = time.time() * 1000 if now_ms is None else now_ms
        with self._lock:
            sources = list(self._sources.values())
        ages: dict[tuple[str, int], float] = {}
        for source in sources:
            for key, oldest in dict(source()).items():
                age = 0.0 if oldest is None else max(now_ms - oldest, 0.0) / 1000
                ages[key] = max(ages.get(key, 0.0), age)
        return ages

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.NAME, self._help(), labels=["topic", "partition"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.NAME, self._help(), labels=["topic", "partition"])
        for (topic, partition), age in sorted(self.ages().items()):
            family.add_metric([topic, str(partition)], round(age, 3))
        yield family

    @staticmethod
    def _help() -> str:
        return "Seconds the oldest record not yet applied has waited (now minus its Kafka timestamp), per partition."


LAG_SECONDS = LagSeconds()
REGISTRY.register(LAG_SECONDS)


def forget_partitions(partitions: Iterable[int]) -> None:
    """Drop the per-partition gauges' series of partitions this process no
    longer owns (revoked, or the worker stopped)."""
    for partition in partitions:
        for gauge in PARTITION_GAUGES:
            # Older prometheus_client releases raise KeyError for a series never set.
            with contextlib.suppress(KeyError):
                gauge.remove(str(partition))


def count_outcomes(outcomes: Counter[tuple[str, int, str, str]]) -> None:
    for (_, _, outcome, reason), count in outcomes.items():
        EVENTS.labels(outcome, reason).inc(count)
