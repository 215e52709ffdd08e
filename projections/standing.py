"""Customer standing: one row per (tenant, currency, customer) with what the
collections view ranks by (GET /v1/customers; docs/figures.md#customers):
invoice count, revenue, receivable, overdue as of ``as_of_day`` with its
oldest due date, the latest payment and the customer's name.

The ranking needs one row per customer, so that each sort is one index scan,
but events are keyed by invoice, so one customer's invoices are folded by
workers owning different partitions, at the same time. Each transaction that
changes a customer's invoices therefore, as the last writes of its batch,

1. adds its changes to the customer's rows, in one ``INSERT … ON CONFLICT DO
   UPDATE`` that walks the keys in sorted order (it inserts a missing row and
   locks an existing one alike, until the commit that follows):
   - the sums (invoice count, revenue, receivable and overdue count and
     balance) by delta: a receivable change counts as overdue when its due
     date is before the batch's day, which is the row's ``as_of_day``
     whenever the delta is kept (below);
   - the latest payment as ``GREATEST``, the name as the one of the newest
     named invoice (its issue date and id are kept beside it to compare);
   - the oldest overdue due date and ``stale_from`` as ``LEAST`` of the stored
     one and the due dates a change makes receivable;
2. recomputes whole, in a later statement, the rows the deltas cannot keep
   exact: a row of another day (stale, or of a worker whose clock differs),
   and a row where a change empties the due date that is its oldest overdue
   one or its next one (``stale_from`` - 1): only the due dates themselves
   tell which is next. The recompute reads the per-partition sums
   (customer_totals, customer_receivable) and the invoice rows.

Exact under concurrent workers: the sums, the maxima and the minima that are
added are commutative and associative, and ``ON CONFLICT DO UPDATE`` applies
them to the newest committed version of the row (it waits for a writer that
holds it), so the order of the transactions does not matter. A recompute
runs while its transaction holds the row's lock; under READ COMMITTED its
statement sees every transaction that changed the customer before (each
holds the row's lock until its commit, and we hold it now), plus its own
writes; a transaction that changes the customer and has not committed yet
will take the lock after our commit and add its delta to the row we wrote,
which does not count it. Each change therefore reaches the row exactly once:
by its own delta or through a recompute that sees its commit.

No deadlock: the rows are the only rows two workers share (sums are sharded
by partition, invoices belong to one partition), every transaction locks them
in one statement in the same total order (the database's sort of the key),
and the day roll locks stale rows with SKIP LOCKED and holds nothing else.
A new row is not a hazard either: the same statement inserts it in key order,
so a second writer waits for it exactly as for an existing row's lock. A new
row holds the batch's deltas: a customer's row exists from the first
transaction that changed any of its invoices on (a rebuild writes every row;
verify reports a missing one).

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

import asyncpg

from projections import versions

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
# Which invoice the name is from (the newest named one: a later batch's
# invoice replaces it only if newer).
NAME_KEY_COLUMNS: tuple[str, ...] = ("name_issue_date", "name_invoice_id")

# The standing of a set of customers ({keys}: a query of (tenant_id,
# currency, customer_id); {day}: the day overdue is counted at), from the
# current sums and invoice rows of version {schema}; {name_key}: whether the
# name's invoice is a column too. The read API answers from it too when rows
# are stale.
_COMPUTED = """
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
       {day}::date AS as_of_day, o.stale_from{name_key}
FROM k
LEFT JOIN totals t USING (tenant_id, currency, customer_id)
LEFT JOIN overdue o USING (tenant_id, currency, customer_id)
CROSS JOIN LATERAL (
    -- The name on the customer's latest invoice that has one, and that
    -- invoice; the latest payment.
    SELECT named[1][1] AS customer_name, named[1][2]::date AS name_issue_date, named[1][3] AS name_invoice_id,
           last_paid_at
    FROM (
        SELECT (array_agg(ARRAY[customer_name, issue_date::text, invoice_id] ORDER BY issue_date DESC, invoice_id DESC)
                    FILTER (WHERE customer_name IS NOT NULL))[1:1] AS named,
               max(last_paid_at) AS last_paid_at
        FROM {schema}.invoices
        WHERE tenant_id = k.tenant_id AND customer_id = k.customer_id AND currency = k.currency
    ) n
) i
"""
COMPUTED = _COMPUTED.replace("{name_key}", "")
_NAMED = _COMPUTED.replace("{name_key}", ", " + ", ".join(f"i.{c}" for c in NAME_KEY_COLUMNS))
BATCH_KEYS = "SELECT * FROM unnest($2::text[], $3::text[], $4::text[]) AS k(tenant_id, currency, customer_id)"
_ALL = (*FIGURE_COLUMNS, "as_of_day", "stale_from", *NAME_KEY_COLUMNS)

# Step 1: the batch's changes added to the rows, in key order (new ones
# inserted); the keys whose rows need step 2. $1: the batch's day. From the
# batch's staged rows ({invoices}: its invoice rows, {changes}: its timeline
# rows, whose figures add up to the changes of the invoices' contributions),
# per key: the sums' deltas, the earliest due date the batch makes receivable
# before the day and on or after it (as the stale_from it gives), the
# earliest it empties (likewise), the latest payment, the newest named
# invoice. A due date's receivable change is net over the batch.
_SUMS = ("invoice_count", "revenue", "receivable_count", "receivable_balance", "overdue_count", "overdue_balance")
_NEWER_NAME = (
    "excluded.name_issue_date IS NOT NULL AND (s.name_issue_date IS NULL"
    " OR (excluded.name_issue_date, excluded.name_invoice_id) > (s.name_issue_date, s.name_invoice_id))"
)
_NAME_SET = ", ".join(
    f"{c} = CASE WHEN {_NEWER_NAME} THEN excluded.{c} ELSE s.{c} END" for c in ("customer_name", *NAME_KEY_COLUMNS)
)
_INSERTED = (
    "tenant_id",
    "currency",
    "customer_id",
    *_SUMS,
    "oldest_due_date",
    "stale_from",
    "last_paid_at",
    "customer_name",
    *NAME_KEY_COLUMNS,
)
_ADD = f"""
WITH dues AS (
    SELECT tenant_id, currency, customer_id, due_date, sum(invoice_count) AS invoice_count,
           sum(sent_gross) AS revenue, sum(receivable_count) AS n, sum(receivable_balance) AS balance
    FROM {{changes}} GROUP BY 1, 2, 3, 4
),
sums AS (
    SELECT tenant_id, currency, customer_id, sum(invoice_count) AS invoice_count, sum(revenue) AS revenue,
           sum(n) AS receivable_count, sum(balance) AS receivable_balance,
           coalesce(sum(n) FILTER (WHERE due_date < $1), 0) AS overdue_count,
           coalesce(sum(balance) FILTER (WHERE due_date < $1), 0) AS overdue_balance,
           coalesce(min(due_date) FILTER (WHERE due_date < $1 AND n > 0), 'infinity') AS oldest_due_date,
           min(due_date) FILTER (WHERE due_date >= $1 AND n > 0) + 1 AS stale_from,
           min(due_date) FILTER (WHERE due_date < $1 AND n < 0) AS oldest_emptied,
           min(due_date) FILTER (WHERE due_date >= $1 AND n < 0) + 1 AS stale_emptied
    FROM dues GROUP BY 1, 2, 3
),
paid AS (
    SELECT tenant_id, currency, customer_id, max(last_paid_at) AS last_paid_at FROM {{invoices}} GROUP BY 1, 2, 3
),
named AS (
    SELECT DISTINCT ON (tenant_id, currency, customer_id) tenant_id, currency, customer_id, customer_name,
           issue_date AS name_issue_date, invoice_id AS name_invoice_id
    FROM {{invoices}} WHERE customer_name IS NOT NULL
    ORDER BY tenant_id, currency, customer_id, issue_date DESC, invoice_id DESC
),
d AS (
    SELECT tenant_id, currency, customer_id,
           {", ".join(f"coalesce({c}, 0) AS {c}" for c in _SUMS)},
           coalesce(oldest_due_date, 'infinity') AS oldest_due_date, stale_from, oldest_emptied, stale_emptied,
           last_paid_at, customer_name, {", ".join(NAME_KEY_COLUMNS)}
    FROM paid LEFT JOIN sums USING (tenant_id, currency, customer_id)
    LEFT JOIN named USING (tenant_id, currency, customer_id)
),
u AS (
    INSERT INTO {{schema}}.customer_standing AS s ({", ".join(_INSERTED)}, as_of_day)
    SELECT {", ".join(_INSERTED)}, $1::date FROM d ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, currency, customer_id) DO UPDATE SET
        {", ".join(f"{c} = s.{c} + excluded.{c}" for c in _SUMS)},
        oldest_due_date = LEAST(s.oldest_due_date, excluded.oldest_due_date),
        stale_from = LEAST(s.stale_from, excluded.stale_from),
        last_paid_at = GREATEST(s.last_paid_at, excluded.last_paid_at),
        {_NAME_SET}
    RETURNING tenant_id, currency, customer_id, oldest_due_date, stale_from, as_of_day
)
SELECT u.tenant_id, u.currency, u.customer_id FROM u JOIN d USING (tenant_id, currency, customer_id)
WHERE u.as_of_day <> $1 OR d.oldest_emptied <= u.oldest_due_date
   OR d.stale_emptied <= coalesce(u.stale_from, 'infinity')
ORDER BY 1, 2, 3
"""
# Step 2: rows recomputed (locked by this transaction).
RECOMPUTE = (
    "UPDATE {schema}.customer_standing s SET "
    + ", ".join(f"{c} = c.{c}" for c in _ALL)
    + " FROM ("
    + _NAMED.replace("{keys}", BATCH_KEYS).replace("{day}", "$1")
    + ") c WHERE (s.tenant_id, s.currency, s.customer_id) = (c.tenant_id, c.currency, c.customer_id)"
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


def _arrays(keys: list[StandingKey]) -> list[list[str]]:
    return [[k[i] for k in keys] for i in range(3)]


async def recompute(conn: asyncpg.Connection, schema: str, keys: list[StandingKey], day: dt.date) -> None:
    """Recompute these customers' rows as of ``day`` (rows already locked, in
    a transaction)."""
    if keys:
        await conn.execute(RECOMPUTE.replace("{schema}", schema), day, *_arrays(keys))


async def refresh(
    conn: asyncpg.Connection, schema: str, invoices: str, changes: str, day: dt.date | None = None
) -> None:
    """Add a batch's changes to its customers' standing rows, recomputing
    those the deltas cannot keep; the batch's last writes (module docstring).
    ``invoices`` and ``changes``: the tables its invoice rows and timeline rows
    are staged in. Call inside its transaction."""
    day = day or today()
    sql = _ADD.replace("{schema}", schema).replace("{invoices}", invoices).replace("{changes}", changes)
    stale = [(r["tenant_id"], r["currency"], r["customer_id"]) for r in await conn.fetch(sql, day)]
    await recompute(conn, schema, stale, day)


async def rebuild(conn: asyncpg.Connection, schema: str, day: dt.date | None = None) -> None:
    """Every row of an empty table (a replay's bulk phase, which writes no
    rows of its own), added as by one batch holding every invoice: grouped
    from the version's invoice and timeline rows in one pass, where a
    recompute per customer would look up each one's invoices."""
    await refresh(conn, schema, f"{schema}.invoices", f"{schema}.invoice_changes", day)


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
