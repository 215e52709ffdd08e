"""Calendar-aligned periods clipped to a date range (pure, no I/O): days, ISO
weeks (Monday to Sunday), months, quarters and years, each period's first and
last day both inclusive, the first and last periods cut at the range's ends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final

import msgspec

MAX_PERIODS: Final = 400
"""The most periods one series answers: a chart's worth, bounded work."""


class Period(msgspec.Struct, frozen=True):
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _from_month_index(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


# Per interval: the index of the period holding a day (consecutive periods have
# consecutive indexes), and the first day of the period of an index.
_CALENDAR: Final[dict[str, tuple[Callable[[dt.date], int], Callable[[int], dt.date]]]] = {
    "day": (dt.date.toordinal, dt.date.fromordinal),
    "week": (lambda d: (_week_start(d).toordinal() - 1) // 7, lambda i: dt.date.fromordinal(i * 7 + 1)),
    "month": (_month_index, _from_month_index),
    "quarter": (lambda d: _month_index(d) // 3, lambda i: _from_month_index(i * 3)),
    "year": (lambda d: d.year, lambda i: dt.date(i, 1, 1)),
}
INTERVALS: Final[tuple[str, ...]] = tuple(_CALENDAR)
# Weeks are numbered from day 1 (0001-01-01), a Monday.
assert dt.date.fromordinal(1).weekday() == 0


def count(start: dt.date, end: dt.date, interval: str) -> int:
    """How many periods of ``interval`` [start, end] touches."""
    index, _ = _CALENDAR[interval]
    return index(end) - index(start) + 1


def periods(start: dt.date, end: dt.date, interval: str) -> list[Period]:
    """The periods of ``interval`` that [start, end] touches, in order, the
    first and last clipped to it."""
    index, first_day = _CALENDAR[interval]
    found = []
    for i in range(index(start), index(end) + 1):
        try:
            last = first_day(i + 1) - dt.timedelta(days=1)
        except (ValueError, OverflowError):  # the period holding 9999-12-31
            last = dt.date.max
        found.append(Period(max(first_day(i), start), min(last, end)))
    return found
