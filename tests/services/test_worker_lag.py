"""Lag in seconds (services/worker/lag.py, billing_worker_lag_seconds): the
age of the oldest record not applied yet, from fetched records' timestamps,
computed at scrape time (no I/O)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from services.metrics import LagSeconds
from services.worker.lag import RecordTimes

T = 1_700_000_000_000  # a record timestamp (ms)


def ages(times: RecordTimes, now_ms: float) -> dict[int, float]:
    collector = LagSeconds()
    collector.add(times.snapshot)
    return {partition: age for (_, partition), age in collector.ages(now_ms).items()}


def test_a_fetched_batch_not_yet_applied_ages_from_its_first_record() -> None:
    times = RecordTimes("events")
    times.fetched(0, (10, T), (19, T + 900), position=10)
    assert ages(times, T + 5_000) == {0: 5.0}
    # Still not applied later (a stuck worker): the age keeps rising.
    assert ages(times, T + 65_000) == {0: 65.0}


def test_a_caught_up_partition_has_no_lag() -> None:
    times = RecordTimes("events")
    times.fetched(0, (10, T), (19, T + 900), position=10)
    times.applied(0, 20, end_offset=20)
    assert ages(times, T + 60_000) == {0: 0.0}


def test_after_a_batch_the_next_fetched_chunk_gives_the_oldest_unapplied_record() -> None:
    times = RecordTimes("events")
    times.fetched(0, (10, T), (19, T + 900), position=10)
    # Fetched while the first batch was applying (the pipeline): starts at 20.
    times.fetched(0, (20, T + 1_000), (29, T + 1_900), position=10)
    times.applied(0, 20, end_offset=50)
    assert ages(times, T + 3_000) == {0: 2.0}


def test_before_the_next_chunk_arrives_the_last_applied_record_stands_in() -> None:
    times = RecordTimes("events")
    times.fetched(0, (10, T), (19, T + 900), position=10)
    times.applied(0, 20, end_offset=50)
    # The record at 20 was appended no earlier than the one at 19: an upper bound.
    assert ages(times, T + 3_000) == {0: 2.1}


def test_new_records_after_an_idle_spell_age_from_their_own_timestamp() -> None:
    times = RecordTimes("events")
    times.caught_up(0, 20, end_offset=20)
    assert ages(times, T) == {0: 0.0}
    times.fetched(0, (20, T + 3_600_000), (20, T + 3_600_000), position=20)
    assert ages(times, T + 3_600_500) == {0: 0.5}


def test_revoked_partitions_leave_the_metric_and_unknown_ones_are_absent() -> None:
    times = RecordTimes("events")
    times.fetched(0, (0, T), (4, T), position=0)
    times.fetched(1, (0, T), (4, T), position=0)
    times.revoked([1])
    assert set(ages(times, T)) == {0}
    assert ages(RecordTimes("events"), T) == {}


def test_chunks_are_forgotten_once_applied() -> None:
    times = RecordTimes("events")
    for start in range(0, 1000, 10):
        times.fetched(0, (start, T + start), (start + 9, T + start + 9), position=start)
        times.applied(0, start + 10, end_offset=2000)
    assert len(times._firsts[0]) == 0 and len(times._lasts[0]) == 1


def test_the_metric_is_labelled_by_topic_and_partition() -> None:
    times = RecordTimes("invoice-events")
    times.fetched(3, (7, T), (7, T), position=7)
    registry = CollectorRegistry()
    collector = LagSeconds()
    collector.add(times.snapshot)
    registry.register(collector)
    text = generate_latest(registry).decode()
    assert "# TYPE billing_worker_lag_seconds gauge" in text
    assert 'billing_worker_lag_seconds{partition="3",topic="invoice-events"}' in text


def test_two_workers_in_one_process_report_the_older_age_of_a_shared_partition() -> None:
    first, second = RecordTimes("events"), RecordTimes("events")
    first.fetched(0, (0, T), (0, T), position=0)
    second.fetched(0, (0, T + 1_000), (0, T + 1_000), position=0)
    collector = LagSeconds()
    handles = [collector.add(first.snapshot), collector.add(second.snapshot)]
    assert collector.ages(T + 2_000) == {("events", 0): 2.0}
    collector.remove(handles[0])
    assert collector.ages(T + 2_000) == {("events", 0): 1.0}
