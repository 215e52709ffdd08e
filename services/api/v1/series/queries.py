"""The series' reads: per currency, the figures of FLOW_FIGURES as of the day
before the range and as of each period's last day, with what was past due
then (docs/figures.md#series). Two queries per request, whatever the number
of periods: the timelines' sums over the range, summed per period in SQL and
added up here.

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

from projections.timeline import AGING_THRESHOLDS
from services.api import figures
from services.api.figures import sum_of
from services.api.rows import Connection
from services.api.v1.series.flows import FLOW_FIGURES, PAST_DUE_FIGURES, PeriodFlows, Sums, flows, minus, running
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
        queries = (TENANT_FIGURES, TENANT_PAST_DUE)
    else:
        queries, args = (TENANT_FIGURES_BY_MONTH, TENANT_PAST_DUE_BY_MONTH), (*args, *split)
    return series_from(await conn.fetch(queries[0], *args), await conn.fetch(queries[1], *args), periods)


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
