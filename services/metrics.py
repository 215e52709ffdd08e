"""Prometheus metrics of the worker and the API (one registry per process)."""

from __future__ import annotations

from collections import Counter

from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge, Histogram

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
LAG = Gauge("billing_partition_lag_events", "Events not yet applied, per partition.", ["partition"])
HELD_OVERDUE = Gauge("billing_held_gaps_open", "Held events whose gap has been open longer than the alert limit.")


def count_outcomes(outcomes: Counter[tuple[str, int, str, str]]) -> None:
    for (_, _, outcome, reason), count in outcomes.items():
        EVENTS.labels(outcome, reason).inc(count)
