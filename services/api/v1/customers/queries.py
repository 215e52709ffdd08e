"""The collections view's reads: one keyset page of customers' standing.

Three sources give the same columns (docs/figures.md#customers):
- the standing rows (projections/standing.py), when the figures are the
  current ones and no row of the tenant is stale: one index scan per page;
- the same figures recomputed at request time from the current sums, when
  some row is stale (a day roll not done yet): exact, slower;
- the timelines as of a past or given date (``asOf``): each customer's
  invoice changes up to that day summed, payments up to its end.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec

from projections.standing import COMPUTED
from services.api.paging import Cursor, encode_cursor
from services.api.rows import Connection, all_typed

COLUMNS = (
    "customer_id, customer_name, currency, invoice_count, revenue, receivable_count, receivable_balance,"
    " overdue_count, overdue_balance, oldest_due_date, last_paid_at"
)
# Sources: every customer row of tenant $1, overdue as of day $2 (which the
# rows are valid for, ROWS_VALID).
INDEXED = f"SELECT tenant_id, {COLUMNS}, $2::date AS day FROM billing_read.customer_standing"
RECOMPUTED = (
    COMPUTED.replace("{schema}", "billing_read")
    .replace("{day}", "$2::date")
    .replace(
        "{keys}", "SELECT tenant_id, currency, customer_id FROM billing_read.customer_standing WHERE tenant_id = $1"
    )
)
AS_OF = """
WITH dues AS (
    SELECT tenant_id, currency, customer_id, due_date, sum(invoice_count) AS invoices, sum(sent_gross) AS revenue,
           sum(receivable_count) AS n, sum(receivable_balance) AS balance
    FROM billing_read.invoice_changes WHERE tenant_id = $1 AND day <= $2::date
    GROUP BY 1, 2, 3, 4
),
figures AS (
    SELECT tenant_id, currency, customer_id, sum(invoices) AS invoice_count, sum(revenue) AS revenue,
           sum(n) AS receivable_count, sum(balance) AS receivable_balance,
           coalesce(sum(n) FILTER (WHERE due_date < $2::date), 0) AS overdue_count,
           coalesce(sum(balance) FILTER (WHERE due_date < $2::date), 0) AS overdue_balance,
           coalesce(min(due_date) FILTER (WHERE due_date < $2::date AND n <> 0), 'infinity') AS oldest_due_date
    FROM dues GROUP BY 1, 2, 3 HAVING sum(invoices) <> 0
),
paid AS (
    SELECT currency, customer_id, max(paid_at) AS last_paid_at FROM billing_read.payments
    WHERE tenant_id = $1 AND paid_at < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY 1, 2
)
SELECT f.tenant_id, f.customer_id, s.customer_name, f.currency, f.invoice_count, f.revenue, f.receivable_count,
       f.receivable_balance, f.overdue_count, f.overdue_balance, f.oldest_due_date, p.last_paid_at
FROM figures f
LEFT JOIN paid p USING (currency, customer_id)
LEFT JOIN billing_read.customer_standing s USING (tenant_id, currency, customer_id)
"""
# Whether the rows can answer for day $2: none stale by then, none computed
# for a later day (a worker's clock ahead of ours).
ROWS_VALID = """
SELECT NOT EXISTS (SELECT 1 FROM billing_read.customer_standing WHERE stale_from <= $2 AND tenant_id = $1{currency})
   AND NOT EXISTS (SELECT 1 FROM billing_read.customer_standing WHERE as_of_day > $2 AND tenant_id = $1{currency})
"""
PAGE = "WITH c AS ({source})\nSELECT {columns} FROM c WHERE tenant_id = $1{where}\nORDER BY {order}\nLIMIT {limit}"
COUNT = "WITH c AS ({source})\nSELECT count(*) FROM c WHERE tenant_id = $1{where}"


class SortKey(NamedTuple):
    column: str
    type: Any  # its Python type in a cursor
    sql_type: str
    # Shown in the other direction than stored (days past due rank by the
    # oldest due date, reversed).
    reversed: bool = False
    amount: bool = False  # an amount: never ranked across currencies


SORTS: dict[str, SortKey | None] = {
    "overdueBalance": SortKey("overdue_balance", int, "numeric", amount=True),
    "receivableBalance": SortKey("receivable_balance", int, "numeric", amount=True),
    "revenue": SortKey("revenue", int, "numeric", amount=True),
    "oldestDaysPastDue": SortKey("oldest_due_date", dt.date, "date", reversed=True),
    "invoiceCount": SortKey("invoice_count", int, "bigint"),
    "customerId": None,  # customer id, then currency: nothing before them
}
# Every sort ends with the customer id and the currency: a total order.
_TIES = (SortKey("customer_id", str, "text"), SortKey("currency", str, "text"))


def sort_keys(sort_by: str) -> tuple[SortKey, ...]:
    first = SORTS[sort_by]
    return _TIES if first is None else (first, *_TIES)


class Standing(msgspec.Struct, frozen=True):
    customer_id: str
    customer_name: str | None
    currency: str
    invoice_count: int
    revenue: int
    receivable_count: int
    receivable_balance: int
    overdue_count: int
    overdue_balance: int
    oldest_due_date: dt.date  # of the overdue invoices; date.max when none is overdue
    last_paid_at: dt.datetime | None


class Query(msgspec.Struct, frozen=True):
    tenant_id: str
    day: dt.date
    # True: the figures as of ``day`` by the events' own dates (timelines);
    # False: the current figures with overdue as of ``day``.
    as_of: bool
    currency: str | None
    has_overdue: bool | None
    sort_by: str
    sort_order: str
    limit: int
    after: Cursor | None = None
    before: Cursor | None = None


class StandingPage(msgspec.Struct, frozen=True):
    items: list[Standing]
    after: str | None
    before: str | None
    total: int


class _Sql:
    """A statement's arguments: tenant ($1) and day ($2), then those added."""

    def __init__(self, q: Query) -> None:
        self.args: list[Any] = [q.tenant_id, q.day]

    def param(self, value: Any, sql_type: str) -> str:
        self.args.append(Decimal(value) if sql_type == "numeric" else value)
        return f"${len(self.args)}::{sql_type}"


def _filters(q: Query, sql: _Sql) -> str:
    where = ""
    if q.currency is not None:
        where += f" AND currency = {sql.param(q.currency, 'text')}"
    if q.has_overdue is not None:
        where += " AND overdue_count > 0" if q.has_overdue else " AND overdue_count = 0"
    return where


def _ascending(q: Query, forward: bool) -> bool:
    """The direction rows are read in: the list's order (or its reverse,
    reading back from a ``before`` cursor), reversed for a reversed sort."""
    first = SORTS[q.sort_by]
    shown = (q.sort_order == "ASC") == forward
    return shown != (first is not None and first.reversed)


def _keyset(q: Query, sql: _Sql, cursor: Cursor, forward: bool) -> str:
    keys = sort_keys(q.sort_by)
    op = (">" if _ascending(q, forward) else "<") + ("=" if cursor.inclusive else "")
    bound = ", ".join(sql.param(v, k.sql_type) for k, v in zip(keys, cursor.key, strict=True))
    return f" AND ({', '.join(k.column for k in keys)}) {op} ({bound})"


async def _read(
    conn: Connection, q: Query, source: str, cursor: Cursor | None, forward: bool, limit: int
) -> list[Standing]:
    sql = _Sql(q)
    where = _filters(q, sql) + ("" if cursor is None else _keyset(q, sql, cursor, forward))
    direction = "ASC" if _ascending(q, forward) else "DESC"
    order = ", ".join(f"{k.column} {direction}" for k in sort_keys(q.sort_by))
    query = PAGE.format(source=source, columns=COLUMNS, where=where, order=order, limit=sql.param(limit, "int"))
    return all_typed(Standing, await conn.fetch(query, *sql.args))


def _cursor(q: Query, row: Standing, inclusive: bool = False) -> str:
    key = tuple(getattr(row, k.column) for k in sort_keys(q.sort_by))
    return encode_cursor(Cursor(q.sort_by, q.sort_order, key, inclusive))


def _flip(cursor: Cursor) -> Cursor:
    """The complementary bound: the rows on the other side of the same row."""
    return Cursor(cursor.sort_by, cursor.sort_order, cursor.key, not cursor.inclusive)


async def source(conn: Connection, q: Query) -> str:
    """Where the page is read from (module docstring)."""
    if q.as_of:
        return AS_OF
    currency = _Sql(q)
    where = "" if q.currency is None else f" AND currency = {currency.param(q.currency, 'text')}"
    valid: bool = await conn.fetchval(ROWS_VALID.format(currency=where), *currency.args)
    return INDEXED if valid else RECOMPUTED


async def standing_page(conn: Connection, q: Query, found_in: str | None = None) -> StandingPage:
    """One page of the tenant's customers, the cursors of its neighbours (None
    at either end) and the size of the whole set. ``found_in``: a source of
    the same columns to read instead (the benchmark's baseline)."""
    found_in = found_in or await source(conn, q)
    forward = q.before is None
    cursor = q.after or q.before
    rows = await _read(conn, q, found_in, cursor, forward, q.limit + 1)
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    if not forward:
        rows.reverse()
    # The side we came from: is anything there (its row may have left the filter)?
    behind = cursor is not None and bool(await _read(conn, q, found_in, _flip(cursor), not forward, 1))
    has_next, has_previous = (more, behind) if forward else (behind, more)
    if rows:
        after = _cursor(q, rows[-1]) if has_next else None
        before = _cursor(q, rows[0]) if has_previous else None
    else:
        back = None if cursor is None else encode_cursor(_flip(cursor))
        after = back if has_next else None
        before = back if has_previous else None
    counting = _Sql(q)
    total: int = await conn.fetchval(COUNT.format(source=found_in, where=_filters(q, counting)), *counting.args)
    return StandingPage(items=rows, after=after, before=before, total=total)
