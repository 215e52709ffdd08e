"""The API's SQL, as named constants. Every query is scoped by tenant ($1) and
reads the active projection version through the billing_read views.

Filtered queries are composed from the fragments below: ``{where}`` takes
``" AND <fragment> AND …"`` and each fragment's ``{}`` a numbered parameter
(``$3``). User input only ever travels as a parameter value.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from projections.figures import RECEIVABLE, TOTALS, is_count


def _sum(column: str) -> str:
    return f"sum({column})::{'bigint' if is_count(column) else 'numeric'} AS {column}"


# Summary tables ---------------------------------------------------------------

CURRENCY_TOTALS = """
SELECT currency, sum(invoice_count)::bigint AS invoice_count, sum(gross_total) AS gross_total
FROM billing_read.currency_totals
WHERE tenant_id = $1
GROUP BY currency
HAVING sum(invoice_count) > 0
ORDER BY currency
"""

# Every summary figure per currency (shards summed).
CURRENCY_SUMMARY = f"""
SELECT currency, {", ".join(_sum(c) for c in TOTALS)}
FROM billing_read.currency_totals
WHERE tenant_id = $1
GROUP BY currency
HAVING sum(invoice_count) > 0
ORDER BY currency
"""

CUSTOMER_SUMMARY = f"""
SELECT currency, {", ".join(_sum(c) for c in TOTALS)}
FROM billing_read.customer_totals
WHERE tenant_id = $1 AND customer_id = $2
GROUP BY currency
HAVING sum(invoice_count) > 0
ORDER BY currency
"""

# Overdue as of $2 (receivable with due_date < $2) and its aging by days past
# due (= $2 - due_date): 1-30, 31-60, 61-90, over 90. Only the due dates from
# 90 days before $2 on are read: overdue is the receivable total minus what is
# not due yet, and "over 90" is overdue minus the three recent buckets, so the
# work does not grow with the length of the history.
_RECENT = "coalesce(sum({column}) FILTER (WHERE {condition}), 0)::{kind}"
_BUCKETS = (
    ("not_due", "due_date >= $2::date"),
    ("aged_1_30", "due_date >= $2::date - 30 AND due_date < $2::date"),
    ("aged_31_60", "due_date >= $2::date - 60 AND due_date < $2::date - 30"),
    ("aged_61_90", "due_date >= $2::date - 90 AND due_date < $2::date - 60"),
)


def _recent_sums() -> str:
    return (
        ",\n           ".join(
            _RECENT.format(column=c, condition=condition, kind="bigint" if is_count(c) else "numeric")
            + f" AS {name}_{c}"
            for name, condition in _BUCKETS
            for c in ("receivable_count", "receivable_balance")
        )
        + ",\n           "
        + ",\n           ".join(
            _RECENT.format(column=c, condition="due_date >= $2::date", kind="numeric") + f" AS not_due_{c}"
            for c in RECEIVABLE
            if c not in ("receivable_count", "receivable_balance")
        )
    )


_OVERDUE = """
WITH totals AS (
    SELECT currency, {totals}
    FROM billing_read.{totals_table}
    WHERE tenant_id = $1{customer}
    GROUP BY currency
), recent AS (
    SELECT currency,
           {recent}
    FROM billing_read.{receivable_table}
    WHERE tenant_id = $1{customer} AND due_date >= $2::date - 90
    GROUP BY currency
), overdue AS (
    SELECT t.currency, {overdue},
           coalesce(r.aged_1_30_receivable_count, 0) AS aged_1_30_count,
           coalesce(r.aged_1_30_receivable_balance, 0) AS aged_1_30_balance,
           coalesce(r.aged_31_60_receivable_count, 0) AS aged_31_60_count,
           coalesce(r.aged_31_60_receivable_balance, 0) AS aged_31_60_balance,
           coalesce(r.aged_61_90_receivable_count, 0) AS aged_61_90_count,
           coalesce(r.aged_61_90_receivable_balance, 0) AS aged_61_90_balance
    FROM totals t LEFT JOIN recent r USING (currency)
)
SELECT *,
       receivable_count - aged_1_30_count - aged_31_60_count - aged_61_90_count AS aged_over_90_count,
       receivable_balance - aged_1_30_balance - aged_31_60_balance - aged_61_90_balance AS aged_over_90_balance
FROM overdue
WHERE receivable_count > 0
ORDER BY currency
"""


def _overdue(totals_table: str, receivable_table: str, customer: str) -> str:
    return _OVERDUE.format(
        totals=", ".join(_sum(c) for c in RECEIVABLE),
        recent=_recent_sums(),
        overdue=", ".join(f"t.{c} - coalesce(r.not_due_{c}, 0) AS {c}" for c in RECEIVABLE),
        totals_table=totals_table,
        receivable_table=receivable_table,
        customer=customer,
    )


CURRENCY_OVERDUE = _overdue("currency_totals", "currency_receivable", "")
CUSTOMER_OVERDUE = _overdue("customer_totals", "customer_receivable", " AND customer_id = $3")

# First/latest issue date, latest accounting date and the latest payment of
# SENT invoices, per currency and per kind of lines (has recurring lines, has
# one-time lines). Each cell is one probe of a partial index (schema.sql), so
# the cost does not grow with the number of invoices.
_PROBE = """
    SELECT {columns} FROM billing_read.invoices i
    WHERE i.tenant_id = $1 AND i.currency = g.currency AND i.status = 'SENT'
      AND (i.recurring_gross > 0) = g.recurring AND (i.one_time_gross > 0) = g.one_time{extra}
    ORDER BY {order} LIMIT 1
"""
SENT_DATES_BY_KIND = f"""
WITH groups AS (
    SELECT t.currency, k.recurring, k.one_time
    FROM (SELECT currency FROM billing_read.currency_totals WHERE tenant_id = $1
          GROUP BY currency HAVING sum(sent_count) > 0) t
    CROSS JOIN (VALUES (false, false), (true, false), (false, true), (true, true))
        AS k(recurring, one_time)
)
SELECT g.currency, g.recurring, g.one_time,
       f.issue_date AS first_issue_date, l.issue_date AS latest_issue_date,
       a.accounting_date AS latest_accounting_date,
       p.last_paid_at, p.last_payment_amount, p.invoice_id AS last_paid_invoice_id
FROM groups g
LEFT JOIN LATERAL ({_PROBE.format(columns="i.issue_date", extra="", order="i.issue_date")}) f ON true
LEFT JOIN LATERAL ({_PROBE.format(columns="i.issue_date", extra="", order="i.issue_date DESC")}) l ON true
LEFT JOIN LATERAL ({_PROBE.format(columns="i.accounting_date", extra="", order="i.accounting_date DESC")}) a ON true
LEFT JOIN LATERAL ({
    _PROBE.format(
        columns="i.last_paid_at, i.last_payment_amount, i.invoice_id",
        extra=" AND i.last_paid_at IS NOT NULL",
        order="i.last_paid_at DESC, i.invoice_id DESC",
    )
}) p ON true
WHERE f.issue_date IS NOT NULL
ORDER BY g.currency, g.recurring, g.one_time
"""

# The same for one customer: an aggregate over the customer's SENT invoices
# (found through the customer index).
CUSTOMER_SENT_DATES = """
SELECT d.currency, d.first_issue_date, d.latest_issue_date, d.latest_accounting_date,
       p.last_paid_at, p.last_payment_amount, p.invoice_id AS last_paid_invoice_id
FROM (
    SELECT currency, min(issue_date) AS first_issue_date, max(issue_date) AS latest_issue_date,
           max(accounting_date) AS latest_accounting_date
    FROM billing_read.invoices
    WHERE tenant_id = $1 AND customer_id = $2 AND status = 'SENT'
    GROUP BY currency
) d
LEFT JOIN LATERAL (
    SELECT i.last_paid_at, i.last_payment_amount, i.invoice_id FROM billing_read.invoices i
    WHERE i.tenant_id = $1 AND i.customer_id = $2 AND i.currency = d.currency
      AND i.status = 'SENT' AND i.last_paid_at IS NOT NULL
    ORDER BY i.last_paid_at DESC, i.invoice_id DESC LIMIT 1
) p ON true
ORDER BY d.currency
"""

# Flexprice's customer summary in one round trip ($1 tenant, $2 overdue
# cut-off, $3 customer): the currency of the customer's latest invoice (issue
# date, then creation time, then invoice id) on every row, then per currency
# the SENT totals, the receivable and the overdue receivable (the receivable
# rows due before $2). No row: the tenant has no invoice for the customer.
# Kept this plain on purpose: planning CUSTOMER_OVERDUE took four times as
# long as running it.
CUSTOMER_INVOICE_SUMMARY = """
SELECT d.currency AS default_currency, t.currency, t.sent_count, t.sent_gross,
       t.receivable_count, t.receivable_balance, t.receivable_usage, t.receivable_fixed,
       coalesce(o.overdue_count, 0) AS overdue_count, coalesce(o.overdue_balance, 0) AS overdue_balance
FROM (
    SELECT currency FROM billing_read.invoices
    WHERE tenant_id = $1 AND customer_id = $3
    ORDER BY issue_date DESC, created_at DESC NULLS LAST, invoice_id DESC
    LIMIT 1
) d
LEFT JOIN (
    SELECT currency, sum(sent_count)::bigint AS sent_count, sum(sent_gross) AS sent_gross,
           sum(receivable_count)::bigint AS receivable_count, sum(receivable_balance) AS receivable_balance,
           sum(receivable_usage) AS receivable_usage, sum(receivable_fixed) AS receivable_fixed
    FROM billing_read.customer_totals
    WHERE tenant_id = $1 AND customer_id = $3
    GROUP BY currency
    HAVING sum(invoice_count) > 0
) t ON true
LEFT JOIN (
    SELECT currency, sum(receivable_count)::bigint AS overdue_count, sum(receivable_balance) AS overdue_balance
    FROM billing_read.customer_receivable
    WHERE tenant_id = $1 AND customer_id = $3 AND due_date < $2::date
    GROUP BY currency
) o ON o.currency = t.currency
ORDER BY t.currency
"""

# Invoices -------------------------------------------------------------------------

INVOICE_FIELDS = """invoice_id, invoice_number, customer_id, customer_name, currency,
       issue_date, due_date, accounting_date, billing_period_start, billing_period_end,
       billing_schedule_id, series_id, document_type, net, tax, gross, usage_gross,
       fixed_gross, recurring_gross, one_time_gross, quantity_is_zero, status,
       payment_status, amount_paid, balance, overpaid, balance_usage, balance_fixed,
       balance_recurring, balance_one_time, payment_count, last_paid_at,
       last_payment_amount, sent_at, sent_date, voided_at, void_reason, event_ids,
       payment_ids, created_at, updated_at"""

ONE_INVOICE = f"""
SELECT {INVOICE_FIELDS} FROM billing_read.invoices WHERE tenant_id = $1 AND invoice_id = $2
"""

# The tenant's number of invoices, from the summary table (no filter).
INVOICE_COUNT = """
SELECT coalesce(sum(invoice_count), 0)::bigint FROM billing_read.currency_totals WHERE tenant_id = $1
"""

# {where}: filter fragments; {keyset}: a keyset bound; {order}: a sort.
FILTERED_TOTALS = """
SELECT currency, count(*)::bigint AS invoice_count, sum(gross) AS gross_total
FROM billing_read.invoices
WHERE tenant_id = $1{where}
GROUP BY currency
ORDER BY currency
"""
FILTERED_COUNT = "SELECT count(*)::bigint FROM billing_read.invoices WHERE tenant_id = $1{where}"
INVOICE_PAGE = (
    "SELECT " + INVOICE_FIELDS + "\nFROM billing_read.invoices\n"
    "WHERE tenant_id = $1{where}{keyset}\nORDER BY {order}\nLIMIT {limit}"
)
INVOICE_EXISTS = "SELECT EXISTS (SELECT 1 FROM billing_read.invoices WHERE tenant_id = $1{where}{keyset})"

# Filter fragments.
F_STATUS = "status = ANY({}::text[])"
F_NOT_STATUS = "NOT (status = ANY({}::text[]))"
F_PAYMENT_STATUS = "payment_status = ANY({}::text[])"
F_NOT_PAYMENT_STATUS = "NOT (payment_status = ANY({}::text[]))"
F_CUSTOMER = "customer_id = {}::text"
F_NOT_CUSTOMER = "customer_id <> {}::text"
F_SCHEDULE = "billing_schedule_id = {}::text"
F_NOT_SCHEDULE = "billing_schedule_id IS DISTINCT FROM {}::text"
F_SERIES = "series_id = {}::text"
F_DOCUMENT_TYPE = "document_type = {}::text"
F_DUE_BEFORE = "due_date < {}::date"
F_DUE_AFTER = "due_date >= {}::date"
F_SENT_BEFORE = "sent_date < {}::date"
F_SENT_AFTER = "sent_date >= {}::date"
F_ISSUED_BEFORE = "issue_date < {}::date"
F_ISSUED_AFTER = "issue_date >= {}::date"
F_NONZERO_QUANTITY = "NOT quantity_is_zero"
F_CURRENCY = "currency = ANY({}::text[])"
F_NOT_CURRENCY = "NOT (currency = ANY({}::text[]))"
F_ONE_CURRENCY = "currency = {}::text"
F_SEARCH = "invoice_number ILIKE {}::text ESCAPE '\\'"
F_NOT_SEARCH = "invoice_number NOT ILIKE {}::text ESCAPE '\\'"
F_NUMBER = "invoice_number = {}::text"
F_NOT_NUMBER = "invoice_number <> {}::text"
F_PAID = "payment_status = 'PAID'"
F_NOT_PAID = "payment_status <> 'PAID'"
# Net total in minor units, for the currencies of one exponent.
F_NET_IN = "(currency = ANY({}::text[]) AND net = {}::bigint)"
F_NOTHING = "false"


class SortColumn(NamedTuple):
    column: str  # the value kept in cursors
    expression: str  # what is sorted ({} = the column or a parameter)
    type: Any  # its Python type in a cursor
    sql_type: str


def _plain(column: str, kind: type, sql_type: str) -> SortColumn:
    return SortColumn(column, "{}", kind, sql_type)


_NUMBER = _plain("invoice_number", str, "text")
_ID = _plain("invoice_id", str, "text")
# Sort keys of invoice lists: each ends with the invoice id, so the order is
# total and keyset pagination never skips or repeats an item.
SORTS: dict[str, tuple[SortColumn, ...]] = {
    "issueDate": (_plain("issue_date", dt.date, "date"), _NUMBER, _ID),
    "dueDate": (_plain("due_date", dt.date, "date"), _NUMBER, _ID),
    "accountingDate": (_plain("accounting_date", dt.date, "date"), _NUMBER, _ID),
    # Never-sent invoices sort as if sent at the end of time.
    "sentDate": (
        SortColumn("sent_date", "coalesce({}, 'infinity'::date)", dt.date | None, "date"),
        _NUMBER,
        _ID,
    ),
    "invoiceNumber": (_NUMBER, _ID),
    # Minor units: mixed currencies order by their numbers (fine for browsing).
    "grossTotal": (_plain("gross", int, "bigint"), _NUMBER, _ID),
}
DEFAULT_SORT = "issueDate"

# Contazen's totals: SENT invoices issued in [$2, $3], per currency.
PERIOD_TOTALS = """
SELECT currency,
       sum(gross) AS total_amount,
       sum(least(amount_paid, gross)) AS total_paid,
       sum(balance) AS total_unpaid,
       sum(tax) AS total_vat,
       count(*)::bigint AS invoice_count,
       count(*) FILTER (WHERE payment_status = 'PAID')::bigint AS paid_count,
       count(*) FILTER (WHERE payment_status <> 'PAID')::bigint AS unpaid_count
FROM billing_read.invoices
WHERE tenant_id = $1 AND status = 'SENT' AND issue_date >= $2::date AND issue_date <= $3::date{where}
GROUP BY currency
ORDER BY currency
"""

# FX rates into a reporting currency ($1) for some currencies ($2).
FX_RATES_INTO = """
SELECT base, rate, as_of FROM billing.fx_rates WHERE quote = $1 AND base = ANY($2::text[]) ORDER BY base
"""
