"""A month, quarter or year series read from the monthly sums answers exactly
as from the per-day sums: on generated histories projected by the real
projector (the monthly sums added per batch), for random ranges, currencies
and knownAt (services/api/v1/series/queries.py, projections/store.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import InvoiceEvent
from projections import versions
from projections.verify import verify_timeline_sums
from services.api.v1.series.periods import periods
from services.api.v1.series.queries import BY_MONTH, MonthSplit, month_split, tenant_series
from tests.projected import project
from tests.services.api.test_series_properties import START, batches

D = dt.date.fromisoformat


@pytest.mark.parametrize(
    ("first", "last", "split"),
    [
        # Whole months: none read by day.
        ("2026-01-01", "2026-12-31", ("2026-01-01", "2027-01-01")),
        # Partial at both ends: January from the 15th by day; December's
        # month after the range, its days up to the 10th by day too.
        ("2026-01-15", "2026-12-10", ("2026-02-01", "2026-12-01")),
        # Within one month from after its 1st: all of it by day.
        ("2026-03-05", "2026-03-20", ("2026-04-01", "2026-04-01")),
        ("2026-03-05", "2026-03-31", ("2026-04-01", "2026-04-01")),
        ("2026-03-01", "2026-03-20", ("2026-03-01", "2026-03-01")),
    ],
)
def test_a_range_is_read_by_month_but_its_partial_months(first: str, last: str, split: tuple[str, ...]) -> None:
    assert month_split(D(first), D(last)) == MonthSplit(*map(D, split))


def test_a_range_in_the_calendars_last_month_is_read_by_day() -> None:
    assert month_split(dt.date(9999, 12, 2), dt.date.max) is None


def retenanted(events: list[InvoiceEvent], tenant: str) -> list[InvoiceEvent]:
    return [msgspec.structs.replace(e, tenantid=tenant) for e in events]


Range = tuple[int, int, str, str | None, int]


async def check(url: str, delivered: list[list[InvoiceEvent]], ranges: list[Range]) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(url)
    try:
        schema = (await versions.active(conn)).schema_name
        moments: list[dt.datetime | None] = [None]
        for index, batch in enumerate(delivered):
            await project(conn, retenanted(batch, tenant), partition=index % 2)
            moments.append(await conn.fetchval("SELECT clock_timestamp()"))
        assert await verify_timeline_sums(conn, schema) == []
        for first, length, interval, currency, moment in ranges:
            start = START + dt.timedelta(days=first)
            spans = periods(start, start + dt.timedelta(days=length), interval)
            known_at = moments[moment % len(moments)]
            by_month = await tenant_series(conn, tenant, spans, interval, known_at, currency, by_month=True)
            by_day = await tenant_series(conn, tenant, spans, interval, known_at, currency, by_month=False)
            assert by_month == by_day, (start, spans[-1].end, interval, currency, known_at)
    finally:
        await conn.close()


@pytest.mark.integration
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    delivered=batches(),
    ranges=st.lists(
        st.tuples(
            st.integers(-40, 200),
            st.integers(0, 420),
            st.sampled_from(sorted(BY_MONTH)),
            st.sampled_from((None, "EUR", "JPY")),
            st.integers(0, 4),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_the_monthly_sums_answer_as_the_per_day_sums(
    database_url: str, delivered: list[list[InvoiceEvent]], ranges: list[Range]
) -> None:
    asyncio.run(check(database_url, delivered, ranges))
