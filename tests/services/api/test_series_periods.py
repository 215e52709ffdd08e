"""The series' calendar: periods aligned to days, ISO weeks, months,
quarters and years, clipped to the range, counted before they are made."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api.v1.series.periods import INTERVALS, MAX_PERIODS, Period, count, periods


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def spans(start: str, end: str, interval: str) -> list[tuple[str, str]]:
    return [(p.start.isoformat(), p.end.isoformat()) for p in periods(d(start), d(end), interval)]


def test_iso_weeks_run_monday_to_sunday_across_a_year_end() -> None:
    # 2026-01-01 is a Thursday; its ISO week began on Monday 2025-12-29.
    assert spans("2025-12-31", "2026-01-19", "week") == [
        ("2025-12-31", "2026-01-04"),
        ("2026-01-05", "2026-01-11"),
        ("2026-01-12", "2026-01-18"),
        ("2026-01-19", "2026-01-19"),
    ]


def test_months_end_on_their_last_day_leap_february_included() -> None:
    assert spans("2028-01-15", "2028-03-31", "month") == [
        ("2028-01-15", "2028-01-31"),
        ("2028-02-01", "2028-02-29"),
        ("2028-03-01", "2028-03-31"),
    ]


def test_quarters_and_years_are_calendar_aligned_and_clipped() -> None:
    assert spans("2026-02-10", "2026-11-05", "quarter") == [
        ("2026-02-10", "2026-03-31"),
        ("2026-04-01", "2026-06-30"),
        ("2026-07-01", "2026-09-30"),
        ("2026-10-01", "2026-11-05"),
    ]
    assert spans("2025-06-30", "2027-01-01", "year") == [
        ("2025-06-30", "2025-12-31"),
        ("2026-01-01", "2026-12-31"),
        ("2027-01-01", "2027-01-01"),
    ]


def test_one_day_is_one_period_of_any_interval() -> None:
    for interval in INTERVALS:
        assert spans("2026-05-17", "2026-05-17", interval) == [("2026-05-17", "2026-05-17")]
        assert count(d("2026-05-17"), d("2026-05-17"), interval) == 1


def test_the_calendars_ends_are_reachable() -> None:
    assert spans("9999-12-20", "9999-12-31", "week")[-1] == ("9999-12-27", "9999-12-31")
    assert spans("9999-11-20", "9999-12-31", "quarter") == [("9999-11-20", "9999-12-31")]
    assert spans("0001-01-02", "0001-01-09", "week") == [("0001-01-02", "0001-01-07"), ("0001-01-08", "0001-01-09")]


@pytest.mark.parametrize(
    ("start", "end", "interval", "expected"),
    [
        ("2026-01-01", "2027-02-04", "day", MAX_PERIODS),
        ("2026-01-01", "2027-02-05", "day", MAX_PERIODS + 1),
        ("2026-01-04", "2026-01-05", "week", 2),  # Sunday, then Monday
        ("2000-01-01", "2033-04-30", "month", MAX_PERIODS),
        ("2000-01-01", "2033-05-01", "month", MAX_PERIODS + 1),
        ("1900-12-31", "2000-01-01", "quarter", 398),
        ("1626-01-01", "2025-12-31", "year", MAX_PERIODS),
    ],
)
def test_periods_are_counted_without_making_them(start: str, end: str, interval: str, expected: int) -> None:
    assert count(d(start), d(end), interval) == expected


dates = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))


@given(dates, st.integers(0, 800), st.sampled_from(INTERVALS))
def test_periods_tile_the_range_and_each_lies_in_one_calendar_period(
    start: dt.date, length: int, interval: str
) -> None:
    end = start + dt.timedelta(days=length)
    found = periods(start, end, interval)
    assert len(found) == count(start, end, interval)
    assert found[0].start == start and found[-1].end == end
    for before, after in zip(found, found[1:], strict=False):
        assert after.start == before.end + dt.timedelta(days=1)
    for p in found:
        assert p.start <= p.end
        assert same_period(p, interval)
    # Only the first and the last are clipped: the others are whole.
    for p in found[1:-1]:
        assert periods(p.start - dt.timedelta(days=1), p.end + dt.timedelta(days=1), interval)[1] == p


def same_period(p: Period, interval: str) -> bool:
    first, last = p.start, p.end
    match interval:
        case "day":
            return first == last
        case "week":
            return first.isocalendar()[:2] == last.isocalendar()[:2]
        case "month":
            return (first.year, first.month) == (last.year, last.month)
        case "quarter":
            return (first.year, (first.month - 1) // 3) == (last.year, (last.month - 1) // 3)
        case _:
            return first.year == last.year
