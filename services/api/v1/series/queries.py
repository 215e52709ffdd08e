"""The series' reads: per currency and period, its flows and the figures at
its close with what was past due then (docs/figures.md#series), summed by
PostgreSQL in one query per request, whatever the number of periods: the
timelines' sums over the range grouped per period (one row per currency and
period's first day), added up per currency by window sums from the figures
as of the day before the range.

- Tenant: the current sums (known at T: minus the timeline rows recorded
  after T) minus the per-day sums from the range's first day on; the days
  after the range are one row. Past due: the same over the per-threshold sums
  by first day (currency_overdue_from). A month, quarter or year series reads
  the sums per month (projections/store.py TIMELINE_SUM_TABLES) instead for the months wholly
  inside the range or after it, the per-day sums for the partial months at
  its ends only.
- Customer: its timeline rows dated up to the range's last day (recorded by
  T), those before the range as one row.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Final, NamedTuple, Protocol

import msgspec

from projections.figures import is_count
from projections.timeline import AGING_THRESHOLDS
from services.api import figures
from services.api.figures import sum_of
from services.api.rows import Connection
from services.api.v1.series.flows import FLOW_FIGURES, PAST_DUE_FIGURES, PeriodFlows
from services.api.v1.series.periods import Period

_THRESHOLDS = f"unnest(ARRAY{list(AGING_THRESHOLDS)}) AS t(n)"


def _bucket(day: str) -> str:
    """The row a change dated ``day`` (on or after $2) is summed in: the
    first day of its period, or $3 + 1 for every day after the range."""
    return f"CASE WHEN {day} > $3::date THEN $3::date + 1 ELSE {_period_start(day)} END"


def _period_start(day: str) -> str:
    """The first day of the period of ``day`` ($6: the interval; PostgreSQL's
    date_trunc has the same names, and its weeks start on Monday too; the
    first period starts at $2)."""
    return f"greatest(date_trunc($6::text, {day}::timestamp)::date, $2::date)"


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

_TENANT = "tenant_id = $1 AND ($5::text IS NULL OR currency = $5)"


def _dated(
    table: str, day: str, key: str, columns: Sequence[str], where: str, bucket: str | None = None, sign: str = ""
) -> str:
    """The rows of a table of dated sums ``where`` its ``day`` column says,
    in the row of ``bucket`` (default: of their day's period)."""
    return (
        f"SELECT currency, {key}{bucket or _bucket(day)}, {_columns(columns, sign=sign)} FROM billing_read.{table}\n"
        f"    WHERE {_TENANT} AND {where.format(day=day)}"
    )


def _by_day(table: str, day: str, key: str, columns: Sequence[str]) -> str:
    """The per-day sums from the range's first day on."""
    return _dated(table, day, key, columns, "{day} >= $2::date")


def _by_month(by_day: tuple[str, str], by_month: tuple[str, str], key: str, columns: Sequence[str]) -> str:
    """With the monthly sums ($7, $8: a MonthSplit): the months from $7 on,
    those from $8 on counted after the range; by day, the days of [$2, $7)
    and those of [$8, $3] (to's month up to to, when to is not its last day).
    The latter are also subtracted from the sums after the range, where their
    month counted them: what stays there of to's month is its days after to,
    so no future day is read by day (many for the past-due thresholds)."""
    table, month = by_month
    tail = "{day} >= $8::date AND {day} <= $3::date"
    head_and_tail = f"({{day}} >= $2::date AND {{day}} < $7::date OR {tail})"
    after = f"CASE WHEN {month} >= $8::date THEN $3::date + 1 ELSE {_period_start(month)} END"
    return "\n    UNION ALL\n    ".join(
        (
            _dated(*by_day, key, columns, head_and_tail),
            _dated(*by_day, key, columns, tail, "$3::date + 1", "-"),
            _dated(table, month, key, columns, "{day} >= $7::date", after),
        )
    )


def _tenant_query(
    columns: Sequence[str],
    key: tuple[str, str, str],
    by_day: tuple[str, str],
    by_month: tuple[str, str] | None,
    unknown: str,
) -> str:
    """The current sums, the dated sums from the range's first day on (by day
    from ``by_day`` (table, day column); with ``by_month``, the whole months
    from it), and the rows recorded after $4 subtracted, by day: null, the
    current sums; a period's first day, the changes in it; $3 + 1, every
    change after $3. ``key``: an extra key column in the totals' row, in the
    dated sums' rows and in the result (or three empty strings)."""
    totals_key, dated_key, result_key = key
    thresholds = f" CROSS JOIN {_THRESHOLDS}" if totals_key else ""
    if by_month is None:
        dated = _by_day(*by_day, dated_key, columns)
    else:
        dated = _by_month(by_day, by_month, dated_key, columns)
    return f"""
SELECT currency, {result_key}day, {_sums(columns)} FROM (
    SELECT currency, {totals_key}NULL::date, {_columns(columns)} FROM billing_read.currency_totals{thresholds}
    WHERE {_TENANT}
    UNION ALL
    {dated}
    UNION ALL{unknown}
) AS r(currency, {result_key}day, {_columns(columns)})
GROUP BY currency, {result_key}day
"""


# $1 tenant, $2 from, $3 to, $4 knownAt (or null), $5 currency (or null), $6
# interval; with the monthly sums, $7 and $8 the months (MonthSplit).
_NO_KEY = ("", "", "")
_FIGURES_UNKNOWN = _UNKNOWN.format(
    n="", negated=_columns(FLOW_FIGURES, "c.", "-"), thresholds="", bucket=_bucket("c.day"), at="c.day"
)
TENANT_FIGURES = _tenant_query(FLOW_FIGURES, _NO_KEY, ("currency_daily", "day"), None, _FIGURES_UNKNOWN)
TENANT_FIGURES_BY_MONTH = _tenant_query(
    FLOW_FIGURES, _NO_KEY, ("currency_daily", "day"), ("currency_monthly", "month"), _FIGURES_UNKNOWN
)
# The same per threshold N: the receivable at least N days past due, by the
# first day it counts so (max(day, due_date + N)), or its month.
_COUNTS_FROM = "greatest(c.day, c.due_date + t.n)"
_PAST_DUE_KEY = ("t.n, ", "days_past_due, ", "n, ")
_PAST_DUE_UNKNOWN = _UNKNOWN.format(
    n="t.n, ",
    negated=_columns(PAST_DUE_FIGURES, "c.", "-"),
    thresholds=f" CROSS JOIN {_THRESHOLDS}",
    bucket=_bucket(_COUNTS_FROM),
    at=_COUNTS_FROM,
)
TENANT_PAST_DUE = _tenant_query(
    PAST_DUE_FIGURES, _PAST_DUE_KEY, ("currency_overdue_from", "from_day"), None, _PAST_DUE_UNKNOWN
)
TENANT_PAST_DUE_BY_MONTH = _tenant_query(
    PAST_DUE_FIGURES,
    _PAST_DUE_KEY,
    ("currency_overdue_from", "from_day"),
    ("currency_overdue_monthly", "from_month"),
    _PAST_DUE_UNKNOWN,
)

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


# Each figure as of the day before the range, from rows by day grouped per
# currency: the current sums (a null day) less every change from the range's
# first day on; for a customer, its changes before the range ($2 - 1); else 0.
def _opening(column: str) -> str:
    return (
        f"coalesce(sum({column}) FILTER (WHERE day IS NULL)"
        f" - coalesce(sum({column}) FILTER (WHERE day >= $2::date), 0),"
        f" sum({column}) FILTER (WHERE day < $2::date), 0) AS {column}"
    )


# The first day of each period ($6: the interval, as _period_start names it).
_PERIODS = """SELECT greatest(s::date, $2::date) FROM generate_series(
        date_trunc($6::text, $2::timestamp), $3::timestamp,
        CASE $6::text WHEN 'quarter' THEN interval '3 months' ELSE ('1 ' || $6::text)::interval END) AS s"""

# What is at least N days past due, one column per threshold and figure.
_DUE = {n: tuple(f"due_{n}_{c.removeprefix('receivable_')}" for c in PAST_DUE_FIGURES) for n in AGING_THRESHOLDS}
_DUE_COLUMNS = tuple(c for columns in _DUE.values() for c in columns)
_CLOSING = ("invoice_count", "receivable_count", "receivable_balance")


def _running(column: str, opening: str, changes: str) -> str:
    """A figure as of the end of each period: its opening plus every change
    to then (a currency without past-due rows has no opening of them)."""
    sql = f"coalesce({opening}.{column}, 0) + sum(coalesce({changes}.{column}, 0)) OVER w"
    return f"({sql})::bigint" if is_count(column) else sql


def _aging() -> str:
    """Each aging bucket: at least its threshold past due, less at least the next one's."""
    newer = [*list(_DUE.values())[1:], None]
    return ", ".join(
        f"{older[i]} - {later[i]}" if later else older[i]
        for older, later in zip(_DUE.values(), newer, strict=True)
        for i in range(len(PAST_DUE_FIGURES))
    )


def _series_query(figures: str, past_due: str) -> str:
    """One row per currency (of the figures' rows) and period, in order: its
    flows, the figures at its close and its aging (as PeriodFlows holds them,
    then the invoices at its close), summed by PostgreSQL from the rows by day
    of a figures query and of its past-due query (as ``_opening`` reads them;
    a change is dated on its period's first day)."""
    pivot = ", ".join(
        f"sum({figure}) FILTER (WHERE n = {n}) AS {column}"
        for n, columns in _DUE.items()
        for figure, column in zip(PAST_DUE_FIGURES, columns, strict=True)
    )
    return f"""
WITH f AS ({figures}),
d AS (SELECT currency, day, {pivot} FROM ({past_due}) AS by_threshold GROUP BY currency, day),
f0 AS (SELECT currency, {", ".join(_opening(c) for c in _CLOSING)} FROM f GROUP BY currency),
d0 AS (SELECT currency, {", ".join(_opening(c) for c in _DUE_COLUMNS)} FROM d GROUP BY currency),
p(start) AS ({_PERIODS}),
closed AS (
    SELECT f0.currency, p.start,
        coalesce(f.invoiced_count, 0) AS invoiced_count, coalesce(f.invoiced_gross, 0) AS invoiced_gross,
        coalesce(f.received, 0) AS collected,
        -- Invoices that stopped being SENT without stopping being invoiced.
        coalesce(f.invoiced_count - f.sent_count, 0) AS voided_count,
        coalesce(f.invoiced_gross - f.sent_gross, 0) AS voided_gross,
        {", ".join(f"{_running(c, 'f0', 'f')} AS {c}" for c in _CLOSING)},
        {", ".join(f"{_running(c, 'd0', 'd')} AS {c}" for c in _DUE_COLUMNS)}
    FROM f0 CROSS JOIN p
    LEFT JOIN d0 ON d0.currency = f0.currency
    LEFT JOIN f ON f.currency = f0.currency AND f.day = p.start
    LEFT JOIN d ON d.currency = f0.currency AND d.day = p.start
    WINDOW w AS (PARTITION BY f0.currency ORDER BY p.start)
)
SELECT currency, start, invoiced_count, invoiced_gross, collected, voided_count, voided_gross,
    receivable_count, receivable_balance, {", ".join(_DUE[AGING_THRESHOLDS[0]])}, {_aging()}, invoice_count
FROM closed
ORDER BY currency COLLATE "C", start
"""


TENANT_SERIES = _series_query(TENANT_FIGURES, TENANT_PAST_DUE)
TENANT_SERIES_BY_MONTH = _series_query(TENANT_FIGURES_BY_MONTH, TENANT_PAST_DUE_BY_MONTH)
CUSTOMER_SERIES = _series_query(CUSTOMER_FIGURES, CUSTOMER_PAST_DUE)

# Where each aging bucket's (count, amount) is in a row of _series_query.
_AGING_AT = range(11, 11 + 2 * len(AGING_THRESHOLDS), 2)


class CurrencySeries(msgspec.Struct, frozen=True):
    currency: str
    periods: list[PeriodFlows]


class Row(Protocol):
    """A query's row: its columns by position (an asyncpg record, or a tuple)."""

    def __getitem__(self, index: int, /) -> Any: ...


def series_from(rows: Iterable[Row], periods: Sequence[Period]) -> list[CurrencySeries]:
    """Each currency's series from the rows of a series query; currencies
    without an invoice by the range's end are left out."""
    by_currency: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_currency[r[0]].append(r)
    found = []
    for currency, mine in by_currency.items():
        if not mine[-1][-1]:  # invoice_count: no invoice of it by the range's end
            continue
        flows = [
            PeriodFlows(
                p,
                r[2],
                int(r[3]),
                int(r[4]),
                r[5],
                int(r[6]),
                r[7],
                int(r[8]),
                r[9],
                int(r[10]),
                [(r[i], int(r[i + 1])) for i in _AGING_AT],
            )
            for p, r in zip(periods, mine, strict=True)
        ]
        found.append(CurrencySeries(currency, flows))
    return found


BY_MONTH: Final = frozenset({"month", "quarter", "year"})
"""The intervals whose periods are whole months but at the range's ends."""


class MonthSplit(NamedTuple):
    """Where a range's dated sums are read by month ($7, $8 of the queries):
    from ``whole_from`` (the first 1st from the range's first day on), by day
    before it; from ``after_from`` on the months count after the range, but
    the days of [``after_from``, the range's last day] read by day too (the
    month of its last day when that is not the month's last)."""

    whole_from: dt.date
    after_from: dt.date


def month_split(first: dt.date, last: dt.date) -> MonthSplit | None:
    """The split of [first, last]; None when its months reach the calendar's
    end (the per-day sums answer)."""
    try:
        whole_from = first if first.day == 1 else _next_month(first)
        # A range within one month that starts after its 1st is all read by day.
        return MonthSplit(whole_from, max((last + dt.timedelta(days=1)).replace(day=1), whole_from))
    except (ValueError, OverflowError):
        return None


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


async def tenant_series(
    conn: Connection,
    tenant_id: str,
    periods: Sequence[Period],
    interval: str,
    known_at: dt.datetime | None,
    currency: str | None,
    by_month: bool = True,
) -> list[CurrencySeries]:
    """``by_month``: read the monthly sums for an interval of whole months (off:
    the per-day sums only, which give the same answer)."""
    args: tuple[object, ...] = (tenant_id, periods[0].start, periods[-1].end, known_at, currency, interval)
    split = month_split(periods[0].start, periods[-1].end) if by_month and interval in BY_MONTH else None
    if split is None:
        return series_from(await conn.fetch(TENANT_SERIES, *args), periods)
    return series_from(await conn.fetch(TENANT_SERIES_BY_MONTH, *args, *split), periods)


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
    records = await conn.fetch(CUSTOMER_SERIES, *args)
    if not records and not await figures.customer_exists(conn, tenant_id, customer_id):
        return None
    return series_from(records, periods)
