"""The worker's per-partition metrics follow the partitions it owns: a revoked
partition's series leave at once, so a lag alert clears after a rebalance
instead of reporting the last figure for ever (no I/O: the Kafka client is
never started)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from services import metrics
from services.settings import Settings
from services.worker.consumer import Worker, _Rebalance

TOPIC = "invoice-events-metrics-test"
LAG_METRICS = ("billing_partition_lag_events", "billing_worker_lag_seconds")


class _Consumer:
    """What _record_lag reads of the consumer: its assignment and high watermarks."""

    def __init__(self, ends: dict[int, int]) -> None:
        self.ends = ends

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC, p) for p in self.ends}

    def highwater(self, tp: TopicPartition) -> int:
        return self.ends[tp.partition]


def lag_series() -> dict[str, set[str]]:
    """The partitions each lag metric reports, as the registry exports them."""
    found: dict[str, set[str]] = {name: set() for name in LAG_METRICS}
    for family in REGISTRY.collect():
        if family.name in found:
            for sample in family.samples:
                topic = sample.labels.get("topic")
                if topic in (None, TOPIC):
                    found[family.name].add(sample.labels["partition"])
    return found


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    # The Kafka clients need a running event loop to be made, not to be used.
    worker = Worker(Settings.from_env({}, topic=TOPIC))
    handle = metrics.LAG_SECONDS.add(worker.record_times.snapshot)
    now = int(time.time() * 1000)
    worker.tracker.sought({0: 10, 1: 20, 2: 30})
    for partition, position in worker.tracker.expected.items():
        worker.record_times.fetched(partition, (position, now - 5_000), (position + 9, now), position)
    worker.consumer = _Consumer({0: 15, 1: 40, 2: 30})
    worker._record_lag()
    yield worker
    metrics.LAG_SECONDS.remove(handle)
    metrics.forget_partitions(range(3))


async def test_an_owned_partition_reports_its_lag_in_events_and_seconds(worker: Worker) -> None:
    assert lag_series() == {name: {"0", "1", "2"} for name in LAG_METRICS}


async def test_a_revoked_partition_leaves_every_lag_metric(worker: Worker) -> None:
    await _Rebalance(worker).on_partitions_revoked([TopicPartition(TOPIC, 1)])
    assert lag_series() == {name: {"0", "2"} for name in LAG_METRICS}
    # Nothing sets it again while the partition is another worker's, even
    # though the consumer may still list it until the rebalance completes.
    worker._record_lag()
    assert lag_series() == {name: {"0", "2"} for name in LAG_METRICS}


async def test_a_partition_assigned_again_reports_again(worker: Worker) -> None:
    await _Rebalance(worker).on_partitions_revoked([TopicPartition(TOPIC, 1), TopicPartition(TOPIC, 2)])
    worker.tracker.sought({1: 40})
    worker._record_lag()
    assert lag_series()["billing_partition_lag_events"] == {"0", "1"}


def test_forgetting_a_partition_never_set_is_harmless() -> None:
    metrics.forget_partitions([987_654])
