"""The series' reads: per currency, the figures of FLOW_FIGURES as of the day
before the range and as of each period's last day, with what was past due
then (docs/figures.md#series). Two queries per request, whatever the number
of periods: the timelines' sums over the range, summed per period in SQL
(each change dated on its period's first day) and added up here, one pass
over the periods.

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
from services.api.point_in_time import aging
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


class CurrencySeries(msgspec.Struct, frozen=True):
    currency: str
    periods: list[PeriodFlows]


class Row(Protocol):
    """A query's row: its columns by position (an asyncpg record, or a tuple)."""

    def __getitem__(self, index: Any, /) -> Any: ...


Rows = dict[dt.date | None, list[int]]
"""Sums by day: a figures query's (FLOW_FIGURES), or a past-due query's (per
threshold of AGING_THRESHOLDS, its receivable count and balance)."""

_FLOW = {name: i for i, name in enumerate(FLOW_FIGURES)}
_INVOICED_COUNT, _INVOICED_GROSS, _RECEIVED = _FLOW["invoiced_count"], _FLOW["invoiced_gross"], _FLOW["received"]
_SENT_COUNT, _SENT_GROSS = _FLOW["sent_count"], _FLOW["sent_gross"]
_RECEIVABLE_COUNT, _RECEIVABLE_BALANCE = _FLOW["receivable_count"], _FLOW["receivable_balance"]
_DUE_AT = {n: len(PAST_DUE_FIGURES) * i for i, n in enumerate(AGING_THRESHOLDS)}
_NO_CHANGE: Final[list[int]] = [0] * len(FLOW_FIGURES)


def _opening(rows: Rows, width: int, before: dt.date) -> list[int]:
    """The sums as of ``before`` from rows by day: under None the current sums
    (the later changes are subtracted from them), under ``before`` the sums as
    of then (a customer's), under later days their changes; else nothing."""
    current = rows.get(None)
    if current is None:
        return list(rows.get(before, [0] * width))
    out = list(current)
    for day, sums in rows.items():
        if day is not None and day > before:
            out = [a - b for a, b in zip(out, sums, strict=True)]
    return out


def _aging(due: list[int]) -> list[tuple[int, int]]:
    """(count, balance) per aging bucket from what is at least N days past
    due, for each N of AGING_THRESHOLDS."""
    return aging([(due[i], due[i + 1]) for i in _DUE_AT.values()])


def _flows(periods: Sequence[Period], changes: Rows, late: Rows) -> tuple[list[PeriodFlows], int]:
    """A currency's periods, from its figures and its past-due sums by day
    (each change dated on its period's first day); and its invoices by the
    range's end."""
    before = periods[0].start - dt.timedelta(days=1)
    now = _opening(changes, len(FLOW_FIGURES), before)
    due = _opening(late, len(_DUE_AT) * len(PAST_DUE_FIGURES), before)
    aged = _aging(due)
    out = []
    for p in periods:
        change = changes.get(p.start, _NO_CHANGE)
        if change is not _NO_CHANGE:
            now = [a + b for a, b in zip(now, change, strict=True)]
        more_due = late.get(p.start)
        if more_due is not None:
            due = [a + b for a, b in zip(due, more_due, strict=True)]
            aged = _aging(due)  # else the previous period's, unchanged
        out.append(
            PeriodFlows(
                p,
                change[_INVOICED_COUNT],
                change[_INVOICED_GROSS],
                change[_RECEIVED],
                # Invoices that stopped being SENT without stopping being invoiced.
                change[_INVOICED_COUNT] - change[_SENT_COUNT],
                change[_INVOICED_GROSS] - change[_SENT_GROSS],
                now[_RECEIVABLE_COUNT],
                now[_RECEIVABLE_BALANCE],
                due[0],
                due[1],
                aged,
            )
        )
    return out, now[_FLOW["invoice_count"]]


def series_from(
    figure_rows: Iterable[Row], past_due_rows: Iterable[Row], periods: Sequence[Period]
) -> list[CurrencySeries]:
    """Each currency's series from the rows of a figures query (currency,
    day, FLOW_FIGURES) and of its past-due query (currency, n, day,
    PAST_DUE_FIGURES), their changes dated on their periods' first days;
    currencies without an invoice by the range's end are left out."""
    figures: dict[str, Rows] = defaultdict(dict)
    for r in figure_rows:
        figures[r[0]][r[1]] = [int(v) for v in r[2:]]
    past_due: dict[str, Rows] = defaultdict(dict)
    width = len(_DUE_AT) * len(PAST_DUE_FIGURES)
    for r in past_due_rows:
        # A currency's past-due rows by day, one slot per threshold (the
        # current sums, a null day, have every threshold or none).
        at = _DUE_AT[r[1]]
        past_due[r[0]].setdefault(r[2], [0] * width)[at : at + len(PAST_DUE_FIGURES)] = [int(v) for v in r[3:]]
    found = []
    for currency in sorted(figures):
        flows, invoices = _flows(periods, figures[currency], past_due[currency])
        if invoices:
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
