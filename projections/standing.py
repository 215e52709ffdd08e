"""Customer standing: one row per (tenant, currency, customer) with what the
collections view ranks by (GET /v1/customers; docs/figures.md#customers):
invoice count, revenue, receivable, overdue as of ``as_of_day`` with its
oldest due date, the latest payment and the customer's name.

Why it is recomputed rather than added to: the ranking needs one row per
customer, so that each sort is one index scan, but events are keyed by
invoice, so one customer's invoices are folded by workers owning different
partitions, at the same time. Deltas added to one shared row would be exact
(additions commute) but overdue cannot be a delta: it moves with the date.
So each transaction that changes a customer's invoices

1. locks the customer's standing rows, inserting the missing ones, in one
   statement that walks the keys in sorted order (``INSERT … ON CONFLICT DO
   UPDATE`` locks an existing row and a new row alike), as the last writes of
   the batch (the locks are held only until the commit that follows);
2. in a later statement recomputes the rows whole from the per-partition sums
   (customer_totals, customer_receivable) and the invoice rows.

Exact under concurrent workers: every writer of a customer's sums or invoices
takes the customer's row lock before it commits. Under READ COMMITTED each
statement sees everything committed before it started, so the recompute
(run while holding the lock) sees every transaction that locked the row before
(they committed to release it) plus its own writes; a transaction that changes
the customer's sums and has not committed yet will take the lock after us and
recompute after our commit, seeing ours. The last one to hold the lock
therefore writes the row from every committed change.

No deadlock: the rows are the only rows two workers share (sums are sharded
by partition, invoices belong to one partition), every transaction locks them
in one statement in the same total order (the database's sort of the key),
and the day roll locks stale rows with SKIP LOCKED and holds nothing else.
A new row is not a hazard either: the same statement inserts it in key order,
so a second writer waits for it exactly as for an existing row's lock.

Overdue is stored as of ``as_of_day`` and stays right until ``stale_from``,
the day after the earliest due date on or after ``as_of_day`` among the
customer's receivable balances (that day the balance becomes overdue). The
workers' day roll (services/worker/day_roll.py) recomputes rows whose
``stale_from`` has come; a read answers from the rows only when none of the
tenant's rows is stale (projections never serve a wrong overdue figure) and
otherwise recomputes the same figures at request time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import asyncpg

from projections import versions
from projections.invoice import InvoiceState

StandingKey = tuple[str, str, str]  # (tenant_id, currency, customer_id)

# "No overdue invoice": the oldest overdue due date of such rows, which sorts
# them after every overdue one (infinity is a PostgreSQL date; asyncpg reads
# it as date.max).
NO_OVERDUE = dt.date.max

# The standing columns computed from the figures, in table order.
FIGURE_COLUMNS: tuple[str, ...] = (
    "customer_name",
    "invoice_count",
    "revenue",
    "receivable_count",
    "receivable_balance",
    "overdue_count",
    "overdue_balance",
    "oldest_due_date",
    "last_paid_at",
)

# The standing of a set of customers ({keys}: a query of (tenant_id,
# currency, customer_id); {day}: the day overdue is counted at), from the
# current sums and invoice rows of version {schema}. The read API answers
# from it too when rows are stale.
COMPUTED = """
WITH k AS ({keys}),
totals AS (
    SELECT t.tenant_id, t.currency, t.customer_id, sum(t.invoice_count) AS invoice_count,
           sum(t.sent_gross) AS revenue, sum(t.receivable_count) AS receivable_count,
           sum(t.receivable_balance) AS receivable_balance
    FROM {schema}.customer_totals t JOIN k USING (tenant_id, currency, customer_id)
    GROUP BY 1, 2, 3
),
dues AS (
    SELECT r.tenant_id, r.currency, r.customer_id, r.due_date,
           sum(r.receivable_count) AS n, sum(r.receivable_balance) AS balance
    FROM {schema}.customer_receivable r JOIN k USING (tenant_id, currency, customer_id)
    GROUP BY 1, 2, 3, 4 HAVING sum(r.receivable_count) <> 0
),
overdue AS (
    SELECT tenant_id, currency, customer_id,
           sum(n) FILTER (WHERE due_date < {day}) AS overdue_count,
           sum(balance) FILTER (WHERE due_date < {day}) AS overdue_balance,
           min(due_date) FILTER (WHERE due_date < {day}) AS oldest_due_date,
           min(due_date) FILTER (WHERE due_date >= {day}) + 1 AS stale_from
    FROM dues GROUP BY 1, 2, 3
)
SELECT k.tenant_id, k.currency, k.customer_id, i.customer_name,
       coalesce(t.invoice_count, 0) AS invoice_count, coalesce(t.revenue, 0) AS revenue,
       coalesce(t.receivable_count, 0) AS receivable_count, coalesce(t.receivable_balance, 0) AS receivable_balance,
       coalesce(o.overdue_count, 0) AS overdue_count, coalesce(o.overdue_balance, 0) AS overdue_balance,
       coalesce(o.oldest_due_date, 'infinity') AS oldest_due_date, i.last_paid_at,
       {day}::date AS as_of_day, o.stale_from
FROM k
LEFT JOIN totals t USING (tenant_id, currency, customer_id)
LEFT JOIN overdue o USING (tenant_id, currency, customer_id)
CROSS JOIN LATERAL (
    -- The name on the customer's latest invoice that has one; the latest payment.
    SELECT (array_agg(customer_name ORDER BY issue_date DESC, invoice_id DESC)
                FILTER (WHERE customer_name IS NOT NULL))[1] AS customer_name,
           max(last_paid_at) AS last_paid_at
    FROM {schema}.invoices
    WHERE tenant_id = k.tenant_id AND customer_id = k.customer_id AND currency = k.currency
) i
"""
BATCH_KEYS = "SELECT * FROM unnest($2::text[], $3::text[], $4::text[]) AS k(tenant_id, currency, customer_id)"
EVERY_KEY = "SELECT DISTINCT tenant_id, currency, customer_id FROM {schema}.customer_totals"

# Step 1: the rows of the keys, locked in key order (new ones inserted).
LOCK = """
INSERT INTO {schema}.customer_standing AS s (tenant_id, currency, customer_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ORDER BY 1, 2, 3
ON CONFLICT (tenant_id, currency, customer_id) DO UPDATE SET as_of_day = s.as_of_day
"""
_SET = ", ".join(f"{c} = c.{c}" for c in (*FIGURE_COLUMNS, "as_of_day", "stale_from"))
# Step 2: the locked rows recomputed.
RECOMPUTE = (
    "UPDATE {schema}.customer_standing s SET "
    + _SET
    + " FROM ("
    + COMPUTED.replace("{keys}", BATCH_KEYS).replace("{day}", "$1")
    + ") c WHERE (s.tenant_id, s.currency, s.customer_id) = (c.tenant_id, c.currency, c.customer_id)"
)
# Rebuild: every row at once, into an empty table.
REBUILD = (
    "INSERT INTO {schema}.customer_standing (tenant_id, currency, customer_id, "
    + ", ".join((*FIGURE_COLUMNS, "as_of_day", "stale_from"))
    + ") "
    + COMPUTED.replace("{keys}", EVERY_KEY).replace("{day}", "$1")
)
# The day roll's share: stale rows no other transaction holds, in key order.
STALE = """
SELECT tenant_id, currency, customer_id FROM {schema}.customer_standing
WHERE stale_from <= $1
ORDER BY tenant_id, currency, customer_id
LIMIT $2
FOR UPDATE SKIP LOCKED
"""


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def changed_keys(invoices: Iterable[InvoiceState]) -> list[StandingKey]:
    """The standing rows a batch's invoices touch."""
    return sorted({(s.tenant_id, s.currency, s.customer_id) for s in invoices})


def _arrays(keys: list[StandingKey]) -> list[list[str]]:
    return [[k[i] for k in keys] for i in range(3)]


async def recompute(conn: asyncpg.Connection, schema: str, keys: list[StandingKey], day: dt.date) -> None:
    """Recompute these customers' rows as of ``day`` (rows already locked, in
    a transaction)."""
    if keys:
        await conn.execute(RECOMPUTE.replace("{schema}", schema), day, *_arrays(keys))


async def refresh(
    conn: asyncpg.Connection, schema: str, invoices: Iterable[InvoiceState], day: dt.date | None = None
) -> None:
    """Lock, then recompute, the standing of the customers of these invoices;
    the batch's last writes (module docstring). Call inside its transaction."""
    keys = changed_keys(invoices)
    if not keys:
        return
    await conn.execute(LOCK.replace("{schema}", schema), *_arrays(keys))
    await recompute(conn, schema, keys, day or today())


async def rebuild(conn: asyncpg.Connection, schema: str, day: dt.date | None = None) -> None:
    """Every row of an empty table from the version's sums (a replay's bulk
    phase, which writes no rows of its own)."""
    await conn.execute(REBUILD.replace("{schema}", schema), day or today())


async def roll(conn: asyncpg.Connection, day: dt.date, limit: int = 2000) -> int:
    """Recompute up to ``limit`` rows of the active version whose overdue
    figures are stale on ``day``, in one transaction; how many."""
    async with conn.transaction():
        await versions.lock_shared(conn)
        schema = (await versions.active(conn)).schema_name
        rows = await conn.fetch(STALE.replace("{schema}", schema), day, limit)
        keys = [(r["tenant_id"], r["currency"], r["customer_id"]) for r in rows]
        await recompute(conn, schema, keys, day)
    return len(keys)
