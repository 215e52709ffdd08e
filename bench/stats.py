"""Small statistics for the benchmark figures (pure, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import msgspec


def percentile(values: Iterable[float], share: float) -> float:
    """The ``share`` (0-100) percentile, linearly interpolated between the
    closest ranks (numpy's default), so p50 of an even count is the mean of
    the middle two. Raises ValueError on no values."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= share <= 100:
        raise ValueError(f"percentile share must be within 0..100, not {share}")
    rank = (len(ordered) - 1) * share / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Iterable[float]) -> float:
    return percentile(values, 50)


class Figure(msgspec.Struct, frozen=True):
    """One measured quantity: every run's value and their median (the value
    the report shows)."""

    name: str
    unit: str
    runs: tuple[float, ...]
    median: float

    @property
    def count(self) -> int:
        return len(self.runs)


def figure(name: str, unit: str, runs: Sequence[float]) -> Figure:
    return Figure(name=name, unit=unit, runs=tuple(runs), median=median(runs))


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, None when the denominator is not positive (a
    comparison that could not be measured)."""
    return numerator / denominator if denominator > 0 else None


def rate_between(samples: Sequence[tuple[float, int]], total: int, start_share: float = 0.05) -> float | None:
    """Events per second from ``(time, events done)`` observations: from the
    first observation with at least ``start_share`` of ``total`` done to the
    first with all of it done. Leaving out the start excludes process start-up
    and the consumer group's first rebalance, the same way for every run.
    None if the end was never observed or the window is empty."""
    threshold = total * start_share
    start = next(((t, n) for t, n in samples if n >= threshold), None)
    end = next(((t, n) for t, n in samples if n >= total), None)
    if start is None or end is None or end[0] <= start[0]:
        return None
    return (end[1] - start[1]) / (end[0] - start[0])
