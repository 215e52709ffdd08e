"""The worker's partition tracker: which fetched records may apply, and what
seeks, revocations and commits do to it (no I/O)."""

from __future__ import annotations

import pytest

from contracts import Position
from projections.batch import Incoming
from services.worker.tracking import OffsetGap, PartitionTracker


def records(*positions: tuple[int, int]) -> list[Incoming]:
    return [Incoming(position=Position("t", p, o), key=None, value=None) for p, o in positions]


def offsets(items: list[Incoming]) -> list[tuple[int, int]]:
    return [(i.position.partition, i.position.offset) for i in items]


def tracker_at(stored: dict[int, int]) -> PartitionTracker:
    tracker = PartitionTracker()
    tracker.invalidate()
    tracker.sought(stored)
    return tracker


def test_records_before_the_stored_position_are_not_applied_again() -> None:
    tracker = tracker_at({0: 5})
    assert offsets(tracker.to_apply(records((0, 3), (0, 4), (0, 5), (0, 6)))) == [(0, 5), (0, 6)]


def test_records_of_partitions_not_owned_are_not_applied() -> None:
    tracker = tracker_at({0: 0})
    assert offsets(tracker.to_apply(records((1, 0), (0, 0), (2, 7)))) == [(0, 0)]


def test_a_batch_of_records_already_applied_leaves_nothing_to_apply() -> None:
    assert tracker_at({0: 10}).to_apply(records((0, 8), (0, 9))) == []


def test_records_beyond_a_gap_are_refused_once_then_accepted() -> None:
    tracker = tracker_at({0: 5})
    with pytest.raises(OffsetGap, match="stored position 5, first record 7"):
        tracker.to_apply(records((0, 7), (0, 8)))
    assert offsets(tracker.to_apply(records((0, 7), (0, 8)))) == [(0, 7), (0, 8)]


def test_another_gap_on_the_same_partition_is_refused_again() -> None:
    tracker = tracker_at({0: 5})
    with pytest.raises(OffsetGap):
        tracker.to_apply(records((0, 7)))
    with pytest.raises(OffsetGap):
        tracker.to_apply(records((0, 9)))


def test_a_gap_is_judged_per_partition() -> None:
    tracker = tracker_at({0: 5, 1: 2})
    with pytest.raises(OffsetGap, match="partition 1"):
        tracker.to_apply(records((0, 5), (1, 4)))


def test_applied_records_move_each_partition_past_its_last_one() -> None:
    tracker = tracker_at({0: 5, 1: 2, 2: 9})
    moved = tracker.applied(records((0, 5), (0, 6), (1, 2)))
    assert moved == {0: 7, 1: 3}
    assert tracker.expected == {0: 7, 1: 3, 2: 9}


def test_a_seek_or_a_revocation_makes_earlier_fetches_stale() -> None:
    tracker = PartitionTracker()
    fetched_under = tracker.generation
    assert tracker.is_current(fetched_under)
    tracker.invalidate()
    assert not tracker.is_current(fetched_under)
    fetched_under = tracker.generation
    tracker.revoked([0])
    assert not tracker.is_current(fetched_under)


def test_revoked_partitions_are_forgotten() -> None:
    tracker = tracker_at({0: 5, 1: 2})
    tracker.revoked([1, 3])
    assert tracker.expected == {0: 5}
    assert tracker.to_apply(records((1, 2))) == []


def test_rewinding_forgets_every_position_until_the_next_seek() -> None:
    tracker = tracker_at({0: 5, 1: 2})
    tracker.rewinding()
    assert tracker.expected == {}
    tracker.sought({0: 4})
    assert offsets(tracker.to_apply(records((0, 4), (1, 2)))) == [(0, 4)]


def test_lag_is_known_only_for_owned_partitions_with_a_known_end() -> None:
    tracker = tracker_at({0: 5})
    assert tracker.lag(0, 12) == 7
    assert tracker.lag(0, 3) == 0
    assert tracker.lag(0, None) is None
    assert tracker.lag(1, 12) is None


def test_a_new_tracker_needs_no_rewind_and_owns_nothing() -> None:
    tracker = PartitionTracker()
    assert not tracker.needs_rewind
    assert tracker.to_apply(records((0, 0))) == []
