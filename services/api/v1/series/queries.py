"""The series' reads: per currency, the figures of FLOW_FIGURES as of the day
before the range and as of each period's last day, with what was past due
then (docs/figures.md#series). Two queries per request, whatever the number
of periods: the timelines' sums over the range, summed per period in SQL and
added up here.

- Tenant: the current sums (known at T: minus the timeline rows recorded
  after T) minus the per-day sums from the range's first day on; the days
  after the range are one row. Past due: the same over the per-threshold sums
  by first day (currency_overdue_from).
- Customer: its timeline rows dated up to the range's last day (recorded by
  T), those before the range as one row.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import msgspec

from projections.timeline import AGING_THRESHOLDS
from services.api import figures
from services.api.figures import sum_of
from services.api.rows import Connection
from services.api.v1.series.flows import FLOW_FIGURES, PAST_DUE_FIGURES, PeriodFlows, Sums, flows, minus, running
from services.api.v1.series.periods import Period

_THRESHOLDS = f"unnest(ARRAY{list(AGING_THRESHOLDS)}) AS t(n)"


def _bucket(day: str) -> str:
    """The row a change dated ``day`` (on or after $2) is summed in: the
    first day of its period ($6: the interval; PostgreSQL's date_trunc has
    the same names, and its weeks start on Monday too; the first period
    starts at $2), or $3 + 1 for every day after the range."""
    return (
        f"CASE WHEN {day} > $3::date THEN $3::date + 1"
        f" ELSE greatest(date_trunc($6::text, {day}::timestamp)::date, $2::date) END"
    )


def _sums(columns: Sequence[str]) -> str:
    return ", ".join(sum_of(c) for c in columns)


def _columns(columns: Sequence[str], prefix: str = "", sign: str = "") -> str:
    return ", ".join(f"{sign}{prefix}{c}" for c in columns)


# Rows recorded after $4, subtracted: from the current sums (a null day) and,
# dated from $2 on, from the changes of their period ({at}: the day they
# count from).
_UNKNOWN = """
    SELECT c.currency, {n}d.at, {negated} FROM billing_read.invoice_changes c{thresholds}
    CROSS JOIN LATERAL (SELECT NULL::date UNION ALL SELECT {bucket} WHERE {at} >= $2::date) AS d(at)
    WHERE c.tenant_id = $1 AND ($5::text IS NULL OR c.currency = $5) AND c.recorded_at > $4::timestamptz"""

# $1 tenant, $2 from, $3 to, $4 knownAt (or null), $5 currency (or null), $6
# interval. Rows by day: null, the current sums; a period's first day, the
# changes in it; $3 + 1, every change after $3.
TENANT_FIGURES = f"""
SELECT currency, day, {_sums(FLOW_FIGURES)} FROM (
    SELECT currency, NULL::date, {_columns(FLOW_FIGURES)} FROM billing_read.currency_totals
    WHERE tenant_id = $1 AND ($5::text IS NULL OR currency = $5)
    UNION ALL
    SELECT currency, {_bucket("day")}, {_columns(FLOW_FIGURES)} FROM billing_read.currency_daily
    WHERE tenant_id = $1 AND ($5::text IS NULL OR currency = $5) AND day >= $2::date
    UNION ALL{
    _UNKNOWN.format(n="", negated=_columns(FLOW_FIGURES, "c.", "-"), thresholds="", bucket=_bucket("c.day"), at="c.day")
}
) AS r(currency, day, {_columns(FLOW_FIGURES)})
GROUP BY currency, day
"""
# The same per threshold N: the receivable at least N days past due, by the
# first day it counts so (max(day, due_date + N)).
_COUNTS_FROM = "greatest(c.day, c.due_date + t.n)"
TENANT_PAST_DUE = f"""
SELECT currency, n, day, {_sums(PAST_DUE_FIGURES)} FROM (
    SELECT currency, t.n, NULL::date, {_columns(PAST_DUE_FIGURES)}
    FROM billing_read.currency_totals CROSS JOIN {_THRESHOLDS}
    WHERE tenant_id = $1 AND ($5::text IS NULL OR currency = $5)
    UNION ALL
    SELECT currency, days_past_due, {_bucket("from_day")}, {_columns(PAST_DUE_FIGURES)}
    FROM billing_read.currency_overdue_from
    WHERE tenant_id = $1 AND ($5::text IS NULL OR currency = $5) AND from_day >= $2::date
    UNION ALL{
    _UNKNOWN.format(
        n="t.n, ",
        negated=_columns(PAST_DUE_FIGURES, "c.", "-"),
        thresholds=f" CROSS JOIN {_THRESHOLDS}",
        bucket=_bucket(_COUNTS_FROM),
        at=_COUNTS_FROM,
    )
}
) AS r(currency, n, day, {_columns(PAST_DUE_FIGURES)})
GROUP BY currency, n, day
"""

# $1-$6 as above, $7 customer. Rows by day: $2 - 1, every change up to then;
# a period's first day, the changes in it.
_CUSTOMER_ROWS = """FROM billing_read.invoice_changes c{thresholds}
WHERE c.tenant_id = $1 AND c.customer_id = $7 AND ($5::text IS NULL OR c.currency = $5)
  AND {at} <= $3::date AND ($4::timestamptz IS NULL OR c.recorded_at <= $4::timestamptz)"""


def _customer_bucket(day: str) -> str:
    return f"CASE WHEN {day} < $2::date THEN $2::date - 1 ELSE {_bucket(day)} END"


CUSTOMER_FIGURES = f"""
SELECT c.currency, {_customer_bucket("c.day")} AS day, {_sums(FLOW_FIGURES)}
{_CUSTOMER_ROWS.format(thresholds="", at="c.day")}
GROUP BY 1, 2
"""
CUSTOMER_PAST_DUE = f"""
SELECT c.currency, t.n, {_customer_bucket(_COUNTS_FROM)} AS day, {_sums(PAST_DUE_FIGURES)}
{_CUSTOMER_ROWS.format(thresholds=f" CROSS JOIN {_THRESHOLDS}", at=_COUNTS_FROM)}
GROUP BY 1, 2, 3
"""


class CurrencySeries(msgspec.Struct, frozen=True):
    currency: str
    periods: list[PeriodFlows]


class Row(Protocol):
    """A query's row: its columns by name (an asyncpg record, or a dict)."""

    def __getitem__(self, column: str, /) -> Any: ...


Rows = dict[dt.date | None, Sums]


def _as_of_each(rows: Rows, width: int, before: dt.date, ends: Sequence[dt.date]) -> tuple[Sums, list[Sums]]:
    """The sums as of ``before`` and as of each of ``ends`` from rows by day:
    under None the current sums (the later changes are subtracted from them),
    under ``before`` the sums as of then, under later days their changes."""
    changes = {day: sums for day, sums in rows.items() if day is not None and day > before}
    current = rows.get(None)
    start = rows.get(before, (0,) * width)
    if current is not None:
        later = tuple(map(sum, zip(*changes.values(), strict=True)))
        start = minus(current, later) if later else current
    return start, running(start, changes, ends)


def series_from(
    figure_rows: Iterable[Row], past_due_rows: Iterable[Row], periods: Sequence[Period]
) -> list[CurrencySeries]:
    """Each currency's series from the rows of a figures query and of its
    past-due query, by day as ``_as_of_each`` takes them (a change may be
    dated on any day of its period); currencies without an invoice by the
    range's end are left out."""
    by_currency: dict[str, Rows] = defaultdict(dict)
    for r in figure_rows:
        by_currency[r["currency"]][r["day"]] = tuple(int(r[c]) for c in FLOW_FIGURES)
    past_due: dict[str, dict[int, Rows]] = defaultdict(lambda: defaultdict(dict))
    for r in past_due_rows:
        past_due[r["currency"]][r["n"]][r["day"]] = (int(r["receivable_count"]), int(r["receivable_balance"]))
    before = periods[0].start - dt.timedelta(days=1)
    ends = [p.end for p in periods]
    found = []
    for currency in sorted(by_currency):
        start, at_ends = _as_of_each(by_currency[currency], len(FLOW_FIGURES), before, ends)
        if at_ends[-1][0] == 0:  # invoice_count: no invoice of it by the range's end
            continue
        thresholds = past_due[currency]
        at_least = [
            _as_of_each(thresholds[n], len(PAST_DUE_FIGURES), before, ends)[1]
            if n in thresholds
            else [(0, 0)] * len(ends)
            for n in AGING_THRESHOLDS
        ]
        late = [[sums[i] for sums in at_least] for i in range(len(ends))]
        found.append(CurrencySeries(currency, flows(periods, start, at_ends, late)))
    return found


async def tenant_series(
    conn: Connection,
    tenant_id: str,
    periods: Sequence[Period],
    interval: str,
    known_at: dt.datetime | None,
    currency: str | None,
) -> list[CurrencySeries]:
    args = (tenant_id, periods[0].start, periods[-1].end, known_at, currency, interval)
    return series_from(await conn.fetch(TENANT_FIGURES, *args), await conn.fetch(TENANT_PAST_DUE, *args), periods)


async def customer_series(
    conn: Connection,
    tenant_id: str,
    customer_id: str,
    periods: Sequence[Period],
    interval: str,
    known_at: dt.datetime | None,
    currency: str | None,
) -> list[CurrencySeries] | None:
    """None when the tenant has no invoice for the customer (then or now)."""
    args = (tenant_id, periods[0].start, periods[-1].end, known_at, currency, interval, customer_id)
    records = await conn.fetch(CUSTOMER_FIGURES, *args)
    if not records and not await figures.customer_exists(conn, tenant_id, customer_id):
        return None
    return series_from(records, await conn.fetch(CUSTOMER_PAST_DUE, *args), periods)
